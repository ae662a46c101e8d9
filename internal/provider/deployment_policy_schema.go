package provider

// The deployment policy's tfsdk model, its expand/flatten to and from
// apitypes.DeploymentPolicy, and the attribute descriptions shared by the
// slipway_deployment_policy resource and data source.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// deploymentPolicyModel is the state of the resource and of the data source.
// Objects and lists stay types.Object / types.List so that ValidateConfig can
// read a configuration that still holds unknown values.
type deploymentPolicyModel struct {
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	Description       types.String `tfsdk:"description"`
	Strategy          types.String `tfsdk:"strategy"`
	Steps             types.List   `tfsdk:"steps"`      // of stepModel
	Linear            types.Object `tfsdk:"linear"`     // linearModel
	BlueGreen         types.Object `tfsdk:"blue_green"` // blueGreenModel
	Shadow            types.Object `tfsdk:"shadow"`     // shadowModel
	SmokeTest         types.Object `tfsdk:"smoke_test"` // smokeTestModel
	Analysis          types.Object `tfsdk:"analysis"`   // analysisModel
	Rollback          types.Object `tfsdk:"rollback"`   // rollbackModel
	Approval          types.Object `tfsdk:"approval"`   // approvalModel
	RiskTier          types.String `tfsdk:"risk_tier"`
	LeadTimeObjective types.String `tfsdk:"lead_time_objective"`
	FreezeWindows     types.List   `tfsdk:"freeze_windows"` // of freezeWindowModel
	Revision          types.Int64  `tfsdk:"revision"`
	CreatedAt         types.String `tfsdk:"created_at"`
	UpdatedAt         types.String `tfsdk:"updated_at"`
}

type stepModel struct {
	TrafficPercent types.Int64  `tfsdk:"traffic_percent"`
	Bake           types.String `tfsdk:"bake"`
}

type freezeWindowModel struct {
	Start  types.String `tfsdk:"start"`
	End    types.String `tfsdk:"end"`
	Reason types.String `tfsdk:"reason"`
}

type linearModel struct {
	StepPercent types.Int64  `tfsdk:"step_percent"`
	Interval    types.String `tfsdk:"interval"`
}

type blueGreenModel struct {
	TerminationWait types.String `tfsdk:"termination_wait"`
}

type shadowModel struct {
	TrafficPercent types.Int64  `tfsdk:"traffic_percent"`
	Duration       types.String `tfsdk:"duration"`
}

type smokeTestModel struct {
	Requests types.List `tfsdk:"requests"` // of smokeRequestModel
}

type smokeRequestModel struct {
	Name          types.String  `tfsdk:"name"`
	Body          types.String  `tfsdk:"body"`
	ExpectStatus  types.Int64   `tfsdk:"expect_status"`
	ExpectOutputs types.List    `tfsdk:"expect_outputs"` // of Float64
	Tolerance     types.Float64 `tfsdk:"tolerance"`
}

type analysisModel struct {
	Interval      types.String  `tfsdk:"interval"`
	MinRequests   types.Int64   `tfsdk:"min_requests"`
	MaxErrorRate  types.Float64 `tfsdk:"max_error_rate"`
	MaxLatencyP99 types.String  `tfsdk:"max_latency_p99"`
	MaxRegression types.Float64 `tfsdk:"max_regression"`
}

type rollbackModel struct {
	Automatic types.Bool `tfsdk:"automatic"`
}

type approvalModel struct {
	Required types.Bool `tfsdk:"required"`
}

