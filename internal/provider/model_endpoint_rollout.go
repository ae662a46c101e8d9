package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// This file holds what the endpoint resource tells at plan time about the
// deployment an apply will start: the rollout summary warning (ModifyPlan)
// and the plan of deployment_id.

// rolloutPlanSummary is the summary of the plan warning.
const rolloutPlanSummary = "Model Endpoint Change Starts a Deployment"

// policyReadTimeout bounds the policy read behind the plan warning, so that
// a slow server never holds a plan up for long.
const policyReadTimeout = 10 * time.Second

// ModifyPlan warns, when the plan creates an endpoint or changes its target
// (model_version or traffic_split), what rollout applying it starts, so
// that a reviewer reads it in the plan of a pull request.
func (r *modelEndpointResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.client == nil || req.Plan.Raw.IsNull() {
		return // provider not configured yet, or a destroy
	}
	var plan modelEndpointResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	pv := rolloutPreview{
		Endpoint: plan.Name.ValueString(),
		Target:   plannedTarget(ctx, &plan.modelEndpointValues),
		Version:  plan.ModelVersion.ValueString(),
		Wait:     plan.WaitForRollout.IsNull() || plan.WaitForRollout.IsUnknown() || plan.WaitForRollout.ValueBool(),
	}
	if req.State.Raw.IsNull() {
		pv.Create = true
		pv.TimeoutAttr = "timeouts.create"
		pv.Timeout, _ = plan.Timeouts.Create(ctx, modelEndpointCreateTimeout)
	} else {
		var state modelEndpointResourceModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		if !plan.Name.Equal(state.Name) {
			// A replacement: Terraform plans the create again without
			// the prior state, and that plan carries the warning.
			return
		}
		if !endpointTargetChanged(ctx, &state.modelEndpointValues, &plan.modelEndpointValues) {
			return
		}
		pv.Serving = endpointStatusServing(ctx, state.Status)
		pv.TimeoutAttr = "timeouts.update"
		pv.Timeout, _ = plan.Timeouts.Update(ctx, modelEndpointUpdateTimeout)
	}

	switch p := plan.DeploymentPolicy; {
	case p.IsUnknown():
		pv.Policy.Unknown = true
	case p.IsNull():
	default:
		pv.Policy.Name = p.ValueString()
		pctx, cancel := context.WithTimeout(ctx, policyReadTimeout)
		got, err := r.client.GetPolicy(pctx, pv.Policy.Name)
		cancel()
		switch {
		case apitypes.IsNotFound(err):
			pv.Policy.Missing = true
		case err != nil:
			tflog.Warn(ctx, "reading the deployment policy for the plan's rollout summary", map[string]any{"policy": pv.Policy.Name, "error": err.Error()})
			pv.Policy.Err = err
		default:
			pv.Policy.Policy = got
		}
	}
	resp.Diagnostics.AddWarning(rolloutPlanSummary, pv.String())
}

// rolloutPreview is what the plan warning says about a deployment.
type rolloutPreview struct {
	Endpoint string
	// Create is true when the plan creates the endpoint.
	Create bool
	// Serving is the split serving the endpoint now, by version, as the
	// last refresh recorded it; empty for a new endpoint or one that
	// serves nothing.
	Serving map[string]int
	// Target is the split the plan asks for; nil when not known until
	// apply.
	Target map[string]int
	// Version is the planned model_version, "" when not known until apply.
	Version string
	Policy  policyPreview
	// Wait is wait_for_rollout.
	Wait        bool
	Timeout     time.Duration
	TimeoutAttr string // "timeouts.create" or "timeouts.update"
}

// policyPreview is the endpoint's deployment policy as the plan sees it.
type policyPreview struct {
	Name    string // "" when the endpoint has none
	Unknown bool   // the name is known only after apply
	Missing bool   // not on the server: created in this plan
	Err     error  // reading it failed
	Policy  *apitypes.DeploymentPolicy
}

