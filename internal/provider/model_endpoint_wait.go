package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// errNotServed is a change the serving plane did not carry out; the errors
// wrapping it (notServed) say why in words.
var errNotServed = errors.New("the change did not take")

// waitEndpointSettled polls the endpoint until it serves what want asks for
// with every replica it needs ready, or until it is clear that it will not:
// the server put the endpoint back to the version that still serves, the
// endpoint failed, or ctx ran out. It returns the last endpoint read, so the
// caller can record in state what really serves.
func waitEndpointSettled(ctx context.Context, c *client.Client, want *apitypes.Endpoint) (*apitypes.Endpoint, error) {
	target := desiredTraffic(want)
	// Short first waits: a small model is ready in well under a second, and
	// every poll interval is lead time the user waits for.
	wait := deploymentFirstPoll
	var last *apitypes.Endpoint
	for {
		got, err := c.GetEndpoint(ctx, want.Name)
		if err != nil {
			if ctx.Err() != nil && last != nil {
				return last, timeoutError(want, last)
			}
			return last, err
		}
		last = got
		switch {
		case got.Revision != want.Revision && !sameTraffic(desiredTraffic(got), target):
			if revertedBack(got, target) {
				return got, notServed("Model endpoint %q did not switch to %s: %s.\n\n"+
					"The server put the endpoint back to what still serves, %s (revision %d), and state records that, "+
					"so the next plan proposes the change again. Fix the model version, or revert the configuration to what serves.",
					want.Name, trafficString(target), strings.TrimSuffix(got.Status.Message, "."), trafficString(desiredTraffic(got)), got.Revision)
			}
			return got, notServed("Model endpoint %q was changed by another client while the deployment ran and now asks for %s (revision %d)%s; "+
				"state records that, so the next plan shows the difference from the configuration",
				want.Name, trafficString(desiredTraffic(got)), got.Revision, prefixed(": ", got.Status.Message))
		case got.Status.Phase == apitypes.PhaseFailed:
			return got, notServed("Model endpoint %q failed: %s", want.Name, orElse(got.Status.Message, "no reason given"))
		case got.Status.Phase == apitypes.PhaseReady && sameTraffic(servingTraffic(got), target):
			return got, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return got, timeoutError(want, got)
		case <-t.C:
		}
		wait = min(wait*3/2, 500*time.Millisecond)
	}
}

func timeoutError(want, got *apitypes.Endpoint) error {
	return notServed("Timed out waiting for model endpoint %q to serve %s; it is %s, serving %s%s. Raise the timeouts block's value if the rollout needs longer",
		want.Name, trafficString(desiredTraffic(want)), got.Status.Phase, trafficString(servingTraffic(got)), prefixed("; ", got.Status.Message))
}

// notServed is an errNotServed that reads as its message alone.
func notServed(format string, args ...any) error {
	return notServedError(fmt.Sprintf(format, args...))
}

type notServedError string

func (e notServedError) Error() string { return string(e) }
func (e notServedError) Unwrap() error { return errNotServed }

// revertedBack tells whether the server put the endpoint back because the
// target could not be served, rather than another client changing it: the
// endpoint now asks for exactly what serves, and its status message names a
// version of the target it dropped (the server's reason, "model version
// fraud/2 could not be served: ...").
func revertedBack(got *apitypes.Endpoint, target map[string]int) bool {
	now := desiredTraffic(got)
	if got.Status.Message == "" || !sameTraffic(now, servingTraffic(got)) {
		return false
	}
	for v := range target {
		if _, kept := now[v]; !kept && mentionsVersion(got.Status.Message, v) {
			return true
		}
	}
	return false
}

// mentionsVersion tells whether msg names the version ID v as a whole word
// ("fraud/1" is not in "fraud/10").
func mentionsVersion(msg, v string) bool {
	word := func(b byte) bool {
		return b == '-' || b == '_' || b == '.' || b == '/' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
	}
	for i := 0; ; {
		j := strings.Index(msg[i:], v)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(v)
		// A trailing '.' ends a sentence, not the ID.
		if (start == 0 || !word(msg[start-1])) && (end == len(msg) || !word(msg[end]) || msg[end] == '.' && (end+1 == len(msg) || !word(msg[end+1]))) {
			return true
		}
		i = start + 1
	}
}