// Attribute types of the nested objects, matching the models above.
var (
	stepAttrTypes = map[string]attr.Type{
		"traffic_percent": types.Int64Type,
		"bake":            types.StringType,
	}
	freezeWindowAttrTypes = map[string]attr.Type{
		"start":  types.StringType,
		"end":    types.StringType,
		"reason": types.StringType,
	}
	linearAttrTypes = map[string]attr.Type{
		"step_percent": types.Int64Type,
		"interval":     types.StringType,
	}
	blueGreenAttrTypes = map[string]attr.Type{
		"termination_wait": types.StringType,
	}
	shadowAttrTypes = map[string]attr.Type{
		"traffic_percent": types.Int64Type,
		"duration":        types.StringType,
	}
	smokeRequestAttrTypes = map[string]attr.Type{
		"name":           types.StringType,
		"body":           types.StringType,
		"expect_status":  types.Int64Type,
		"expect_outputs": types.ListType{ElemType: types.Float64Type},
		"tolerance":      types.Float64Type,
	}
	smokeTestAttrTypes = map[string]attr.Type{
		"requests": types.ListType{ElemType: types.ObjectType{AttrTypes: smokeRequestAttrTypes}},
	}
	analysisAttrTypes = map[string]attr.Type{
		"interval":        types.StringType,
		"min_requests":    types.Int64Type,
		"max_error_rate":  types.Float64Type,
		"max_latency_p99": types.StringType,
		"max_regression":  types.Float64Type,
	}
	rollbackAttrTypes = map[string]attr.Type{"automatic": types.BoolType}
	approvalAttrTypes = map[string]attr.Type{"required": types.BoolType}
)

// Bounds the plan-time validators share with apitypes' Validate.
const (
	minAnalysisInterval = 100 * time.Millisecond
	maxPolicyDescLen    = 1024
	defaultRollback     = true
	defaultApproval     = true
)

// ---------------------------------------------------------------------------
// Descriptions
// ---------------------------------------------------------------------------

// strategyMeanings explains each of apitypes.Strategies.
var strategyMeanings = map[string]string{
	"all_at_once": "moves all traffic to the new version in one switch",
	"canary":      "moves traffic in the explicit `steps`",
	"linear":      "moves traffic in equal steps set by `linear`",
	"blue_green":  "starts a full standby of the new version, switches all traffic to it and keeps the old one for `blue_green.termination_wait`",
}

