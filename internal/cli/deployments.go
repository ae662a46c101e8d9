package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// DefaultPollInterval is how often DeploymentsWatch reads the deployment.
const DefaultPollInterval = 250 * time.Millisecond

// IsTerminal reports whether w is a terminal, where DeploymentsWatch
// rewrites one progress line instead of printing a line per change.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// DeploymentsList lists deployments, newest first.
func (o *Operator) DeploymentsList(ctx context.Context, opts client.DeploymentListOptions) error {
	items, err := o.Client.ListDeployments(ctx, opts)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(apitypes.DeploymentList{Items: items})
	}
	rows := [][]string{{"ID", "ENDPOINT", "FROM", "TO", "STRATEGY", "PHASE", "STEP", "SOURCE", "ACTOR", "CREATED"}}
	for _, d := range items {
		rows = append(rows, []string{d.ID, d.Endpoint, d.FromVersion, d.ToVersion, d.Strategy, d.Phase, step(d.Step), d.Source, d.Actor, when(d.CreatedAt)})
	}
	return o.table(rows)
}

// DeploymentsGet shows one deployment and its events.
func (o *Operator) DeploymentsGet(ctx context.Context, id string) error {
	d, err := o.Client.GetDeployment(ctx, id)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(d)
	}
	policy := ""
	if d.Policy != nil {
		policy = d.Policy.Name
	}
	objective := ""
	if d.LeadTimeObjectiveMet != nil {
		objective = strconv.FormatBool(*d.LeadTimeObjectiveMet)
	}
	finished := ""
	if d.FinishedAt != nil {
		finished = when(*d.FinishedAt)
	}
	if err := o.table([][]string{
		{"ID", d.ID},
		{"Endpoint", fmt.Sprintf("%s (revision %d)", d.Endpoint, d.EndpointRevision)},
		{"From", d.FromVersion},
		{"To", d.ToVersion},
		{"Target split", weights(d.TargetSplit)},
		{"Strategy", d.Strategy},
		{"Policy", policy},
		{"Phase", d.Phase},
		{"Step", step(d.Step)},
		{"Traffic", weights(d.Traffic)},
		{"Reason", d.Reason},
		{"Actor", d.Actor},
		{"Source", d.Source},
		{"Created", when(d.CreatedAt)},
		{"Finished", finished},
		{"Lead time objective met", objective},
	}); err != nil {
		return err
	}
	fmt.Fprintln(o.Out)
	rows := [][]string{{"TIME", "PHASE", "STEP", "MESSAGE", "GATE"}}
	for _, e := range d.Events {
		rows = append(rows, []string{when(e.Time), e.Phase, step(e.Step), e.Message, gate(e.Metrics)})
	}
	return o.table(rows)
}

// DeploymentsPromote asks the rollout engine to promote a deployment that
// awaits approval.
func (o *Operator) DeploymentsPromote(ctx context.Context, id string) error {
	d, err := o.Client.PromoteDeployment(ctx, id)
	return o.commanded(d, err, "promote")
}

// DeploymentsAbort asks the rollout engine to stop a deployment and put
// traffic back.
func (o *Operator) DeploymentsAbort(ctx context.Context, id string) error {
	d, err := o.Client.AbortDeployment(ctx, id)
	return o.commanded(d, err, "abort")
}

func (o *Operator) commanded(d *apitypes.Deployment, err error, command string) error {
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(d)
	}
	fmt.Fprintf(o.Out, "asked the rollout engine to %s deployment %s (phase %s); follow it with: slipway deployments watch %s\n", command, d.ID, d.Phase, d.ID)
	return nil
}

// DeploymentEndedError is DeploymentsWatch's error when the deployment
// ends in any phase but succeeded.
type DeploymentEndedError struct{ Deployment apitypes.Deployment }

func (e *DeploymentEndedError) Error() string {
	d := e.Deployment
	reason := d.Reason
	if reason == "" {
		reason = "no reason recorded"
	}
	return fmt.Sprintf("deployment %s of endpoint %s %s: %s", d.ID, d.Endpoint, strings.ReplaceAll(d.Phase, "_", " "), reason)
}