// first tells whether the deployment has no baseline: nothing serves yet,
// or the version serving stays the model version (only the split changes).
// Then there is nothing to move traffic away from gradually and nothing to
// compare with, so the server goes straight to the target once its replicas
// are ready (and its smoke test passes).
func (pv rolloutPreview) first() bool {
	return pv.Create || len(pv.Serving) == 0 || (pv.Version != "" && pv.fromVersion() == pv.Version)
}

// splitOnly tells whether the version serving stays the model version.
func (pv rolloutPreview) splitOnly() bool {
	return !pv.Create && len(pv.Serving) > 0 && pv.Version != "" && pv.fromVersion() == pv.Version
}

// fromVersion is the version the server counts as the one serving, the
// one a rollback returns to: the one with most traffic.
func (pv rolloutPreview) fromVersion() string {
	top, topPercent := "", 0
	for _, v := range slices.Sorted(maps.Keys(pv.Serving)) {
		if p := pv.Serving[v]; p > topPercent {
			top, topPercent = v, p
		}
	}
	return top
}

// String is the warning's detail.
func (pv rolloutPreview) String() string {
	var b strings.Builder
	target := "a target known only after apply"
	if pv.Target != nil {
		target = trafficString(pv.Target)
	}
	if pv.first() && !pv.splitOnly() {
		if pv.Create {
			fmt.Fprintf(&b, "Creating model endpoint %q starts its first deployment, of %s", pv.Endpoint, target)
		} else {
			fmt.Fprintf(&b, "This change starts a deployment of %s to model endpoint %q, which serves nothing now", target, pv.Endpoint)
		}
	} else {
		fmt.Fprintf(&b, "This change starts a deployment of model endpoint %q from %s to %s", pv.Endpoint, trafficString(pv.Serving), target)
	}

	p := pv.Policy
	switch {
	case p.Unknown:
		b.WriteString(", under a deployment policy known only after apply; its rollout starts when applied.")
	case p.Name == "":
		b.WriteString(", without a deployment policy: it switches all traffic at once once the new version is ready.")
	case p.Missing:
		fmt.Fprintf(&b, ", under deployment policy %q, which is created in this plan (it is not on the server yet); its rollout starts when applied.", p.Name)
	case p.Err != nil:
		fmt.Fprintf(&b, ", under deployment policy %q, whose settings could not be read to summarise the rollout: %v.", p.Name, p.Err)
	case pv.first():
		fmt.Fprintf(&b, ", under deployment policy %q (strategy %s). %s", p.Name, p.Policy.Strategy, firstRolloutWords(p.Policy, pv.splitOnly(), pv.Version))
	default:
		fmt.Fprintf(&b, ", under deployment policy %q as the server holds it now:\n", p.Name)
		for _, line := range rolloutLines(p.Policy, pv.fromVersion(), pv.targetVersion()) {
			b.WriteString("  - " + line + "\n")
		}
	}
	if !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	b.WriteString("\n")

	if !pv.Wait {
		fmt.Fprintf(&b, "Apply returns once the server has recorded the deployment (wait_for_rollout = false), with its ID in deployment_id; "+
			"follow it with `slipway deployments watch %s`. The next refresh shows its progress in status, and a rollback as a change to apply again.", pv.Endpoint)
		return b.String()
	}
	fmt.Fprintf(&b, "Apply waits until the deployment ends, up to %s (%s). If it does not succeed, apply fails with the reason and state records what serves instead.",
		pv.TimeoutAttr, shortDuration(pv.Timeout))
	if p.Policy != nil && !pv.first() {
		if est := rolloutEstimate(p.Policy, false); est > pv.Timeout {
			fmt.Fprintf(&b, " The estimated %s exceeds that: raise %s, or set wait_for_rollout = false.", shortDuration(est), pv.TimeoutAttr)
		}
	}
	return b.String()
}

