package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Unit tests of what the endpoint tells at plan time: the rollout summary
// warning and the plan of deployment_id.

func rolloutTestFloat(f float64) *float64 { return &f }

// The policies of examples/resources/slipway_deployment_policy, and the
// one TestAccModelEndpoint_contract creates.
var (
	rolloutTestSafe = &apitypes.DeploymentPolicy{
		Name: "safe", Strategy: "canary",
		Steps:    []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "30s"}, {TrafficPercent: 50, Bake: "30s"}},
		Analysis: &apitypes.Analysis{Interval: "5s", MinRequests: 20, MaxErrorRate: rolloutTestFloat(0.01), MaxLatencyP99: "250ms"},
		Rollback: &apitypes.Rollback{Automatic: true},
	}
	rolloutTestContract = &apitypes.DeploymentPolicy{
		Name: "safe", Strategy: "canary",
		Steps:    []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "1m"}},
		Rollback: &apitypes.Rollback{Automatic: true},
		Approval: &apitypes.Approval{Required: false},
	}
	rolloutTestGradual = &apitypes.DeploymentPolicy{
		Name: "gradual", Strategy: "linear",
		Linear:   &apitypes.Linear{StepPercent: 20, Interval: "1m"},
		Analysis: &apitypes.Analysis{MinRequests: 100, MaxErrorRate: rolloutTestFloat(0.005), MaxRegression: rolloutTestFloat(0.2)},
		Rollback: &apitypes.Rollback{Automatic: true},
		Approval: &apitypes.Approval{Required: true},
	}
	rolloutTestSwitch = &apitypes.DeploymentPolicy{
		Name: "switch", Strategy: "blue_green",
		BlueGreen: &apitypes.BlueGreen{TerminationWait: "10m"},
		Shadow:    &apitypes.Shadow{TrafficPercent: 25, Duration: "5m"},
		SmokeTest: &apitypes.SmokeTest{Requests: []apitypes.SmokeRequest{{Name: "known-answer", Body: `{"inputs":[]}`}}},
		Analysis:  &apitypes.Analysis{Interval: "30s", MaxLatencyP99: "1s"},
		Rollback:  &apitypes.Rollback{Automatic: false},
	}
)