// desiredTraffic is the split an endpoint asks for, by version.
func desiredTraffic(e *apitypes.Endpoint) map[string]int {
	if len(e.TrafficSplit) == 0 {
		return map[string]int{e.ModelVersion: 100}
	}
	m := map[string]int{}
	for _, w := range e.TrafficSplit {
		m[w.ModelVersion] = w.Percent
	}
	return m
}

// servingTraffic is the split that serves, counting only versions with a
// ready replica.
func servingTraffic(e *apitypes.Endpoint) map[string]int {
	m := map[string]int{}
	for _, t := range e.Status.Traffic {
		if t.Percent > 0 && t.ReadyReplicas > 0 {
			m[t.ModelVersion] = t.Percent
		}
	}
	return m
}

func sameTraffic(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// trafficString says a split in words, in a stable order: "fraud/1" for
// one version, "fraud/1 at 90%, fraud/2 at 10%" for several.
func trafficString(m map[string]int) string {
	switch len(m) {
	case 0:
		return "nothing"
	case 1:
		for v, p := range m {
			if p == 100 {
				return v
			}
		}
	}
	parts := make([]string, 0, len(m))
	for _, v := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s at %d%%", v, m[v]))
	}
	return strings.Join(parts, ", ")
}

func orElse(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// Polling of a deployment: short first waits, because a small model is
// served in well under a second (an all_at_once deployment of one is over
// some 20-40ms after the change), growing to deploymentMaxPoll for long
// rollouts.
const (
	deploymentFirstPoll = 10 * time.Millisecond
	deploymentMaxPoll   = 500 * time.Millisecond
	// revertGrace bounds the wait, once a deployment ended without
	// success, for the server to put the endpoint back and for its status
	// to show what serves. The engine ends the record first.
	revertGrace = 10 * time.Second
)

// findDeployment returns the deployment that the change which made e (its
// create or update) started, or nil when it started none: a change that
// keeps the target (replicas, labels, ...) is no deployment. The server
// records the deployment in the same transaction as the change, with the
// endpoint's new revision.
func findDeployment(ctx context.Context, c *client.Client, e *apitypes.Endpoint) (*apitypes.Deployment, error) {
	ds, err := c.ListDeployments(ctx, client.DeploymentListOptions{Endpoint: e.Name, Limit: 5})
	if err != nil {
		return nil, err
	}
	for i := range ds {
		// Newest first. An endpoint deleted and created again under the
		// same name counts its revisions from 1 again: a deployment older
		// than the endpoint is not one of its own.
		if d := &ds[i]; d.EndpointRevision == e.Revision && !d.CreatedAt.Before(e.CreatedAt) {
			return d, nil
		}
	}
	return nil, nil
}

// waitDeployment follows deployment d, which the change to want started,
// until it ends. Once it succeeded, it waits until the endpoint serves the
// target with ready replicas (waitEndpointSettled). When it rolled back,
// failed or was aborted, the error says why, with the deployment's reason,
// its last gate numbers and what serves now. It returns the last endpoint
// read, so that the caller records in state what the server has: after a
// rollback, the version that still serves.
func waitDeployment(ctx context.Context, c *client.Client, want *apitypes.Endpoint, d *apitypes.Deployment) (*apitypes.Endpoint, error) {
	wait := deploymentFirstPoll
	last := d
	logDeploymentProgress(ctx, nil, last)
	for !apitypes.DeploymentTerminal(last.Phase) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return deploymentTimedOut(ctx, c, want, last)
		case <-t.C:
		}
		got, err := c.GetDeployment(ctx, d.ID)
		if err != nil {
			if ctx.Err() != nil {
				return deploymentTimedOut(ctx, c, want, last)
			}
			return nil, fmt.Errorf("reading deployment %s of model endpoint %q: %w", d.ID, want.Name, err)
		}
		logDeploymentProgress(ctx, last, got)
		last = got
		wait = min(wait*3/2, deploymentMaxPoll)
	}
	if last.Phase == apitypes.DeploySucceeded {
		return waitEndpointSettled(ctx, c, want)
	}
	e := endpointAfterDeployment(ctx, c, want, last)
	return e, deploymentNotServed(want, last, e)
}