// targetVersion is the version the rollout's steps move traffic to: the
// endpoint's model_version, which the split (when there is one) includes.
func (pv rolloutPreview) targetVersion() string {
	if len(pv.Target) == 1 {
		for v := range pv.Target {
			return v
		}
	}
	return "the new version"
}

// firstRolloutWords describes a deployment without a baseline: an
// endpoint's first, which has no traffic to protect, or a change of the
// split alone (splitOnly), whose model version already serves.
func firstRolloutWords(p *apitypes.DeploymentPolicy, splitOnly bool, version string) string {
	var b strings.Builder
	if splitOnly {
		fmt.Fprintf(&b, "Only the split changes and %s stays the model version, so there is nothing to move gradually: once the replicas are ready", version)
	} else {
		b.WriteString("A new endpoint has no traffic to protect: once its replicas are ready")
	}
	if n := smokeCount(p); n > 0 {
		fmt.Fprintf(&b, " and the smoke test of %s passes", plural(n, "request"))
	}
	if splitOnly {
		b.WriteString(", the new split takes effect at once")
	} else {
		b.WriteString(", it takes all traffic at once")
	}
	if approvalRequired(p) {
		b.WriteString(", after approval (`slipway deployments promote <id>`)")
	}
	b.WriteString(". The policy's steps, shadow and analysis apply to changes of the model version.")
	return b.String()
}

// rolloutLines describes, one line each, the rollout p makes of a change
// from the version serving (from) to the new one (to).
func rolloutLines(p *apitypes.DeploymentPolicy, from, to string) []string {
	stages := rolloutStages(p, false)
	var lines []string

	switch p.Strategy {
	case "canary":
		lines = append(lines, "strategy canary, steps: "+stagesWords(stages))
	case "linear":
		step := 0
		interval := time.Duration(0)
		if p.Linear != nil {
			step, interval = p.Linear.StepPercent, apitypes.PolicyDuration(p.Linear.Interval)
		}
		if len(stages) <= 8 {
			lines = append(lines, fmt.Sprintf("strategy linear, +%d%% every %s: %s", step, shortDuration(interval), percentsWords(stages)))
		} else {
			lines = append(lines, fmt.Sprintf("strategy linear, +%d%% every %s over %d steps, then 100%%", step, shortDuration(interval), len(stages)-1))
		}
	case "blue_green":
		line := fmt.Sprintf("strategy blue_green: %s starts as a full standby, then takes all traffic at once; ", to)
		if wait := stages[len(stages)-1].Bake; wait > 0 {
			line += fmt.Sprintf("%s stays ready for %s (termination wait) so traffic can go back to it at once", from, shortDuration(wait))
		} else {
			line += fmt.Sprintf("%s is not kept (no termination wait)", from)
		}
		lines = append(lines, line)
	default:
		lines = append(lines, "strategy all_at_once: all traffic switches at once once the new version is ready")
	}

	if s := p.Shadow; s != nil {
		lines = append(lines, fmt.Sprintf("shadow: %d%% of live traffic is copied to %s for %s before it serves any; its answers are discarded and its metrics compared with %s's",
			s.TrafficPercent, to, shortDuration(apitypes.PolicyDuration(s.Duration)), from))
	}
	if n := smokeCount(p); n > 0 {
		lines = append(lines, fmt.Sprintf("smoke test: %s must be answered as expected before any live traffic", plural(n, "request")))
	}
	lines = append(lines, analysisWords(p, from))
	if p.Rollback == nil || p.Rollback.Automatic {
		lines = append(lines, fmt.Sprintf("automatic rollback: a failed smoke test or gate puts all traffic back on %s", from))
	} else {
		lines = append(lines, "no automatic rollback (rollback.automatic = false): a failed gate holds traffic where it is until someone promotes or aborts the deployment")
	}
	if approvalRequired(p) {
		lines = append(lines, "approval required: the deployment pauses before 100% until someone runs `slipway deployments promote <id>`, and apply waits for that")
	} else {
		lines = append(lines, "no approval required")
	}
	est := "estimated duration: about " + shortDuration(rolloutEstimate(p, false)) + " plus replica start-up"
	if approvalRequired(p) {
		est += " and the wait for approval"
	}
	lines = append(lines, est)
	return lines
}