// backticked renders values as "`a`, `b` and `c`".
func backticked(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "`" + v + "`"
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

func strategyDescription() string {
	parts := make([]string, len(apitypes.Strategies))
	for i, s := range apitypes.Strategies {
		parts[i] = "`" + s + "` " + strategyMeanings[s]
	}
	return "How a change of an endpoint's model version reaches traffic. Possible values are " + backticked(apitypes.Strategies) +
		": " + strings.Join(parts, "; ") + "."
}

const (
	onlyCanary    = " Only for strategy `canary`, which requires it."
	onlyLinear    = " Only for strategy `linear`, which requires it."
	onlyBlueGreen = " Only for strategy `blue_green`, and optional there."
	anyStrategy   = " Applies to every strategy."
	durationHint  = "a duration with a unit such as `30s`, `5m` or `250ms`"
	percentRange  = "a whole percentage from 1 to 100"
)

// deploymentPolicyDescriptions holds one full sentence per attribute, keyed by
// its path with list indexes left out. Resource and data source use the same text.
var deploymentPolicyDescriptions = map[string]string{
	"id": "Identifier of the policy; the same as `name`.",
	"name": "Name of the policy, which endpoints give in `deployment_policy`: " + apitypes.NameRule +
		". Changing it replaces the policy.",
	"description": fmt.Sprintf("Free-text description of the policy for people, 1 to %d characters.", maxPolicyDescLen),
	"strategy":    strategyDescription(),
	"steps": "Canary steps in rollout order: each moves `traffic_percent` of the traffic to the new version and holds it for `bake` " +
		"while `analysis` judges it. Percentages must ascend; promotion to 100 % follows the last step." + onlyCanary,
	"steps.traffic_percent": "Share of the traffic the new version serves during this step, " + percentRange + ", above the previous step's.",
	"steps.bake":            "How long the step holds before the next one, " + durationHint + ".",
	"linear":                "Equal-step rollout: `step_percent` more traffic every `interval` until the new version serves all of it." + onlyLinear,
	"linear.step_percent":   "Traffic added to the new version at each step, " + percentRange + ".",
	"linear.interval":       "Time between two steps, " + durationHint + ".",
	"blue_green":            "Blue/green settings." + onlyBlueGreen,
	"blue_green.termination_wait": "How long the old version keeps running after the switch so that traffic can return to it at once, " +
		durationHint + ". When unset, the old version is not kept.",
	"shadow": "Shadow phase before the new version serves any live traffic: a copy of `traffic_percent` of the live requests goes to it " +
		"for `duration`, its responses are discarded and its metrics compared with the serving version's." + anyStrategy,
	"shadow.traffic_percent": "Share of the live requests copied to the new version, " + percentRange + ".",
	"shadow.duration":        "How long the shadow phase lasts, " + durationHint + ".",
	"smoke_test": "Requests sent to the new version before it serves any live traffic; a failed expectation stops the rollout." +
		anyStrategy,
	"smoke_test.requests":      "The smoke requests, at least one, sent in order.",
	"smoke_test.requests.name": "Name of the request, shown in deployment events and errors.",
	"smoke_test.requests.body": "Body of the request: an Open Inference Protocol v2 infer request as a JSON string with at least one input, " +
		"for example `jsonencode({ inputs = [{ name = \"x\", shape = [1, 4], datatype = \"FP32\", data = [1, 2, 3, 4] }] })`.",
	"smoke_test.requests.expect_status": fmt.Sprintf("HTTP status the new version must answer with, 100 to 599 (default: `%d`).",
		apitypes.DefaultExpectStatus),
	"smoke_test.requests.expect_outputs": "Expected data of the first output tensor, compared element by element within `tolerance`. " +
		"When unset, outputs are not compared.",
	"smoke_test.requests.tolerance": "Largest allowed absolute difference between an expected and an actual output value, zero or more " +
		"(default: `0`, an exact match).",
	"analysis": "Quality gate evaluated every `interval` while the new version serves traffic; a failed gate stops the rollout, " +
		"and rolls it back when `rollback.automatic` is true." + anyStrategy,
	"analysis.interval": fmt.Sprintf("How often the gate is evaluated, at least `%s`, as %s (default: `%s`).",
		minAnalysisInterval, durationHint, apitypes.DefaultAnalysisInterval),
	"analysis.min_requests": "Requests the new version must have served in an interval before the gate judges it, zero or more (default: `0`).",
	"analysis.max_error_rate": "Largest allowed share of failed requests, a fraction from 0 to 1 (`0.01` = 1 %). " +
		"When unset, the error rate is not checked.",
	"analysis.max_latency_p99": "Largest allowed 99th-percentile latency, " + durationHint + ". When unset, latency is not checked.",
	"analysis.max_regression": "Largest allowed relative worsening of p99 latency and error rate against the version serving before, " +
		"zero or more (`0.2` = 20 % worse). When unset, the new version is not compared with the baseline.",
	"rollback": "What happens when the smoke test or the analysis gate fails." + anyStrategy,
	"rollback.automatic": fmt.Sprintf("Whether a failed gate returns all traffic to the version serving before, automatically (default: `%t`).",
		defaultRollback),
	"approval": "Approval gate before full promotion." + anyStrategy,
	"approval.required": fmt.Sprintf("Whether the rollout pauses before moving the last of the traffic until someone promotes it "+
		"through the API or the CLI (default: `%t`).", defaultApproval),
	"risk_tier": fmt.Sprintf("Risk tier of the changes deployed with this policy, by which key measures and lead-time objectives are grouped. "+
		"Possible values are %s (default: `%s`).", backticked(apitypes.RiskTiers), apitypes.DefaultRiskTier),
	"lead_time_objective": "Target time from registering a model version to it serving all traffic, " + durationHint +
		"; the measured lead time is reported against it. When unset, there is no objective.",
	"freeze_windows": fmt.Sprintf("Periods in which endpoints that use the policy refuse deployments: while a window is open, "+
		"a change of an endpoint's `model_version` or `traffic_split` (and the creation of an endpoint) fails with an error naming "+
		"the window, and nothing is changed. Other endpoint changes, such as `replicas`, still apply. At most %d windows."+anyStrategy,
		apitypes.MaxFreezeWindows),
	"freeze_windows.start": "When the window opens, inclusive, as an RFC 3339 timestamp such as `2026-12-20T00:00:00Z`.",
	"freeze_windows.end": "When the window closes, exclusive, as an RFC 3339 timestamp after `start`, such as " +
		"`2026-12-27T00:00:00Z`.",
	"freeze_windows.reason": fmt.Sprintf("Why deployments are frozen, up to %d characters; shown in the error that refuses a deployment.",
		apitypes.MaxFreezeReasonLen),
	"revision":   "Revision of the policy on the server, raised by every change; updates send it so that concurrent changes are refused.",
	"created_at": "When the policy was created, in RFC 3339 format.",
	"updated_at": "When the policy was last changed, in RFC 3339 format.",
}

const deploymentPolicySemantics = "The rollout semantics (steps, shadow, smoke test, analysis, rollback, approval) are enforced by the " +
	"server's rollout engine whenever an endpoint that uses the policy changes its model version; Terraform stores and validates the policy."

// ---------------------------------------------------------------------------
// Validators shared with apitypes
// ---------------------------------------------------------------------------

// durationValidator accepts what apitypes.ParseDuration accepts, at least min.
type durationValidator struct{ min time.Duration }

var _ validator.String = durationValidator{}

func (v durationValidator) Description(context.Context) string {
	if v.min > 0 {
		return fmt.Sprintf("must be %s of at least %s", durationHint, v.min)
	}
	return "must be " + durationHint
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	d, err := apitypes.ParseDuration(req.Path.String(), s)
	if err != nil {
		msg := err.Error()
		var apiErr *apitypes.Error
		if errors.As(err, &apiErr) {
			msg = apiErr.Message // the path is shown next to it already
		}
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value", msg)
		return
	}
	if d < v.min {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value",
			fmt.Sprintf("%q is too short; use at least %s", s, v.min))
	}
}