// logDeploymentProgress logs each new phase or step of a deployment, and
// once, louder, that it awaits approval.
func logDeploymentProgress(ctx context.Context, prev, d *apitypes.Deployment) {
	if prev != nil && prev.Phase == d.Phase && prev.Step == d.Step {
		return
	}
	fields := map[string]any{
		"deployment": d.ID, "endpoint": d.Endpoint, "phase": d.Phase, "step": d.Step,
		"traffic": trafficString(weightsMap(d.Traffic)),
	}
	if n := len(d.Events); n > 0 {
		fields["event"] = d.Events[n-1].Message
	}
	if d.Phase == apitypes.DeployAwaitingApproval {
		tflog.Warn(ctx, fmt.Sprintf("deployment %s awaits approval; promote it with `slipway deployments promote %s` or roll it back with `slipway deployments abort %s`",
			d.ID, d.ID, d.ID), fields)
		return
	}
	tflog.Info(ctx, "deployment "+d.ID+": "+d.Phase, fields)
}

// endpointAfterDeployment reads the endpoint once deployment d ended
// without success. The server puts the endpoint back to the version that
// served (a new revision) just after it ends the record, and the status
// follows; this waits for both, within revertGrace, and returns the last
// read (nil when none succeeded). It does not depend on ctx's deadline,
// which may have passed: state must record what the server has.
func endpointAfterDeployment(ctx context.Context, c *client.Client, want *apitypes.Endpoint, d *apitypes.Deployment) *apitypes.Endpoint {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revertGrace)
	defer cancel()
	var last *apitypes.Endpoint
	for wait := deploymentFirstPoll; ; wait = min(wait*3/2, deploymentMaxPoll) {
		e, err := c.GetEndpoint(ctx, want.Name)
		switch {
		case err == nil:
			last = e
			switch {
			case e.Revision != want.Revision && e.ModelVersion != d.FromVersion:
				return e // changed by another client: nothing to wait for
			case e.Revision == want.Revision && d.FromVersion != "":
				// Not put back yet.
			case sameTraffic(servingTraffic(e), desiredTraffic(e)) || e.Status.Phase == apitypes.PhaseFailed:
				return e // put back (or, nothing having served, failed) and the status says so
			}
		case apitypes.IsNotFound(err):
			return last
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return last
		case <-t.C:
		}
	}
}

// deploymentNotServed explains a deployment that ended without success:
// the deployment's own reason, its last gate numbers, and what serves now.
func deploymentNotServed(want *apitypes.Endpoint, d *apitypes.Deployment, e *apitypes.Endpoint) error {
	var b strings.Builder
	ended := map[string]string{
		apitypes.DeployRolledBack: "was rolled back",
		apitypes.DeployFailed:     "failed",
		apitypes.DeployAborted:    "was aborted",
	}[d.Phase]
	fmt.Fprintf(&b, "Model endpoint %q did not switch to %s: deployment %s %s: %s.",
		want.Name, trafficString(desiredTraffic(want)), d.ID, orElse(ended, "ended "+d.Phase), strings.TrimSuffix(orElse(d.Reason, "no reason recorded"), "."))
	if m := lastGate(d); m != nil {
		b.WriteString("\n\nLast analysis: " + gateWords(m) + ".")
	}
	b.WriteString("\n\n")
	switch {
	case e == nil:
		fmt.Fprintf(&b, "The endpoint could not be read since; the deployment left traffic on %s. The next refresh records what the server has.",
			trafficString(weightsMap(d.Traffic)))
	case e.Revision != want.Revision && e.ModelVersion == d.FromVersion:
		fmt.Fprintf(&b, "Now serving: %s. The server put the endpoint back to it (revision %d) and state records that, so the next plan proposes the change again. "+
			"Fix the model version, or revert the configuration to what serves.", trafficString(servingTraffic(e)), e.Revision)
	case e.Revision != want.Revision:
		fmt.Fprintf(&b, "Now serving: %s. The endpoint was changed since by another client and asks for %s (revision %d); state records that, "+
			"so the next plan shows the difference from the configuration.", trafficString(servingTraffic(e)), trafficString(desiredTraffic(e)), e.Revision)
	default:
		fmt.Fprintf(&b, "Now serving: %s. The endpoint still asks for %s, and state records that. Fix the model version, or point the endpoint at one that serves, and apply again.",
			trafficString(servingTraffic(e)), trafficString(desiredTraffic(e)))
	}
	fmt.Fprintf(&b, " The deployment's events: `slipway deployments get %s`.", d.ID)
	return notServed("%s", b.String())
}