// analysisWords describes the quality gate.
func analysisWords(p *apitypes.DeploymentPolicy, from string) string {
	judged := p.Shadow != nil
	for _, s := range rolloutStages(p, false) {
		judged = judged || s.Bake > 0
	}
	a := p.Analysis
	switch {
	case a == nil && judged:
		return "no analysis gate: bakes are waited out, not judged"
	case a == nil:
		return "no analysis gate"
	case !judged:
		return "analysis gate not applied: no step holds traffic long enough to judge it"
	}
	var gates []string
	if a.MaxErrorRate != nil {
		gates = append(gates, "error rate at most "+percentWords(*a.MaxErrorRate))
	}
	if a.MaxLatencyP99 != "" {
		gates = append(gates, "p99 latency at most "+shortDuration(apitypes.PolicyDuration(a.MaxLatencyP99)))
	}
	if a.MaxRegression != nil {
		gates = append(gates, fmt.Sprintf("p99 latency and error rate at most %s worse than %s's", percentWords(*a.MaxRegression), from))
	}
	interval := a.Interval
	if interval == "" {
		interval = apitypes.DefaultAnalysisInterval
	}
	line := fmt.Sprintf("analysis every %s, judged on at least %s per window", shortDuration(apitypes.PolicyDuration(interval)), plural(max(a.MinRequests, 1), "request"))
	if smokeCount(p) > 0 {
		line += " (smoke requests make up thin live traffic)"
	}
	if len(gates) == 0 {
		return line + ": no limits set, so every window passes"
	}
	return line + ": " + strings.Join(gates, ", ")
}

// rolloutStages lists the traffic levels the server's rollout engine goes
// through for p (nil: no policy, all at once), ending with full promotion.
func rolloutStages(p *apitypes.DeploymentPolicy, first bool) []apitypes.RolloutStage {
	if p == nil {
		return []apitypes.RolloutStage{{Percent: 100}}
	}
	return p.Stages(first)
}

// rolloutEstimate is how long a rollout under p takes once the new version
// is ready, approval aside: its bakes and its shadow phase.
func rolloutEstimate(p *apitypes.DeploymentPolicy, first bool) time.Duration {
	var d time.Duration
	for _, s := range rolloutStages(p, first) {
		d += s.Bake
	}
	if p != nil && p.Shadow != nil && !first {
		d += apitypes.PolicyDuration(p.Shadow.Duration)
	}
	return d
}

// stagesWords is "10% for 30s → 50% for 30s → 100%".
func stagesWords(stages []apitypes.RolloutStage) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = fmt.Sprintf("%d%%", s.Percent)
		if s.Bake > 0 {
			parts[i] += " for " + shortDuration(s.Bake)
		}
	}
	return strings.Join(parts, " → ")
}

// percentsWords is "20% → 40% → 100%".
func percentsWords(stages []apitypes.RolloutStage) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = fmt.Sprintf("%d%%", s.Percent)
	}
	return strings.Join(parts, " → ")
}

func smokeCount(p *apitypes.DeploymentPolicy) int {
	if p == nil || p.SmokeTest == nil {
		return 0
	}
	return len(p.SmokeTest.Requests)
}

func approvalRequired(p *apitypes.DeploymentPolicy) bool {
	return p != nil && p.Approval != nil && p.Approval.Required
}