// DeploymentsWatch follows a deployment, given by ID or as an endpoint name
// (its newest deployment), until it ends. On a terminal it rewrites one
// progress line; otherwise it prints a line per change (-o json: the
// deployment as one JSON line per change). It returns nil when the
// deployment succeeded and a *DeploymentEndedError naming the reason when
// it rolled back, failed or was aborted.
func (o *Operator) DeploymentsWatch(ctx context.Context, ref string) error {
	d, err := o.resolveDeployment(ctx, ref)
	if err != nil {
		return err
	}
	interval := o.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	rewriting := o.TTY && !o.JSON
	last := ""
	// endLine finishes the rewritten line, so whatever follows starts on
	// a line of its own.
	endLine := func() {
		if rewriting && last != "" {
			fmt.Fprintln(o.Out)
		}
	}
	for {
		line := progressLine(d)
		if o.JSON {
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			line = string(b)
		}
		if line != last {
			if rewriting {
				fmt.Fprint(o.Out, "\r\033[K"+line) // \033[K clears what a longer line left behind
			} else {
				fmt.Fprintln(o.Out, line)
			}
			last = line
		}
		if apitypes.DeploymentTerminal(d.Phase) {
			endLine()
			if d.Phase == apitypes.DeploySucceeded {
				return nil
			}
			return &DeploymentEndedError{Deployment: *d}
		}
		select {
		case <-ctx.Done():
			endLine()
			return ctx.Err()
		case <-tick.C:
		}
		if d, err = o.Client.GetDeployment(ctx, d.ID); err != nil {
			endLine()
			return err
		}
	}
}

// resolveDeployment reads the deployment with ID ref or, failing that, the
// newest deployment of the endpoint named ref.
func (o *Operator) resolveDeployment(ctx context.Context, ref string) (*apitypes.Deployment, error) {
	d, err := o.Client.GetDeployment(ctx, ref)
	if err == nil {
		return d, nil
	}
	if !apitypes.IsNotFound(err) || !apitypes.EndpointNamePattern.MatchString(ref) {
		return nil, err
	}
	items, lerr := o.Client.ListDeployments(ctx, client.DeploymentListOptions{Endpoint: ref, Limit: 1})
	if lerr != nil {
		return nil, lerr
	}
	if len(items) == 0 {
		return nil, apitypes.Errorf(apitypes.CodeNotFound, "%q is neither a deployment ID nor an endpoint with deployments", ref)
	}
	return &items[0], nil
}

// progressLine is one line on where a deployment stands: phase and step,
// the traffic it routes, and the numbers of its last gate.
func progressLine(d *apitypes.Deployment) string {
	phase := d.Phase
	if d.Step > 0 {
		phase += " step " + strconv.Itoa(d.Step)
	}
	parts := []string{
		fmt.Sprintf("%s %s: %s → %s", d.ID, d.Endpoint, orDash(d.FromVersion), d.ToVersion),
		phase,
		"traffic " + orDash(weights(d.Traffic)),
	}
	for i := len(d.Events) - 1; i >= 0; i-- {
		if m := d.Events[i].Metrics; m != nil {
			parts = append(parts, "gate "+gate(m))
			break
		}
	}
	if d.Reason != "" {
		parts = append(parts, d.Reason)
	}
	return strings.Join(parts, " | ")
}

// gate summarises one analysis: "pass: 1200 requests, 0.10% errors, p99 42ms".
func gate(m *apitypes.GateMetrics) string {
	if m == nil {
		return ""
	}
	s := fmt.Sprintf("%s: %d requests, %.2f%% errors", m.Verdict, m.Requests, 100*m.ErrorRate)
	if m.LatencyP99 != "" {
		s += ", p99 " + m.LatencyP99
	}
	if m.BaselineP99 != "" {
		s += " (baseline " + m.BaselineP99 + ")"
	}
	if m.Synthetic {
		s += ", synthetic"
	}
	return s
}

// Measures shows the delivery key measures of one endpoint or of all.
func (o *Operator) Measures(ctx context.Context, endpoint string) error {
	m, err := o.Client.KeyMeasures(ctx, endpoint)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(m)
	}
	scope := m.Endpoint
	if scope == "" {
		scope = "all endpoints"
	}
	return o.table([][]string{
		{"Endpoint", scope},
		{"Window", fmt.Sprintf("last %d days", m.WindowDays)},
		{"Deployments", strconv.Itoa(m.Deployments)},
		{"Frequency", fmt.Sprintf("%.2f per day", m.DeploymentsPerDay)},
		{"Pipeline share", percent(m.PipelineShare)},
		{"Success rate", percent(m.SuccessRate)},
		{"Mean lead time", seconds(m.MeanLeadTimeSeconds)},
		{"Mean time to restore", seconds(m.MeanTimeToRestoreSeconds)},
	})
}

func weights(ws []apitypes.TrafficWeight) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s %d%%", w.ModelVersion, w.Percent)
	}
	return strings.Join(parts, ", ")
}

func step(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