// rfc3339Validator accepts an RFC 3339 timestamp.
type rfc3339Validator struct{}

var _ validator.String = rfc3339Validator{}

func (rfc3339Validator) Description(context.Context) string {
	return "must be an RFC 3339 timestamp such as `2026-12-20T00:00:00Z`"
}

func (v rfc3339Validator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (rfc3339Validator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := time.Parse(time.RFC3339, req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value",
			fmt.Sprintf("%q is not an RFC 3339 timestamp; write it like 2026-12-20T00:00:00Z or 2026-12-20T09:00:00+01:00", req.ConfigValue.ValueString()))
	}
}

// jsonObjectValidator accepts a JSON object; apitypes' Validate (run by
// ValidateConfig) then checks it is an infer request.
type jsonObjectValidator struct{}

var _ validator.String = jsonObjectValidator{}

func (jsonObjectValidator) Description(context.Context) string { return "must be a JSON object" }

func (v jsonObjectValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (jsonObjectValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(req.ConfigValue.ValueString()), &obj); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value",
			fmt.Sprintf("is not a JSON object (%v); write the Open Inference Protocol v2 infer request with jsonencode({ inputs = [...] }).", err))
	}
}

// ---------------------------------------------------------------------------
// Expand
// ---------------------------------------------------------------------------

// policyExpander converts the model to the wire type. It notes whether any
// value it needed was unknown, so that ValidateConfig can skip the check.
type policyExpander struct {
	ctx     context.Context
	diags   diag.Diagnostics
	unknown bool
}

func (e *policyExpander) str(v types.String) string {
	e.unknown = e.unknown || v.IsUnknown()
	return v.ValueString()
}

func (e *policyExpander) int(v types.Int64) int {
	e.unknown = e.unknown || v.IsUnknown()
	return int(v.ValueInt64())
}

func (e *policyExpander) float(v types.Float64) float64 {
	e.unknown = e.unknown || v.IsUnknown()
	return v.ValueFloat64()
}

func (e *policyExpander) floatPtr(v types.Float64) *float64 {
	e.unknown = e.unknown || v.IsUnknown()
	if v.IsNull() || v.IsUnknown() {
		return nil
	}
	f := v.ValueFloat64()
	return &f
}

