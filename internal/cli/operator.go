package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// Operator runs the commands that read and manage a running server.
type Operator struct {
	Client *client.Client
	Out    io.Writer
	JSON   bool // -o json: the API's JSON instead of a table
	// TTY says Out is a terminal: DeploymentsWatch then rewrites one
	// progress line in place. See IsTerminal.
	TTY bool
	// PollInterval is how often DeploymentsWatch polls; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
}

// VersionsList lists model versions, optionally of one model and matching
// every label.
func (o *Operator) VersionsList(ctx context.Context, model string, labelFilter map[string]string) error {
	items, err := o.Client.ListModelVersions(ctx, client.VersionListOptions{Model: model, Labels: labelFilter})
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(apitypes.ModelVersionList{Items: items})
	}
	rows := [][]string{{"ID", "FORMAT", "RUNTIME", "SIZE", "LABELS", "CREATED"}}
	for _, m := range items {
		rows = append(rows, []string{m.ID, m.Format, m.Runtime.Kind, size(m.SizeBytes), labels(m.Labels), when(m.CreatedAt)})
	}
	return o.table(rows)
}

// VersionsGet shows one model version by "model/version".
func (o *Operator) VersionsGet(ctx context.Context, id string) error {
	m, err := o.Client.GetModelVersion(ctx, id)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(m)
	}
	return o.table([][]string{
		{"ID", m.ID},
		{"Format", m.Format},
		{"Runtime", m.Runtime.Kind},
		{"Artifact", m.ArtifactURI},
		{"SHA-256", m.SHA256},
		{"Size", size(m.SizeBytes)},
		{"Description", m.Description},
		{"Labels", labels(m.Labels)},
		{"Metadata", labels(m.Metadata)},
		{"Revision", strconv.FormatInt(m.Revision, 10)},
		{"Created", when(m.CreatedAt)},
		{"Updated", when(m.UpdatedAt)},
	})
}

// PoliciesList lists deployment policies.
func (o *Operator) PoliciesList(ctx context.Context) error {
	items, err := o.Client.ListPolicies(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(apitypes.PolicyList{Items: items})
	}
	rows := [][]string{{"NAME", "STRATEGY", "RISK", "REVISION", "UPDATED"}}
	for _, p := range items {
		rows = append(rows, []string{p.Name, p.Strategy, p.RiskTier, strconv.FormatInt(p.Revision, 10), when(p.UpdatedAt)})
	}
	return o.table(rows)
}

// PoliciesGet shows one deployment policy. The table shows the essentials;
// -o json shows all of it.
func (o *Operator) PoliciesGet(ctx context.Context, name string) error {
	p, err := o.Client.GetPolicy(ctx, name)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(p)
	}
	var steps []string
	for _, s := range p.Steps {
		steps = append(steps, fmt.Sprintf("%d%% for %s", s.TrafficPercent, s.Bake))
	}
	if p.Linear != nil {
		steps = append(steps, fmt.Sprintf("+%d%% every %s", p.Linear.StepPercent, p.Linear.Interval))
	}
	return o.table([][]string{
		{"Name", p.Name},
		{"Strategy", p.Strategy},
		{"Steps", strings.Join(steps, ", ")},
		{"Automatic rollback", strconv.FormatBool(p.Rollback != nil && p.Rollback.Automatic)},
		{"Approval required", strconv.FormatBool(p.Approval != nil && p.Approval.Required)},
		{"Risk tier", p.RiskTier},
		{"Description", p.Description},
		{"Revision", strconv.FormatInt(p.Revision, 10)},
		{"Updated", when(p.UpdatedAt)},
	})
}

// EndpointsList lists endpoints matching every label.
func (o *Operator) EndpointsList(ctx context.Context, labelFilter map[string]string) error {
	items, err := o.Client.ListEndpoints(ctx, client.EndpointListOptions{Labels: labelFilter})
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(apitypes.EndpointList{Items: items})
	}
	rows := [][]string{{"NAME", "MODEL VERSION", "POLICY", "PHASE", "TRAFFIC", "URL"}}
	for _, e := range items {
		rows = append(rows, []string{e.Name, e.ModelVersion, e.DeploymentPolicy, e.Status.Phase, traffic(e.Status.Traffic), e.Status.URL})
	}
	return o.table(rows)
}