// deploymentTimedOut is the error when ctx ran out before deployment d
// ended. The endpoint is read once more, without ctx's deadline, so that
// state records what the server has.
func deploymentTimedOut(ctx context.Context, c *client.Client, want *apitypes.Endpoint, d *apitypes.Deployment) (*apitypes.Endpoint, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revertGrace)
	defer cancel()
	e, err := c.GetEndpoint(rctx, want.Name)
	if err != nil {
		e = nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Timed out waiting for deployment %s of model endpoint %q to %s; it is %s", d.ID, want.Name, trafficString(desiredTraffic(want)), deploymentPhaseWords(d))
	if len(d.Traffic) > 0 {
		fmt.Fprintf(&b, ", routing %s", trafficString(weightsMap(d.Traffic)))
	}
	b.WriteString(".")
	if d.Phase == apitypes.DeployAwaitingApproval {
		fmt.Fprintf(&b, " Promote it with `slipway deployments promote %s` (or roll it back with `slipway deployments abort %s`), then run terraform apply again to record the result.",
			d.ID, d.ID)
	} else {
		fmt.Fprintf(&b, " The server carries on with the deployment: follow it with `slipway deployments watch %s`; the next terraform apply records where it ended. "+
			"Raise the timeouts block's value if the rollout needs longer, or set wait_for_rollout = false to return once it has started.", d.ID)
	}
	return e, notServed("%s", b.String())
}

// deploymentPhaseWords says where a deployment is: "progressing at step 2
// (50% of traffic to fraud/2)".
func deploymentPhaseWords(d *apitypes.Deployment) string {
	switch d.Phase {
	case apitypes.DeployPending:
		return "pending: the rollout engine has not started it yet"
	case apitypes.DeployProvisioning:
		return fmt.Sprintf("provisioning: waiting for ready replicas of %s", d.ToVersion)
	case apitypes.DeploySmokeTesting:
		return fmt.Sprintf("smoke testing %s", d.ToVersion)
	case apitypes.DeployShadowing:
		return fmt.Sprintf("shadowing: live traffic is copied to %s", d.ToVersion)
	case apitypes.DeployProgressing:
		s := fmt.Sprintf("progressing at step %d", d.Step)
		if n := len(rolloutStages(d.Policy, d.FromVersion == "" || d.FromVersion == d.ToVersion)); d.Policy != nil && n >= d.Step && d.Step > 0 {
			s = fmt.Sprintf("progressing at step %d of %d", d.Step, n)
		}
		if p, ok := weightsMap(d.Traffic)[d.ToVersion]; ok {
			s += fmt.Sprintf(" (%d%% of traffic to %s)", p, d.ToVersion)
		}
		return s
	case apitypes.DeployAwaitingApproval:
		if d.Reason != "" {
			return "awaiting an operator: " + strings.TrimSuffix(d.Reason, ".")
		}
		return "awaiting approval before all traffic goes to " + d.ToVersion
	}
	return d.Phase
}

// lastGate is the numbers of the deployment's last analysis, nil when none
// ran.
func lastGate(d *apitypes.Deployment) *apitypes.GateMetrics {
	for i := len(d.Events) - 1; i >= 0; i-- {
		if m := d.Events[i].Metrics; m != nil {
			return m
		}
	}
	return nil
}

// gateWords is one analysis in words: "fail: 57 requests, error rate
// 3.5%, p99 412ms; baseline 510 requests, error rate 0.0%, p99 80ms".
func gateWords(m *apitypes.GateMetrics) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d requests", orElse(m.Verdict, "no verdict"), m.Requests)
	if m.Synthetic {
		b.WriteString(" including synthetic ones")
	}
	fmt.Fprintf(&b, ", error rate %.1f%%", 100*m.ErrorRate)
	if m.LatencyP99 != "" {
		b.WriteString(", p99 " + m.LatencyP99)
	}
	if m.BaselineRequests > 0 {
		fmt.Fprintf(&b, "; baseline %d requests, error rate %.1f%%", m.BaselineRequests, 100*m.BaselineErrorRate)
		if m.BaselineP99 != "" {
			b.WriteString(", p99 " + m.BaselineP99)
		}
	}
	return b.String()
}

// weightsMap is a split by version.
func weightsMap(ws []apitypes.TrafficWeight) map[string]int {
	m := map[string]int{}
	for _, w := range ws {
		if w.Percent > 0 {
			m[w.ModelVersion] += w.Percent
		}
	}
	return m
}