// bool reads a boolean. A plan always holds one, defaults applied; only a
// configuration can hold null, and Validate does not depend on booleans.
func (e *policyExpander) bool(v types.Bool) bool {
	e.unknown = e.unknown || v.IsUnknown()
	return v.ValueBool()
}

// object decodes a known, non-null object into target and reports whether it did.
func (e *policyExpander) object(v types.Object, target any) bool {
	if v.IsUnknown() {
		e.unknown = true
		return false
	}
	if v.IsNull() {
		return false
	}
	e.diags.Append(v.As(e.ctx, target, basetypes.ObjectAsOptions{})...)
	return !e.diags.HasError()
}

// objects returns the elements of a known list of objects; unknown elements
// are noted and left out.
func (e *policyExpander) objects(v types.List) []types.Object {
	if v.IsUnknown() {
		e.unknown = true
		return nil
	}
	if v.IsNull() {
		return nil
	}
	var elems []types.Object
	e.diags.Append(v.ElementsAs(e.ctx, &elems, false)...)
	return elems
}

// time parses an RFC 3339 timestamp. An invalid one is left zero: its
// attribute validator reports it.
func (e *policyExpander) time(v types.String) time.Time {
	e.unknown = e.unknown || v.IsUnknown()
	t, err := time.Parse(time.RFC3339, v.ValueString())
	if err != nil {
		return time.Time{}
	}
	return t
}

func (e *policyExpander) floats(v types.List) []float64 {
	if v.IsUnknown() {
		e.unknown = true
		return nil
	}
	if v.IsNull() {
		return nil
	}
	var elems []types.Float64
	e.diags.Append(v.ElementsAs(e.ctx, &elems, false)...)
	out := make([]float64, len(elems))
	for i, f := range elems {
		out[i] = e.float(f)
	}
	return out
}

// expandDeploymentPolicy converts a plan or configuration to the wire type.
// known is false when any value it holds is still unknown.
func expandDeploymentPolicy(ctx context.Context, m deploymentPolicyModel) (p *apitypes.DeploymentPolicy, known bool, diags diag.Diagnostics) {
	e := &policyExpander{ctx: ctx}
	p = &apitypes.DeploymentPolicy{
		Name:              e.str(m.Name),
		Description:       e.str(m.Description),
		Strategy:          e.str(m.Strategy),
		RiskTier:          e.str(m.RiskTier),
		LeadTimeObjective: e.str(m.LeadTimeObjective),
	}
	for _, o := range e.objects(m.Steps) {
		var s stepModel
		if e.object(o, &s) {
			p.Steps = append(p.Steps, apitypes.CanaryStep{TrafficPercent: e.int(s.TrafficPercent), Bake: e.str(s.Bake)})
		}
	}
	for _, o := range e.objects(m.FreezeWindows) {
		var w freezeWindowModel
		if e.object(o, &w) {
			p.FreezeWindows = append(p.FreezeWindows, apitypes.FreezeWindow{
				Start: e.time(w.Start), End: e.time(w.End), Reason: e.str(w.Reason),
			})
		}
	}
	var lin linearModel
	if e.object(m.Linear, &lin) {
		p.Linear = &apitypes.Linear{StepPercent: e.int(lin.StepPercent), Interval: e.str(lin.Interval)}
	}
	var bg blueGreenModel
	if e.object(m.BlueGreen, &bg) {
		p.BlueGreen = &apitypes.BlueGreen{TerminationWait: e.str(bg.TerminationWait)}
	}
	var sh shadowModel
	if e.object(m.Shadow, &sh) {
		p.Shadow = &apitypes.Shadow{TrafficPercent: e.int(sh.TrafficPercent), Duration: e.str(sh.Duration)}
	}
	var st smokeTestModel
	if e.object(m.SmokeTest, &st) {
		p.SmokeTest = &apitypes.SmokeTest{Requests: []apitypes.SmokeRequest{}}
		for _, o := range e.objects(st.Requests) {
			var r smokeRequestModel
			if e.object(o, &r) {
				p.SmokeTest.Requests = append(p.SmokeTest.Requests, apitypes.SmokeRequest{
					Name:          e.str(r.Name),
					Body:          e.str(r.Body),
					ExpectStatus:  e.int(r.ExpectStatus),
					ExpectOutputs: e.floats(r.ExpectOutputs),
					Tolerance:     e.float(r.Tolerance),
				})
			}
		}
	}
	var an analysisModel
	if e.object(m.Analysis, &an) {
		p.Analysis = &apitypes.Analysis{
			Interval:      e.str(an.Interval),
			MinRequests:   e.int(an.MinRequests),
			MaxErrorRate:  e.floatPtr(an.MaxErrorRate),
			MaxLatencyP99: e.str(an.MaxLatencyP99),
			MaxRegression: e.floatPtr(an.MaxRegression),
		}
	}
	var rb rollbackModel
	if e.object(m.Rollback, &rb) {
		p.Rollback = &apitypes.Rollback{Automatic: e.bool(rb.Automatic)}
	}
	var ap approvalModel
	if e.object(m.Approval, &ap) {
		p.Approval = &apitypes.Approval{Required: e.bool(ap.Required)}
	}
	if !m.Revision.IsUnknown() {
		p.Revision = m.Revision.ValueInt64()
	}
	return p, !e.unknown, e.diags
}