// EndpointsGet shows one endpoint with its status.
func (o *Operator) EndpointsGet(ctx context.Context, name string) error {
	e, err := o.Client.GetEndpoint(ctx, name)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(e)
	}
	return o.table([][]string{
		{"Name", e.Name},
		{"Model version", e.ModelVersion},
		{"Policy", e.DeploymentPolicy},
		{"Replicas", fmt.Sprintf("%d-%d (target concurrency %d)", e.Replicas.Min, e.Replicas.Max, e.Replicas.TargetConcurrency)},
		{"Phase", e.Status.Phase},
		{"Traffic", traffic(e.Status.Traffic)},
		{"URL", e.Status.URL},
		{"Message", e.Status.Message},
		{"Labels", labels(e.Labels)},
		{"Revision", strconv.FormatInt(e.Revision, 10)},
		{"Updated", when(e.UpdatedAt)},
	})
}

// AuditList lists ledger events.
func (o *Operator) AuditList(ctx context.Context, opts client.AuditListOptions) error {
	items, err := o.Client.ListAuditEvents(ctx, opts)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(apitypes.AuditList{Items: items})
	}
	rows := [][]string{{"SEQ", "TIME", "ACTOR", "SOURCE", "ACTION", "OBJECT"}}
	for _, e := range items {
		rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), when(e.Time), e.Actor, e.Source, e.Action, e.ObjectType + " " + e.ObjectID})
	}
	return o.table(rows)
}

// BrokenLedgerError is AuditVerify's error when the chain does not verify.
type BrokenLedgerError struct{ Result apitypes.AuditVerify }

func (e *BrokenLedgerError) Error() string {
	return fmt.Sprintf("audit ledger does not verify at event %d: %s", e.Result.BrokenSeq, e.Result.Reason)
}

// AuditVerify has the server check the ledger's hash chain. It prints the
// verdict and returns a *BrokenLedgerError when the chain is broken, so the
// command exits non-zero.
func (o *Operator) AuditVerify(ctx context.Context) error {
	v, err := o.Client.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		if err := o.json(v); err != nil {
			return err
		}
	} else if v.OK {
		fmt.Fprintf(o.Out, "audit ledger verified: %d events, hash chain intact\n", v.Events)
	}
	if !v.OK {
		return &BrokenLedgerError{Result: *v}
	}
	return nil
}

// TokensCreate mints a token through the API and shows its secret, once.
func (o *Operator) TokensCreate(ctx context.Context, name, role string) error {
	t, err := o.Client.CreateToken(ctx, &apitypes.TokenCreate{Name: name, Role: role})
	if err != nil {
		return err
	}
	return o.newToken(t)
}

// TokensCreateOffline mints a token directly in the store under dataDir, for
// when there is no token to call the API with. See server.MintToken.
func (o *Operator) TokensCreateOffline(ctx context.Context, dataDir, name, role string) error {
	t, err := server.MintToken(ctx, dataDir, apitypes.TokenCreate{Name: name, Role: role})
	if err != nil {
		return err
	}
	return o.newToken(t)
}

func (o *Operator) newToken(t *apitypes.Token) error {
	if o.JSON {
		return o.json(t)
	}
	fmt.Fprintf(o.Out, "created %s token %q (id %s)\n", t.Role, t.Name, t.ID)
	fmt.Fprintf(o.Out, "secret: %s\n", t.Secret)
	fmt.Fprintln(o.Out, "store the secret now: it is not shown again")
	return nil
}

// TokensList lists tokens, never their secrets.
func (o *Operator) TokensList(ctx context.Context) error {
	items, err := o.Client.ListTokens(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.json(apitypes.TokenList{Items: items})
	}
	rows := [][]string{{"ID", "NAME", "ROLE", "CREATED"}}
	for _, t := range items {
		rows = append(rows, []string{t.ID, t.Name, t.Role, when(t.CreatedAt)})
	}
	return o.table(rows)
}

// TokensDelete revokes a token.
func (o *Operator) TokensDelete(ctx context.Context, id string) error {
	if err := o.Client.DeleteToken(ctx, id); err != nil {
		return err
	}
	if !o.JSON {
		fmt.Fprintf(o.Out, "deleted token %s\n", id)
	}
	return nil
}

func (o *Operator) json(v any) error {
	enc := json.NewEncoder(o.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows aligned in columns; empty cells show as "-".
func (o *Operator) table(rows [][]string) error {
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	for _, row := range rows {
		for i, cell := range row {
			if cell == "" {
				cell = "-"
			}
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, cell)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func labels(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func traffic(ts []apitypes.TrafficStatus) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s %d%%", t.ModelVersion, t.Percent))
	}
	return strings.Join(parts, ", ")
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func size(n int64) string {
	switch {
	case n == 0:
		return ""
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