// shortDuration prints a duration without zero units: "1m", not "1m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// percentWords prints a fraction as a percentage: 0.01 is "1%", 0.005 "0.5%".
func percentWords(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*f), "0"), ".") + "%"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// plannedTarget is the split a planned endpoint asks for, or nil while
// any of it is unknown.
func plannedTarget(ctx context.Context, v *modelEndpointValues) map[string]int {
	if v.ModelVersion.IsUnknown() || v.TrafficSplit.IsUnknown() {
		return nil
	}
	if v.TrafficSplit.IsNull() || len(v.TrafficSplit.Elements()) == 0 {
		return map[string]int{v.ModelVersion.ValueString(): 100}
	}
	split, ok := knownSplit(ctx, v.TrafficSplit)
	if !ok {
		return nil
	}
	return split
}

// knownSplit is a traffic_split by version; ok is false when any of it is
// unknown.
func knownSplit(ctx context.Context, l types.List) (map[string]int, bool) {
	m := map[string]int{}
	if l.IsNull() {
		return m, true
	}
	if l.IsUnknown() {
		return nil, false
	}
	var split []endpointTrafficWeightModel
	if diags := l.ElementsAs(ctx, &split, false); diags.HasError() {
		return nil, false
	}
	for _, w := range split {
		if w.ModelVersion.IsUnknown() || w.Percent.IsUnknown() {
			return nil, false
		}
		m[w.ModelVersion.ValueString()] += int(w.Percent.ValueInt64())
	}
	return m, true
}

// endpointTargetChanged tells whether going from state to plan changes
// what the endpoint serves, the way the server decides whether a change
// starts a deployment: model_version, or the split in any order. A value
// unknown until apply counts as a change.
func endpointTargetChanged(ctx context.Context, state, plan *modelEndpointValues) bool {
	if plan.ModelVersion.IsUnknown() || !plan.ModelVersion.Equal(state.ModelVersion) {
		return true
	}
	a, okA := knownSplit(ctx, state.TrafficSplit)
	b, okB := knownSplit(ctx, plan.TrafficSplit)
	return !okA || !okB || !maps.Equal(a, b)
}

// endpointStatusServing reads status.traffic: the versions serving, by
// percentage of traffic.
func endpointStatusServing(ctx context.Context, status types.Object) map[string]int {
	m := map[string]int{}
	if status.IsNull() || status.IsUnknown() {
		return m
	}
	traffic, ok := status.Attributes()["traffic"].(types.List)
	if !ok || traffic.IsNull() || traffic.IsUnknown() {
		return m
	}
	var entries []struct {
		ModelVersion  types.String `tfsdk:"model_version"`
		Percent       types.Int64  `tfsdk:"percent"`
		ReadyReplicas types.Int64  `tfsdk:"ready_replicas"`
	}
	if diags := traffic.ElementsAs(ctx, &entries, false); diags.HasError() {
		return m
	}
	for _, t := range entries {
		if t.Percent.ValueInt64() > 0 {
			m[t.ModelVersion.ValueString()] = int(t.Percent.ValueInt64())
		}
	}
	return m
}

// deploymentIDPlan plans deployment_id: unknown when the plan creates the
// endpoint or changes its target (the apply starts a new deployment),
// otherwise the ID in state, so that it never shows as a change.
type deploymentIDPlan struct{}

var _ planmodifier.String = deploymentIDPlan{}

func (deploymentIDPlan) Description(context.Context) string {
	return "Unknown when the plan changes the endpoint's target; otherwise the value in state."
}

func (m deploymentIDPlan) MarkdownDescription(ctx context.Context) string { return m.Description(ctx) }

func (deploymentIDPlan) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() || !resp.PlanValue.IsUnknown() {
		return
	}
	var state, plan modelEndpointResourceModel
	if req.State.Get(ctx, &state).HasError() || req.Plan.Get(ctx, &plan).HasError() {
		return
	}
	if !plan.Name.Equal(state.Name) || endpointTargetChanged(ctx, &state.modelEndpointValues, &plan.modelEndpointValues) {
		return
	}
	resp.PlanValue = req.StateValue
}