// ---------------------------------------------------------------------------
// Flatten
// ---------------------------------------------------------------------------

func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func optFloat(f *float64) types.Float64 {
	if f == nil {
		return types.Float64Null()
	}
	return types.Float64Value(*f)
}

func timeString(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339Nano))
}

// objectOrNull builds an object of attrTypes from model, or a null one when present is false.
func objectOrNull(ctx context.Context, attrTypes map[string]attr.Type, present bool, model any, diags *diag.Diagnostics) types.Object {
	if !present {
		return types.ObjectNull(attrTypes)
	}
	v, d := types.ObjectValueFrom(ctx, attrTypes, model)
	diags.Append(d...)
	return v
}

// sameTime returns prior when it is a timestamp equal to t, so that the
// user's spelling (offset, fraction) stays in state; t in UTC otherwise.
func sameTime(prior types.String, t time.Time) types.String {
	if !prior.IsNull() && !prior.IsUnknown() {
		if pt, err := time.Parse(time.RFC3339, prior.ValueString()); err == nil && pt.Equal(t) {
			return prior
		}
	}
	return types.StringValue(t.UTC().Format(time.RFC3339Nano))
}

// flattenDeploymentPolicy writes every attribute of p into m. Timestamps the
// user wrote keep their spelling when they still mean the server's time.
func flattenDeploymentPolicy(ctx context.Context, p *apitypes.DeploymentPolicy, m *deploymentPolicyModel) diag.Diagnostics {
	var diags diag.Diagnostics

	var priorWindows []freezeWindowModel
	if !m.FreezeWindows.IsNull() && !m.FreezeWindows.IsUnknown() {
		diags.Append(m.FreezeWindows.ElementsAs(ctx, &priorWindows, false)...)
	}
	windowType := types.ObjectType{AttrTypes: freezeWindowAttrTypes}
	if len(p.FreezeWindows) == 0 {
		m.FreezeWindows = types.ListNull(windowType)
	} else {
		windows := make([]freezeWindowModel, len(p.FreezeWindows))
		for i, w := range p.FreezeWindows {
			prior := freezeWindowModel{Start: types.StringNull(), End: types.StringNull()}
			if i < len(priorWindows) {
				prior = priorWindows[i]
			}
			windows[i] = freezeWindowModel{Start: sameTime(prior.Start, w.Start), End: sameTime(prior.End, w.End), Reason: optString(w.Reason)}
		}
		var d diag.Diagnostics
		m.FreezeWindows, d = types.ListValueFrom(ctx, windowType, windows)
		diags.Append(d...)
	}

	m.ID = types.StringValue(p.Name)
	m.Name = types.StringValue(p.Name)
	m.Description = optString(p.Description)
	m.Strategy = types.StringValue(p.Strategy)
	m.RiskTier = optString(p.RiskTier)
	m.LeadTimeObjective = optString(p.LeadTimeObjective)
	m.Revision = types.Int64Value(p.Revision)
	m.CreatedAt = timeString(p.CreatedAt)
	m.UpdatedAt = timeString(p.UpdatedAt)

	stepType := types.ObjectType{AttrTypes: stepAttrTypes}
	if len(p.Steps) == 0 {
		m.Steps = types.ListNull(stepType)
	} else {
		steps := make([]stepModel, len(p.Steps))
		for i, s := range p.Steps {
			steps[i] = stepModel{TrafficPercent: types.Int64Value(int64(s.TrafficPercent)), Bake: types.StringValue(s.Bake)}
		}
		var d diag.Diagnostics
		m.Steps, d = types.ListValueFrom(ctx, stepType, steps)
		diags.Append(d...)
	}

	var lin linearModel
	if l := p.Linear; l != nil {
		lin = linearModel{StepPercent: types.Int64Value(int64(l.StepPercent)), Interval: types.StringValue(l.Interval)}
	}
	m.Linear = objectOrNull(ctx, linearAttrTypes, p.Linear != nil, lin, &diags)

	var bg blueGreenModel
	if b := p.BlueGreen; b != nil {
		bg = blueGreenModel{TerminationWait: optString(b.TerminationWait)}
	}
	m.BlueGreen = objectOrNull(ctx, blueGreenAttrTypes, p.BlueGreen != nil, bg, &diags)

	var sh shadowModel
	if s := p.Shadow; s != nil {
		sh = shadowModel{TrafficPercent: types.Int64Value(int64(s.TrafficPercent)), Duration: types.StringValue(s.Duration)}
	}
	m.Shadow = objectOrNull(ctx, shadowAttrTypes, p.Shadow != nil, sh, &diags)

	var st smokeTestModel
	if s := p.SmokeTest; s != nil {
		reqs := make([]smokeRequestModel, len(s.Requests))
		for i, r := range s.Requests {
			outputs := types.ListNull(types.Float64Type)
			if len(r.ExpectOutputs) > 0 {
				var d diag.Diagnostics
				outputs, d = types.ListValueFrom(ctx, types.Float64Type, r.ExpectOutputs)
				diags.Append(d...)
			}
			status := r.ExpectStatus
			if status == 0 {
				status = apitypes.DefaultExpectStatus
			}
			reqs[i] = smokeRequestModel{
				Name:          types.StringValue(r.Name),
				Body:          types.StringValue(r.Body),
				ExpectStatus:  types.Int64Value(int64(status)),
				ExpectOutputs: outputs,
				Tolerance:     types.Float64Value(r.Tolerance),
			}
		}
		var d diag.Diagnostics
		st.Requests, d = types.ListValueFrom(ctx, types.ObjectType{AttrTypes: smokeRequestAttrTypes}, reqs)
		diags.Append(d...)
	}
	m.SmokeTest = objectOrNull(ctx, smokeTestAttrTypes, p.SmokeTest != nil, st, &diags)

	var an analysisModel
	if a := p.Analysis; a != nil {
		interval := a.Interval
		if interval == "" {
			interval = apitypes.DefaultAnalysisInterval
		}
		an = analysisModel{
			Interval:      types.StringValue(interval),
			MinRequests:   types.Int64Value(int64(a.MinRequests)),
			MaxErrorRate:  optFloat(a.MaxErrorRate),
			MaxLatencyP99: optString(a.MaxLatencyP99),
			MaxRegression: optFloat(a.MaxRegression),
		}
	}
	m.Analysis = objectOrNull(ctx, analysisAttrTypes, p.Analysis != nil, an, &diags)

	var rb rollbackModel
	if r := p.Rollback; r != nil {
		rb = rollbackModel{Automatic: types.BoolValue(r.Automatic)}
	}
	m.Rollback = objectOrNull(ctx, rollbackAttrTypes, p.Rollback != nil, rb, &diags)

	var ap approvalModel
	if a := p.Approval; a != nil {
		ap = approvalModel{Required: types.BoolValue(a.Required)}
	}
	m.Approval = objectOrNull(ctx, approvalAttrTypes, p.Approval != nil, ap, &diags)

	return diags
}