func TestUnitModelEndpointRolloutSummary(t *testing.T) {
	t.Parallel()
	serving := map[string]int{"fraud/1": 100}
	target := map[string]int{"fraud/2": 100}
	update := func(p policyPreview) rolloutPreview {
		return rolloutPreview{Endpoint: "fraud", Serving: serving, Target: target, Version: "fraud/2", Policy: p, Wait: true,
			Timeout: modelEndpointUpdateTimeout, TimeoutAttr: "timeouts.update"}
	}
	const waits = "\n\nApply waits until the deployment ends, up to timeouts.update (20m). " +
		"If it does not succeed, apply fails with the reason and state records what serves instead."

	for name, tc := range map[string]struct {
		pv   rolloutPreview
		want string // the whole text, when set
		has  []string
		not  []string
	}{
		"canary": {
			pv: update(policyPreview{Name: "safe", Policy: rolloutTestSafe}),
			want: `This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/2, under deployment policy "safe" as the server holds it now:
  - strategy canary, steps: 10% for 30s → 50% for 30s → 100%
  - analysis every 5s, judged on at least 20 requests per window: error rate at most 1%, p99 latency at most 250ms
  - automatic rollback: a failed smoke test or gate puts all traffic back on fraud/1
  - no approval required
  - estimated duration: about 1m plus replica start-up` + waits,
		},
		"contract canary without analysis": {
			pv: update(policyPreview{Name: "safe", Policy: rolloutTestContract}),
			want: `This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/2, under deployment policy "safe" as the server holds it now:
  - strategy canary, steps: 10% for 1m → 100%
  - no analysis gate: bakes are waited out, not judged
  - automatic rollback: a failed smoke test or gate puts all traffic back on fraud/1
  - no approval required
  - estimated duration: about 1m plus replica start-up` + waits,
		},
		"linear with approval and a timeout too short": {
			pv: func() rolloutPreview {
				pv := update(policyPreview{Name: "gradual", Policy: rolloutTestGradual})
				pv.Timeout = 3 * time.Minute
				return pv
			}(),
			has: []string{
				"  - strategy linear, +20% every 1m: 20% → 40% → 60% → 80% → 100%\n",
				"  - analysis every 10s, judged on at least 100 requests per window: error rate at most 0.5%, " +
					"p99 latency and error rate at most 20% worse than fraud/1's\n",
				"  - approval required: the deployment pauses before 100% until someone runs `slipway deployments promote <id>`, and apply waits for that\n",
				"  - estimated duration: about 4m plus replica start-up and the wait for approval\n",
				"up to timeouts.update (3m). ",
				"The estimated 4m exceeds that: raise timeouts.update, or set wait_for_rollout = false.",
			},
		},
		"linear in many steps": {
			pv: update(policyPreview{Name: "slow", Policy: &apitypes.DeploymentPolicy{
				Strategy: "linear", Linear: &apitypes.Linear{StepPercent: 5, Interval: "30s"},
			}}),
			has: []string{
				"  - strategy linear, +5% every 30s over 19 steps, then 100%\n",
				"  - estimated duration: about 9m30s plus replica start-up\n",
			},
		},
		"blue/green with shadow and smoke test, no automatic rollback, not waiting": {
			pv: func() rolloutPreview {
				pv := update(policyPreview{Name: "switch", Policy: rolloutTestSwitch})
				pv.Wait = false
				return pv
			}(),
			want: `This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/2, under deployment policy "switch" as the server holds it now:
  - strategy blue_green: fraud/2 starts as a full standby, then takes all traffic at once; fraud/1 stays ready for 10m (termination wait) so traffic can go back to it at once
  - shadow: 25% of live traffic is copied to fraud/2 for 5m before it serves any; its answers are discarded and its metrics compared with fraud/1's
  - smoke test: 1 request must be answered as expected before any live traffic
  - analysis every 30s, judged on at least 1 request per window (smoke requests make up thin live traffic): p99 latency at most 1s
  - no automatic rollback (rollback.automatic = false): a failed gate holds traffic where it is until someone promotes or aborts the deployment
  - no approval required
  - estimated duration: about 15m plus replica start-up

Apply returns once the server has recorded the deployment (wait_for_rollout = false), with its ID in deployment_id; ` +
				"follow it with `slipway deployments watch fraud`. The next refresh shows its progress in status, and a rollback as a change to apply again.",
		},
		"blue/green without termination wait": {
			pv: update(policyPreview{Name: "bg", Policy: &apitypes.DeploymentPolicy{Strategy: "blue_green"}}),
			has: []string{
				"  - strategy blue_green: fraud/2 starts as a full standby, then takes all traffic at once; fraud/1 is not kept (no termination wait)\n",
				"  - no analysis gate\n",
				"  - estimated duration: about 0s plus replica start-up\n",
			},
		},
		"all_at_once with an analysis that never runs": {
			pv: update(policyPreview{Name: "now", Policy: &apitypes.DeploymentPolicy{
				Strategy: "all_at_once", Analysis: &apitypes.Analysis{Interval: "1s", MaxErrorRate: rolloutTestFloat(0.1)},
			}}),
			has: []string{
				"  - strategy all_at_once: all traffic switches at once once the new version is ready\n",
				"  - analysis gate not applied: no step holds traffic long enough to judge it\n",
			},
		},
		"no policy": {
			pv: update(policyPreview{}),
			want: `This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/2, without a deployment policy: ` +
				"it switches all traffic at once once the new version is ready." + waits,
		},
		"policy created in the same plan": {
			pv: rolloutPreview{Endpoint: "fraud", Create: true, Target: map[string]int{"fraud/1": 100}, Policy: policyPreview{Name: "safe", Missing: true},
				Wait: true, Timeout: modelEndpointCreateTimeout, TimeoutAttr: "timeouts.create"},
			want: `Creating model endpoint "fraud" starts its first deployment, of fraud/1, under deployment policy "safe", ` +
				"which is created in this plan (it is not on the server yet); its rollout starts when applied.\n\n" +
				"Apply waits until the deployment ends, up to timeouts.create (20m). If it does not succeed, apply fails with the reason and state records what serves instead.",
		},
		"policy unknown until apply": {
			pv:  update(policyPreview{Unknown: true}),
			has: []string{"from fraud/1 to fraud/2, under a deployment policy known only after apply; its rollout starts when applied."},
		},
		"policy unreadable": {
			pv:  update(policyPreview{Name: "safe", Err: apitypes.Errorf(apitypes.CodeForbidden, "token lacks the reader role")}),
			has: []string{`under deployment policy "safe", whose settings could not be read to summarise the rollout: token lacks the reader role.`},
		},
		"first deployment of a new endpoint": {
			pv: rolloutPreview{Endpoint: "fraud", Create: true, Target: map[string]int{"fraud/1": 100},
				Policy: policyPreview{Name: "switch", Policy: &apitypes.DeploymentPolicy{
					Strategy: "blue_green", SmokeTest: rolloutTestSwitch.SmokeTest, Approval: &apitypes.Approval{Required: true},
				}},
				Wait: true, Timeout: modelEndpointCreateTimeout, TimeoutAttr: "timeouts.create"},
			has: []string{`Creating model endpoint "fraud" starts its first deployment, of fraud/1, under deployment policy "switch" (strategy blue_green). ` +
				"A new endpoint has no traffic to protect: once its replicas are ready and the smoke test of 1 request passes, it takes all traffic at once, " +
				"after approval (`slipway deployments promote <id>`). The policy's steps, shadow and analysis apply to changes of the model version.\n\n"},
			not: []string{"estimated", "steps:"},
		},
		"an endpoint that serves nothing yet, to a split": {
			pv: rolloutPreview{Endpoint: "fraud", Target: map[string]int{"fraud/1": 90, "fraud/2": 10}, Policy: policyPreview{Name: "safe", Policy: rolloutTestSafe},
				Wait: true, Timeout: modelEndpointUpdateTimeout, TimeoutAttr: "timeouts.update"},
			has: []string{`This change starts a deployment of fraud/1 at 90%, fraud/2 at 10% to model endpoint "fraud", which serves nothing now, ` +
				`under deployment policy "safe" (strategy canary). A new endpoint has no traffic to protect`},
		},
		"a change of the split alone": {
			pv: rolloutPreview{Endpoint: "fraud", Serving: serving, Target: map[string]int{"fraud/1": 90, "fraud/2": 10}, Version: "fraud/1",
				Policy: policyPreview{Name: "safe", Policy: rolloutTestSafe}, Wait: true, Timeout: modelEndpointUpdateTimeout, TimeoutAttr: "timeouts.update"},
			want: `This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/1 at 90%, fraud/2 at 10%, under deployment policy "safe" (strategy canary). ` +
				"Only the split changes and fraud/1 stays the model version, so there is nothing to move gradually: once the replicas are ready, " +
				"the new split takes effect at once. The policy's steps, shadow and analysis apply to changes of the model version." + waits,
		},
		"a target unknown until apply": {
			pv:  rolloutPreview{Endpoint: "fraud", Serving: serving, Wait: true, Timeout: time.Minute, TimeoutAttr: "timeouts.update"},
			has: []string{`from fraud/1 to a target known only after apply, without a deployment policy`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := tc.pv.String()
			if tc.want != "" && got != tc.want {
				t.Errorf("summary:\n%s\n\nwant:\n%s", got, tc.want)
			}
			for _, s := range tc.has {
				if !strings.Contains(got, s) {
					t.Errorf("summary:\n%s\n\nwant it to contain:\n%s", got, s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(got, s) {
					t.Errorf("summary:\n%s\n\nwant it not to contain %q", got, s)
				}
			}
		})
	}
}

func TestUnitModelEndpointRolloutStages(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		p     *apitypes.DeploymentPolicy
		first bool
		want  string
		est   time.Duration
	}{
		"no policy":          {nil, false, "100%", 0},
		"canary":             {rolloutTestSafe, false, "10% for 30s → 50% for 30s → 100%", time.Minute},
		"canary to 100":      {&apitypes.DeploymentPolicy{Strategy: "canary", Steps: []apitypes.CanaryStep{{TrafficPercent: 50, Bake: "1s"}, {TrafficPercent: 100, Bake: "2s"}}}, false, "50% for 1s → 100% for 2s", 3 * time.Second},
		"first of a canary":  {rolloutTestSafe, true, "100%", 0},
		"linear":             {rolloutTestGradual, false, "20% for 1m → 40% for 1m → 60% for 1m → 80% for 1m → 100%", 4 * time.Minute},
		"linear odd step":    {&apitypes.DeploymentPolicy{Strategy: "linear", Linear: &apitypes.Linear{StepPercent: 30, Interval: "10s"}}, false, "30% for 10s → 60% for 10s → 90% for 10s → 100%", 30 * time.Second},
		"blue/green+shadow":  {rolloutTestSwitch, false, "100% for 10m", 15 * time.Minute},
		"first blue/green":   {rolloutTestSwitch, true, "100%", 0},
		"all at once":        {&apitypes.DeploymentPolicy{Strategy: "all_at_once"}, false, "100%", 0},
		"all at once+shadow": {&apitypes.DeploymentPolicy{Strategy: "all_at_once", Shadow: &apitypes.Shadow{TrafficPercent: 5, Duration: "90s"}}, false, "100%", 90 * time.Second},
	} {
		if got := stagesWords(rolloutStages(tc.p, tc.first)); got != tc.want {
			t.Errorf("%s: stages %q, want %q", name, got, tc.want)
		}
		if got := rolloutEstimate(tc.p, tc.first); got != tc.est {
			t.Errorf("%s: estimate %s, want %s", name, got, tc.est)
		}
	}
	for in, want := range map[time.Duration]string{
		time.Minute: "1m", 90 * time.Second: "1m30s", time.Hour: "1h", 250 * time.Millisecond: "250ms", 0: "0s", 72 * time.Hour: "72h",
	} {
		if got := shortDuration(in); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0.01: "1%", 0.005: "0.5%", 0.2: "20%", 0: "0%", 1: "100%", 0.0125: "1.25%"} {
		if got := percentWords(in); got != want {
			t.Errorf("percentWords(%v) = %q, want %q", in, got, want)
		}
	}
}

// ModifyPlan, called the way the framework calls it, with a client that
// answers policy reads from a fake API.

func rolloutTestClient(t *testing.T, policies ...*apitypes.DeploymentPolicy) *client.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		name, ok := strings.CutPrefix(r.URL.Path, "/v1/policies/")
		if r.Method != http.MethodGet || !ok {
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(`{"code":"invalid","message":"unexpected call"}`))
			return
		}
		for _, p := range policies {
			if p.Name == name {
				_ = json.NewEncoder(w).Encode(p)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"not_found","message":"deployment policy \"` + name + `\" not found"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Address: srv.URL, Token: "t", Source: "terraform", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rolloutTestState is an endpoint as a refresh records it: serving fraud/1.
func rolloutTestState() modelEndpointResourceModel {
	m := endpointTestModel()
	m.ID = types.StringValue("fraud")
	m.ModelVersion = types.StringValue("fraud/1")
	m.DeploymentPolicy = types.StringValue("safe")
	m.Replicas = endpointDefaultReplicas
	m.RequestTimeout = types.StringValue("30s")
	m.URL = types.StringValue("http://gw/v2/models/fraud")
	m.Revision = types.Int64Value(4)
	m.WaitForRollout = types.BoolValue(true)
	m.DeploymentID = types.StringValue("dep-000000000001")
	status, diags := flattenEndpointStatus(apitypes.EndpointStatus{
		Phase: apitypes.PhaseReady, URL: "http://gw/v2/models/fraud", CurrentDeployment: "dep-000000000001",
		Traffic: []apitypes.TrafficStatus{{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}},
	})
	if diags.HasError() {
		panic(diags)
	}
	m.Status = status
	return m
}

// rolloutTestPlanned is state changed by change, with the computed values
// a plan leaves unknown.
func rolloutTestPlanned(change func(m *modelEndpointResourceModel)) modelEndpointResourceModel {
	m := rolloutTestState()
	m.Revision = types.Int64Unknown()
	m.Status = types.ObjectUnknown(endpointStatusAttrTypes)
	m.DeploymentID = types.StringUnknown()
	if change != nil {
		change(&m)
	}
	return m
}

// rolloutTestModifyPlan runs ModifyPlan from state (nil: create) to plan
// (nil: destroy) and returns its diagnostics.
func rolloutTestModifyPlan(t *testing.T, c *client.Client, state, plan *modelEndpointResourceModel) diag.Diagnostics {
	t.Helper()
	ctx := context.Background()
	r, sch := endpointTestSchemaResource(t)
	r.client = c
	raw := func(m *modelEndpointResourceModel) tftypes.Value {
		s := tfsdk.State{Schema: sch.Schema, Raw: tftypes.NewValue(sch.Schema.Type().TerraformType(ctx), nil)}
		if m != nil {
			if diags := s.Set(ctx, m); diags.HasError() {
				t.Fatalf("building a value: %v", diags)
			}
		}
		return s.Raw
	}
	req := fwresource.ModifyPlanRequest{
		State: tfsdk.State{Schema: sch.Schema, Raw: raw(state)},
		Plan:  tfsdk.Plan{Schema: sch.Schema, Raw: raw(plan)},
	}
	req.Config = tfsdk.Config{Schema: sch.Schema, Raw: req.Plan.Raw}
	resp := fwresource.ModifyPlanResponse{Plan: req.Plan}
	r.ModifyPlan(ctx, req, &resp)
	return resp.Diagnostics
}

func TestUnitModelEndpointModifyPlan(t *testing.T) {
	t.Parallel()
	state := rolloutTestState()
	for name, tc := range map[string]struct {
		noClient bool
		state    *modelEndpointResourceModel
		plan     *modelEndpointResourceModel
		want     string // words of the warning; "" for none
	}{
		"a new version": {
			state: &state,
			plan:  ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) { m.ModelVersion = types.StringValue("fraud/2") })),
			want: `This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/2, under deployment policy "safe" as the server holds it now:
  - strategy canary, steps: 10% for 30s → 50% for 30s → 100%
`,
		},
		"a new split": {
			state: &state,
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/1", 90), endpointTestWeight("fraud/2", 10))
			})),
			want: `from fraud/1 to fraud/1 at 90%, fraud/2 at 10%, under deployment policy "safe" (strategy canary). Only the split changes`,
		},
		"a version known only after apply": {
			state: &state,
			plan:  ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) { m.ModelVersion = types.StringUnknown() })),
			want:  "from fraud/1 to a target known only after apply",
		},
		"a create without a policy": {
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.DeploymentPolicy = types.StringNull()
				m.ID, m.URL = types.StringUnknown(), types.StringUnknown()
			})),
			want: `Creating model endpoint "fraud" starts its first deployment, of fraud/1, without a deployment policy: it switches all traffic at once once the new version is ready.`,
		},
		"a create with a policy created in the same plan": {
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) { m.DeploymentPolicy = types.StringValue("brand-new") })),
			want: `under deployment policy "brand-new", which is created in this plan (it is not on the server yet); its rollout starts when applied.`,
		},
		"not waiting": {
			state: &state,
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.ModelVersion = types.StringValue("fraud/2")
				m.WaitForRollout = types.BoolValue(false)
			})),
			want: "Apply returns once the server has recorded the deployment (wait_for_rollout = false)",
		},
		"replicas only": {
			state: &state,
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.Replicas = endpointTestReplicas(types.Int64Value(2), types.Int64Value(4))
			})),
		},
		"the policy only": {
			state: &state,
			plan:  ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) { m.DeploymentPolicy = types.StringNull() })),
		},
		"the same split in another order": {
			state: func() *modelEndpointResourceModel {
				s := rolloutTestState()
				s.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/1", 90), endpointTestWeight("fraud/2", 10))
				return &s
			}(),
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/2", 10), endpointTestWeight("fraud/1", 90))
			})),
		},
		"a rename (Terraform plans the create again)": {
			state: &state,
			plan: ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.Name = types.StringValue("fraud-eu")
				m.ModelVersion = types.StringValue("fraud/2")
			})),
		},
		"a destroy": {state: &state},
		"an unconfigured provider": {
			noClient: true,
			state:    &state,
			plan:     ptrTo(rolloutTestPlanned(func(m *modelEndpointResourceModel) { m.ModelVersion = types.StringValue("fraud/2") })),
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var c *client.Client
			if !tc.noClient {
				c = rolloutTestClient(t, rolloutTestSafe)
			}
			diags := rolloutTestModifyPlan(t, c, tc.state, tc.plan)
			if diags.HasError() {
				t.Fatalf("ModifyPlan: %v", diags)
			}
			warnings := diags.Warnings()
			if tc.want == "" {
				if len(warnings) > 0 {
					t.Fatalf("want no warning, got %v", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("want one warning, got %v", diags)
			}
			if got := warnings[0].Summary(); got != rolloutPlanSummary {
				t.Errorf("summary %q, want %q", got, rolloutPlanSummary)
			}
			if got := warnings[0].Detail(); !strings.Contains(got, tc.want) {
				t.Errorf("warning:\n%s\n\nwant it to contain:\n%s", got, tc.want)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestUnitModelEndpointDeploymentIDPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, sch := endpointTestSchemaResource(t)
	toRaw := func(m *modelEndpointResourceModel) tftypes.Value {
		s := tfsdk.State{Schema: sch.Schema, Raw: tftypes.NewValue(sch.Schema.Type().TerraformType(ctx), nil)}
		if m != nil {
			if diags := s.Set(ctx, m); diags.HasError() {
				t.Fatal(diags)
			}
		}
		return s.Raw
	}
	state := rolloutTestState()
	for name, tc := range map[string]struct {
		state *modelEndpointResourceModel
		plan  modelEndpointResourceModel
		want  attr.Value
	}{
		"replicas only keep it": {
			state: &state,
			plan: rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.Replicas = endpointTestReplicas(types.Int64Value(1), types.Int64Value(3))
			}),
			want: types.StringValue("dep-000000000001"),
		},
		"a new version makes it unknown": {
			state: &state,
			plan:  rolloutTestPlanned(func(m *modelEndpointResourceModel) { m.ModelVersion = types.StringValue("fraud/2") }),
			want:  types.StringUnknown(),
		},
		"a new split makes it unknown": {
			state: &state,
			plan: rolloutTestPlanned(func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/1", 50), endpointTestWeight("fraud/2", 50))
			}),
			want: types.StringUnknown(),
		},
		"a create leaves it unknown": {
			plan: rolloutTestPlanned(nil),
			want: types.StringUnknown(),
		},
	} {
		req := planmodifier.StringRequest{
			Path:       path.Root("deployment_id"),
			State:      tfsdk.State{Schema: sch.Schema, Raw: toRaw(tc.state)},
			Plan:       tfsdk.Plan{Schema: sch.Schema, Raw: toRaw(&tc.plan)},
			PlanValue:  types.StringUnknown(),
			StateValue: types.StringNull(),
		}
		if tc.state != nil {
			req.StateValue = tc.state.DeploymentID
		}
		resp := planmodifier.StringResponse{PlanValue: req.PlanValue}
		deploymentIDPlan{}.PlanModifyString(ctx, req, &resp)
		if !resp.PlanValue.Equal(tc.want) {
			t.Errorf("%s: planned deployment_id %s, want %s", name, resp.PlanValue, tc.want)
		}
	}
}
