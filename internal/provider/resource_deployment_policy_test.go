package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	tfresource "github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// ---------------------------------------------------------------------------
// Unit tests: no Terraform CLI, no server.
// ---------------------------------------------------------------------------

func policyPtr[T any](v T) *T { return &v }

// fullPolicy sets every field the wire type has.
func testPolicyFull() *apitypes.DeploymentPolicy {
	return &apitypes.DeploymentPolicy{
		Name:        "everything",
		Description: "all fields",
		Strategy:    "canary",
		Steps:       []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "30s"}, {TrafficPercent: 50, Bake: "1m30s"}},
		Shadow:      &apitypes.Shadow{TrafficPercent: 5, Duration: "2m"},
		SmokeTest: &apitypes.SmokeTest{Requests: []apitypes.SmokeRequest{
			{Name: "one", Body: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`, ExpectStatus: 200,
				ExpectOutputs: []float64{0.1, 2.5}, Tolerance: 0.001},
			{Name: "two", Body: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[2]}]}`, ExpectStatus: 400},
		}},
		Analysis: &apitypes.Analysis{Interval: "5s", MinRequests: 20, MaxErrorRate: policyPtr(0.01), MaxLatencyP99: "250ms",
			MaxRegression: policyPtr(0.2)},
		Rollback:          &apitypes.Rollback{Automatic: false},
		Approval:          &apitypes.Approval{Required: true},
		RiskTier:          "high",
		LeadTimeObjective: "72h",
		Revision:          3,
		CreatedAt:         time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		UpdatedAt:         time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
	}
}

func policyJSON(t *testing.T, p *apitypes.DeploymentPolicy) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnitDeploymentPolicyRoundTrip(t *testing.T) {
	ctx := context.Background()
	linear := &apitypes.DeploymentPolicy{Name: "lin", Strategy: "linear", Linear: &apitypes.Linear{StepPercent: 20, Interval: "1m"},
		RiskTier: "medium", Revision: 1}
	blueGreen := &apitypes.DeploymentPolicy{Name: "bg", Strategy: "blue_green", BlueGreen: &apitypes.BlueGreen{},
		Analysis: &apitypes.Analysis{Interval: "10s"}, RiskTier: "low", Revision: 1}

	for _, want := range []*apitypes.DeploymentPolicy{testPolicyFull(), linear, blueGreen} {
		t.Run(want.Name, func(t *testing.T) {
			var m deploymentPolicyModel
			if d := flattenDeploymentPolicy(ctx, want, &m); d.HasError() {
				t.Fatalf("flatten: %v", d)
			}
			got, known, d := expandDeploymentPolicy(ctx, m)
			if d.HasError() || !known {
				t.Fatalf("expand: known=%t %v", known, d)
			}
			got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
			if w, g := policyJSON(t, want), policyJSON(t, got); w != g {
				t.Errorf("round trip changed the policy\nwant %s\ngot  %s", w, g)
			}
			if want.Validate() != nil || got.Validate() != nil {
				t.Errorf("fixtures must be valid: %v / %v", want.Validate(), got.Validate())
			}
		})
	}

	// Absent optional objects and lists stay null, never empty.
	var m deploymentPolicyModel
	flattenDeploymentPolicy(ctx, linear, &m)
	for name, v := range map[string]interface{ IsNull() bool }{
		"steps": m.Steps, "blue_green": m.BlueGreen, "shadow": m.Shadow, "smoke_test": m.SmokeTest,
		"analysis": m.Analysis, "rollback": m.Rollback, "approval": m.Approval, "description": m.Description,
		"lead_time_objective": m.LeadTimeObjective,
	} {
		if !v.IsNull() {
			t.Errorf("%s = %v, want null", name, v)
		}
	}
	// An empty blue_green object stays an object.
	flattenDeploymentPolicy(ctx, blueGreen, &m)
	if m.BlueGreen.IsNull() || !m.BlueGreen.Attributes()["termination_wait"].IsNull() {
		t.Errorf("blue_green = %v, want an object with a null termination_wait", m.BlueGreen)
	}
}

func TestUnitDeploymentPolicyFloatsExact(t *testing.T) {
	ctx := context.Background()
	p := testPolicyFull()
	var m deploymentPolicyModel
	flattenDeploymentPolicy(ctx, p, &m)
	var a analysisModel
	m.Analysis.As(ctx, &a, basetypes.ObjectAsOptions{})
	if got := a.MaxErrorRate.ValueFloat64(); got != 0.01 {
		t.Errorf("max_error_rate = %v, want exactly 0.01", got)
	}
	// What goes over the wire to Terraform must print as 0.01 too.
	tv, err := a.MaxErrorRate.ToTerraformValue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bf *big.Float
	if err := tv.As(&bf); err != nil {
		t.Fatal(err)
	}
	if got := bf.Text('g', -1); got != "0.01" {
		t.Errorf("max_error_rate as a Terraform number = %s, want 0.01", got)
	}
}

func TestUnitDeploymentPolicyUnknownSkipsValidate(t *testing.T) {
	ctx := context.Background()
	var m deploymentPolicyModel
	flattenDeploymentPolicy(ctx, testPolicyFull(), &m)
	m.Steps = types.ListUnknown(types.ObjectType{AttrTypes: stepAttrTypes})
	if _, known, d := expandDeploymentPolicy(ctx, m); known || d.HasError() {
		t.Errorf("unknown steps: known=%t diags=%v, want known=false and no error", known, d)
	}
	flattenDeploymentPolicy(ctx, testPolicyFull(), &m)
	m.Analysis = types.ObjectUnknown(analysisAttrTypes)
	if _, known, _ := expandDeploymentPolicy(ctx, m); known {
		t.Error("unknown analysis: known=true, want false")
	}
}

// validateConfig runs the resource's ValidateConfig on a configuration built
// from m and returns its diagnostics.
func policyValidateConfig(t *testing.T, m deploymentPolicyModel) diag.Diagnostics {
	t.Helper()
	ctx := context.Background()
	r := NewDeploymentPolicyResource().(*deploymentPolicyResource)
	var sr resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &sr)
	st := tfsdk.State{Schema: sr.Schema, Raw: tftypes.NewValue(sr.Schema.Type().TerraformType(ctx), nil)}
	if d := st.Set(ctx, &m); d.HasError() {
		t.Fatalf("building config: %v", d)
	}
	var resp resource.ValidateConfigResponse
	r.ValidateConfig(ctx, resource.ValidateConfigRequest{Config: tfsdk.Config{Schema: sr.Schema, Raw: st.Raw}}, &resp)
	return resp.Diagnostics
}

func TestUnitDeploymentPolicyValidateConfig(t *testing.T) {
	ctx := context.Background()
	model := func(edit func(p *apitypes.DeploymentPolicy)) deploymentPolicyModel {
		p := testPolicyFull()
		edit(p)
		var m deploymentPolicyModel
		flattenDeploymentPolicy(ctx, p, &m)
		return m
	}
	for name, tc := range map[string]struct {
		edit     func(p *apitypes.DeploymentPolicy)
		wantPath path.Path // empty: no error expected from ValidateConfig
		wantText string
	}{
		"valid": {edit: func(*apitypes.DeploymentPolicy) {}},
		"descending steps": {
			edit:     func(p *apitypes.DeploymentPolicy) { p.Steps[1].TrafficPercent = 5 },
			wantPath: path.Root("steps").AtListIndex(1).AtName("traffic_percent"), wantText: "steps must ascend",
		},
		"steps with linear": {
			edit: func(p *apitypes.DeploymentPolicy) {
				p.Strategy, p.Linear = "linear", &apitypes.Linear{StepPercent: 10, Interval: "1m"}
			},
			wantPath: path.Root("steps"), wantText: `applies only to strategy "canary"`,
		},
		"linear missing": {
			edit:     func(p *apitypes.DeploymentPolicy) { p.Strategy, p.Steps = "linear", nil },
			wantPath: path.Root("linear"), wantText: "needs linear",
		},
		"body not an infer request": {
			edit:     func(p *apitypes.DeploymentPolicy) { p.SmokeTest.Requests[1].Body = `{"inputs":[]}` },
			wantPath: path.Root("smoke_test").AtName("requests").AtListIndex(1).AtName("body"), wantText: "has no inputs",
		},
		// Values a single attribute's validator rejects are reported by that
		// validator only, not a second time by ValidateConfig.
		"percent 0 left to its validator":        {edit: func(p *apitypes.DeploymentPolicy) { p.Steps[0].TrafficPercent = 0 }},
		"bad duration left to its validator":     {edit: func(p *apitypes.DeploymentPolicy) { p.Steps[1].Bake = "5 sec" }},
		"error rate 1.5 left to its validator":   {edit: func(p *apitypes.DeploymentPolicy) { p.Analysis.MaxErrorRate = policyPtr(1.5) }},
		"unknown strategy left to its validator": {edit: func(p *apitypes.DeploymentPolicy) { p.Strategy = "rolling" }},
	} {
		t.Run(name, func(t *testing.T) {
			m := model(tc.edit)
			diags := policyValidateConfig(t, m)
			if p, _, _ := expandDeploymentPolicy(ctx, m); name != "valid" && p.Validate() == nil {
				t.Fatal("fixture must fail apitypes Validate")
			}
			if tc.wantText == "" {
				if diags.HasError() {
					t.Fatalf("unexpected diagnostics: %v", diags)
				}
				return
			}
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
			}
			d, ok := diags[0].(diag.DiagnosticWithPath)
			if !ok || !d.Path().Equal(tc.wantPath) {
				t.Errorf("diagnostic %v not at path %s", diags[0], tc.wantPath)
			}
			if !strings.Contains(diags[0].Detail(), tc.wantText) {
				t.Errorf("detail %q does not contain %q", diags[0].Detail(), tc.wantText)
			}
		})
	}
}

// TestUnitDeploymentPolicySchema checks the schema is valid, every attribute
// has a description, and the data source exposes every resource attribute.
func TestUnitDeploymentPolicySchema(t *testing.T) {
	ctx := context.Background()
	var rs resource.SchemaResponse
	NewDeploymentPolicyResource().Schema(ctx, resource.SchemaRequest{}, &rs)
	if d := rs.Schema.ValidateImplementation(ctx); d.HasError() {
		t.Fatalf("resource schema: %v", d)
	}
	resourceAttrs := map[string]bool{}
	var walk func(prefix string, attrs map[string]schema.Attribute)
	walk = func(prefix string, attrs map[string]schema.Attribute) {
		for name, a := range attrs {
			key := prefix + name
			resourceAttrs[key] = true
			if desc := a.GetDescription(); !strings.HasSuffix(desc, ".") || len(desc) < 20 {
				t.Errorf("%s: description %q is not a full sentence", key, desc)
			}
			if a.IsOptional() && a.IsComputed() && !strings.Contains(a.GetDescription(), "(default: `") {
				t.Errorf("%s: has a default but its description does not name it", key)
			}
			switch n := a.(type) {
			case schema.SingleNestedAttribute:
				walk(key+".", n.Attributes)
			case schema.ListNestedAttribute:
				walk(key+".", n.NestedObject.Attributes)
			}
		}
	}
	walk("", rs.Schema.Attributes)
	for _, s := range apitypes.Strategies {
		if !strings.Contains(rs.Schema.Attributes["strategy"].GetDescription(), "`"+s+"`") {
			t.Errorf("strategy description does not list %q", s)
		}
	}

	var ds datasource.SchemaResponse
	NewDeploymentPolicyDataSource().Schema(ctx, datasource.SchemaRequest{}, &ds)
	if d := ds.Schema.ValidateImplementation(ctx); d.HasError() {
		t.Fatalf("data source schema: %v", d)
	}
	dataAttrs := map[string]bool{}
	for _, p := range dataSourceAttrPaths("", ds.Schema.Attributes) {
		dataAttrs[p] = true
	}
	for k := range resourceAttrs {
		if !dataAttrs[k] {
			t.Errorf("data source lacks %s", k)
		}
	}
	for k := range dataAttrs {
		if !resourceAttrs[k] {
			t.Errorf("data source has %s, which the resource lacks", k)
		}
	}
}

// ---------------------------------------------------------------------------
// Acceptance tests: OpenTofu against a real slipway server.
// ---------------------------------------------------------------------------

const policyAddr = "slipway_deployment_policy.safe"

// policyErr matches phrase in Terraform's output, which wraps long lines.
func policyErr(phrase string) *regexp.Regexp {
	words := strings.Fields(phrase)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(strings.Join(words, `\s+`))
}

// testAccCheckPolicyDestroyed proves every policy in state is gone from the server.
func testAccCheckPolicyDestroyed(ts *testServer) func(*terraform.State) error {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type != "slipway_deployment_policy" {
				continue
			}
			_, err := ts.Client.GetPolicy(context.Background(), rs.Primary.ID)
			if err == nil {
				return fmt.Errorf("deployment policy %q still exists", rs.Primary.ID)
			}
			if !apitypes.IsNotFound(err) {
				return fmt.Errorf("reading deployment policy %q: %w", rs.Primary.ID, err)
			}
		}
		return nil
	}
}

func testAccPolicyCanaryConfig(ts *testServer, name, steps, analysis string) string {
	return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_deployment_policy" "safe" {
  name     = %q
  strategy = "canary"
  steps    = %s
  analysis = %s
  rollback = { automatic = true }
}
`, name, steps, analysis)
}

const (
	policyContractSteps    = `[{ traffic_percent = 10, bake = "30s" }, { traffic_percent = 50, bake = "30s" }]`
	policyContractAnalysis = `{ interval = "5s", min_requests = 20, max_error_rate = 0.01, max_latency_p99 = "250ms" }`
)

func TestAccDeploymentPolicy_canary(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	contract := testAccPolicyCanaryConfig(ts, "safe", policyContractSteps, policyContractAnalysis)
	updated := testAccPolicyCanaryConfig(ts, "safe",
		`[{ traffic_percent = 10, bake = "30s" }, { traffic_percent = 25, bake = "45s" }, { traffic_percent = 50, bake = "1m" }]`,
		`{ interval = "5s", min_requests = 50, max_error_rate = 0.02, max_latency_p99 = "300ms", max_regression = 0.1 }`)

	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{
				Config: contract,
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("id"), knownvalue.StringExact("safe")),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("strategy"), knownvalue.StringExact("canary")),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("steps"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"traffic_percent": knownvalue.Int64Exact(10), "bake": knownvalue.StringExact("30s")}),
						knownvalue.ObjectExact(map[string]knownvalue.Check{"traffic_percent": knownvalue.Int64Exact(50), "bake": knownvalue.StringExact("30s")}),
					})),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("analysis"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"interval":        knownvalue.StringExact("5s"),
						"min_requests":    knownvalue.Int64Exact(20),
						"max_error_rate":  knownvalue.Float64Exact(0.01),
						"max_latency_p99": knownvalue.StringExact("250ms"),
						"max_regression":  knownvalue.Null(),
					})),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("rollback").AtMapKey("automatic"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("risk_tier"), knownvalue.StringExact(apitypes.DefaultRiskTier)),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("approval"), knownvalue.Null()),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("linear"), knownvalue.Null()),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("revision"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("created_at"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT`))),
				},
				Check: func(*terraform.State) error {
					p, err := ts.Client.GetPolicy(context.Background(), "safe")
					if err != nil {
						return err
					}
					if p.Analysis == nil || p.Analysis.MaxErrorRate == nil || *p.Analysis.MaxErrorRate != 0.01 {
						return fmt.Errorf("server holds analysis %+v, want max_error_rate 0.01", p.Analysis)
					}
					return nil
				},
			},
			{
				ResourceName:      policyAddr,
				ImportState:       true,
				ImportStateId:     "safe",
				ImportStateVerify: true,
			},
			{
				Config: updated,
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(policyAddr, tfjsonpath.New("revision")),
					plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("created_at"), knownvalue.NotNull()),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("steps"), knownvalue.ListSizeExact(3)),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("steps").AtSliceIndex(2).AtMapKey("bake"), knownvalue.StringExact("1m")),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("analysis").AtMapKey("max_error_rate"), knownvalue.Float64Exact(0.02)),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("analysis").AtMapKey("max_regression"), knownvalue.Float64Exact(0.1)),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("revision"), knownvalue.Int64Exact(2)),
				},
			},
			{
				Config:   updated,
				PlanOnly: true,
			},
		},
	})
}

func TestAccDeploymentPolicy_rename(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{Config: testAccPolicyCanaryConfig(ts, "safe", policyContractSteps, policyContractAnalysis)},
			{
				Config: testAccPolicyCanaryConfig(ts, "safer", policyContractSteps, policyContractAnalysis),
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectUnknownValue(policyAddr, tfjsonpath.New("id")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("id"), knownvalue.StringExact("safer")),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("revision"), knownvalue.Int64Exact(1)),
				},
				Check: func(*terraform.State) error {
					switch _, err := ts.Client.GetPolicy(context.Background(), "safe"); {
					case err == nil:
						return errors.New("old policy \"safe\" still exists after the rename")
					case !apitypes.IsNotFound(err):
						return fmt.Errorf("reading old policy \"safe\": %w", err)
					}
					_, err := ts.Client.GetPolicy(context.Background(), "safer")
					return err
				},
			},
		},
	})
}

func TestAccDeploymentPolicy_strategies(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	config := ts.ProviderBlock() + `
resource "slipway_deployment_policy" "linear" {
  name        = "linear"
  description = "Ten percent a minute."
  strategy    = "linear"
  linear      = { step_percent = 10, interval = "1m" }
  analysis    = { interval = "15s", min_requests = 5, max_error_rate = 0.001, max_regression = 0.25 }
  rollback    = { automatic = false }
  risk_tier   = "low"
}

resource "slipway_deployment_policy" "blue_green" {
  name       = "blue-green"
  strategy   = "blue_green"
  blue_green = {}
  analysis   = { max_latency_p99 = "1s" }
  rollback   = {}
  approval   = {}
}

resource "slipway_deployment_policy" "all_at_once" {
  name     = "all.at_once"
  strategy = "all_at_once"
  shadow   = { traffic_percent = 25, duration = "2m" }
  smoke_test = {
    requests = [
      {
        name           = "known-answer"
        body           = jsonencode({ inputs = [{ name = "x", shape = [1, 4], datatype = "FP32", data = [1, 2, 3, 4] }] })
        expect_outputs = [14.5, 0.1]
        tolerance      = 0.001
      },
      {
        name          = "rejects-garbage"
        body          = jsonencode({ inputs = [{ name = "x", shape = [1, 1], datatype = "FP32", data = [1] }] })
        expect_status = 400
      },
    ]
  }
  approval            = { required = false }
  risk_tier           = "high"
  lead_time_objective = "72h"
}

resource "slipway_deployment_policy" "blue_green_wait" {
  name       = "blue-green-wait"
  strategy   = "blue_green"
  blue_green = { termination_wait = "10m" }
}
`
	bg, aao, lin := "slipway_deployment_policy.blue_green", "slipway_deployment_policy.all_at_once", "slipway_deployment_policy.linear"
	importStep := func(addr, id string) tfresource.TestStep {
		return tfresource.TestStep{ResourceName: addr, ImportState: true, ImportStateId: id, ImportStateVerify: true}
	}
	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(lin, tfjsonpath.New("linear"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"step_percent": knownvalue.Int64Exact(10), "interval": knownvalue.StringExact("1m"),
					})),
					statecheck.ExpectKnownValue(lin, tfjsonpath.New("analysis").AtMapKey("max_error_rate"), knownvalue.Float64Exact(0.001)),
					statecheck.ExpectKnownValue(lin, tfjsonpath.New("rollback").AtMapKey("automatic"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(lin, tfjsonpath.New("steps"), knownvalue.Null()),
					// Defaults filled in for objects given empty.
					statecheck.ExpectKnownValue(bg, tfjsonpath.New("blue_green"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"termination_wait": knownvalue.Null(),
					})),
					statecheck.ExpectKnownValue(bg, tfjsonpath.New("analysis"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"interval":        knownvalue.StringExact(apitypes.DefaultAnalysisInterval),
						"min_requests":    knownvalue.Int64Exact(0),
						"max_error_rate":  knownvalue.Null(),
						"max_latency_p99": knownvalue.StringExact("1s"),
						"max_regression":  knownvalue.Null(),
					})),
					statecheck.ExpectKnownValue(bg, tfjsonpath.New("rollback").AtMapKey("automatic"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(bg, tfjsonpath.New("approval").AtMapKey("required"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(bg, tfjsonpath.New("risk_tier"), knownvalue.StringExact("medium")),
					statecheck.ExpectKnownValue(aao, tfjsonpath.New("shadow"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"traffic_percent": knownvalue.Int64Exact(25), "duration": knownvalue.StringExact("2m"),
					})),
					statecheck.ExpectKnownValue(aao, tfjsonpath.New("smoke_test").AtMapKey("requests"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"name":           knownvalue.StringExact("known-answer"),
							"body":           knownvalue.StringExact(`{"inputs":[{"data":[1,2,3,4],"datatype":"FP32","name":"x","shape":[1,4]}]}`),
							"expect_status":  knownvalue.Int64Exact(200),
							"expect_outputs": knownvalue.ListExact([]knownvalue.Check{knownvalue.Float64Exact(14.5), knownvalue.Float64Exact(0.1)}),
							"tolerance":      knownvalue.Float64Exact(0.001),
						}),
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"name":           knownvalue.StringExact("rejects-garbage"),
							"body":           knownvalue.NotNull(),
							"expect_status":  knownvalue.Int64Exact(400),
							"expect_outputs": knownvalue.Null(),
							"tolerance":      knownvalue.Float64Exact(0),
						}),
					})),
					statecheck.ExpectKnownValue(aao, tfjsonpath.New("approval").AtMapKey("required"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(aao, tfjsonpath.New("risk_tier"), knownvalue.StringExact("high")),
					statecheck.ExpectKnownValue(aao, tfjsonpath.New("lead_time_objective"), knownvalue.StringExact("72h")),
					statecheck.ExpectKnownValue(aao, tfjsonpath.New("rollback"), knownvalue.Null()),
					statecheck.ExpectKnownValue("slipway_deployment_policy.blue_green_wait", tfjsonpath.New("blue_green").AtMapKey("termination_wait"),
						knownvalue.StringExact("10m")),
				},
			},
			importStep(lin, "linear"),
			importStep(bg, "blue-green"),
			importStep(aao, "all.at_once"),
			importStep("slipway_deployment_policy.blue_green_wait", "blue-green-wait"),
			{
				Config: config,
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
		},
	})
}

func TestAccDeploymentPolicy_invalid(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	policy := func(body string) string {
		return ts.ProviderBlock() + "resource \"slipway_deployment_policy\" \"bad\" {\n  name = \"bad\"\n" + body + "\n}\n"
	}
	smoke := func(reqBody string) string {
		return `strategy = "all_at_once"
  smoke_test = { requests = [{ name = "a", body = ` + reqBody + ` }] }`
	}
	steps := func(strategy, steps string) string {
		return fmt.Sprintf("strategy = %q\n  steps = %s", strategy, steps)
	}
	cases := []struct {
		config string
		want   string
	}{
		{policy(steps("canary", `[{ traffic_percent = 0, bake = "30s" }]`)), "steps[0].traffic_percent value must be between 1 and 100, got: 0"},
		{policy(steps("canary", `[{ traffic_percent = 10, bake = "30s" }, { traffic_percent = 101, bake = "30s" }]`)),
			"steps[1].traffic_percent value must be between 1 and 100, got: 101"},
		{policy(steps("canary", `[{ traffic_percent = 50, bake = "30s" }, { traffic_percent = 20, bake = "30s" }]`)),
			"20 is not above the previous step's 50; steps must ascend"},
		{policy(steps("linear", `[{ traffic_percent = 50, bake = "30s" }]`) + "\n  linear = { step_percent = 10, interval = \"1m\" }"),
			`applies only to strategy "canary", not "linear"`},
		{policy(`strategy = "linear"`), `strategy "linear" needs linear = { step_percent, interval }`},
		{policy(steps("canary", `[{ traffic_percent = 10, bake = "5 sec" }]`)), `"5 sec" is not a duration`},
		{policy(`strategy = "canary"
  steps = [{ traffic_percent = 10, bake = "30s" }]
  analysis = { max_error_rate = 1.5 }`), "analysis.max_error_rate value must be between 0.000000 and 1.000000, got: 1.500000"},
		{policy(`strategy = "rolling"`), `value must be one of: ["all_at_once" "canary" "linear" "blue_green"], got: "rolling"`},
		{policy(smoke(`"{inputs: 1}"`)), "is not a JSON object"},
		{policy(smoke(`jsonencode({ input = [] })`)), "is not an Open Inference Protocol v2 infer request"},
		{policy(`strategy = "canary"
  steps = []`), "steps list must contain at least 1 elements, got: 0"},
		{policy(`strategy = "canary"`), `strategy "canary" needs at least one step`},
		{policy(`strategy = "all_at_once"
  risk_tier = "extreme"`), `value must be one of: ["low" "medium" "high"]`},
		{policy(`strategy = "all_at_once"
  analysis = { interval = "10ms" }`), `"10ms" is too short; use at least 100ms`},
		{ts.ProviderBlock() + "resource \"slipway_deployment_policy\" \"bad\" {\n  name = \"Bad Name\"\n  strategy = \"canary\"\n}\n",
			"must be " + apitypes.NameRule},
	}
	var stepList []tfresource.TestStep
	for _, c := range cases {
		stepList = append(stepList, tfresource.TestStep{Config: c.config, PlanOnly: true, ExpectError: policyErr(c.want)})
	}
	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    stepList,
	})
}

func TestAccDeploymentPolicy_drift(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	config := testAccPolicyCanaryConfig(ts, "safe", policyContractSteps, policyContractAnalysis)
	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{Config: config},
			{
				// Someone changes the policy with the API: the plan shows it.
				PreConfig: func() {
					ctx := context.Background()
					p, err := ts.Client.GetPolicy(ctx, "safe")
					if err != nil {
						t.Fatal(err)
					}
					p.Steps[1].TrafficPercent = 100
					p.Analysis.MaxErrorRate = policyPtr(0.5)
					if _, err := ts.Client.UpdatePolicy(ctx, p); err != nil {
						t.Fatal(err)
					}
				},
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				// Applying restores the configuration in place.
				Config: config,
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("steps").AtSliceIndex(1).AtMapKey("traffic_percent"), knownvalue.Int64Exact(50)),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("revision"), knownvalue.Int64Exact(3)),
				},
				Check: func(*terraform.State) error {
					p, err := ts.Client.GetPolicy(context.Background(), "safe")
					if err != nil {
						return err
					}
					if p.Steps[1].TrafficPercent != 50 || *p.Analysis.MaxErrorRate != 0.01 {
						return fmt.Errorf("server holds steps %+v, analysis %+v; want the configuration restored", p.Steps, p.Analysis)
					}
					return nil
				},
			},
		},
	})
}

func TestAccDeploymentPolicy_deletedOutOfBand(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	config := testAccPolicyCanaryConfig(ts, "safe", policyContractSteps, policyContractAnalysis)
	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					if err := ts.Client.DeletePolicy(context.Background(), "safe"); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionCreate),
				}},
				Check: func(*terraform.State) error {
					_, err := ts.Client.GetPolicy(context.Background(), "safe")
					return err
				},
			},
		},
	})
}

// TestAccDeploymentPolicy_staleRevision drives Update directly with a state
// whose revision someone else has moved on: the conflict must be refused with
// advice to refresh, and the other change must survive.
func TestAccDeploymentPolicy_staleRevision(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	ctx := context.Background()

	created, err := ts.Client.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "safe", Strategy: "all_at_once"})
	if err != nil {
		t.Fatal(err)
	}
	other := *created
	other.Description = "changed by someone else"
	if _, err := ts.Client.UpdatePolicy(ctx, &other); err != nil {
		t.Fatal(err)
	}

	r := &deploymentPolicyResource{client: ts.Client}
	var sr resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &sr)
	var m deploymentPolicyModel
	flattenDeploymentPolicy(ctx, created, &m) // revision 1, stale
	state := tfsdk.State{Schema: sr.Schema, Raw: tftypes.NewValue(sr.Schema.Type().TerraformType(ctx), nil)}
	state.Set(ctx, &m)
	m.RiskTier = types.StringValue("high")
	plan := tfsdk.Plan{Schema: sr.Schema, Raw: state.Raw.Copy()}
	plan.Set(ctx, &m)

	resp := resource.UpdateResponse{State: state}
	r.Update(ctx, resource.UpdateRequest{Plan: plan, State: state}, &resp)
	if !resp.Diagnostics.HasError() {
		t.Fatal("update with a stale revision succeeded")
	}
	if d := resp.Diagnostics[0].Detail(); !strings.Contains(d, "changed on the server") || !strings.Contains(d, "terraform plan") {
		t.Errorf("conflict detail %q does not explain the conflict and how to refresh", d)
	}
	p, err := ts.Client.GetPolicy(ctx, "safe")
	if err != nil {
		t.Fatal(err)
	}
	if p.Description != other.Description || p.RiskTier != "medium" {
		t.Errorf("server holds %+v; the other change must survive and ours must not apply", p)
	}
}

// TestAccDeploymentPolicy_example applies the documentation example verbatim.
func TestAccDeploymentPolicy_example(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "resources", "slipway_deployment_policy", "resource.tf"))
	if err != nil {
		t.Fatal(err)
	}
	config := ts.ProviderBlock() + string(example)
	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("slipway_deployment_policy.gradual", tfjsonpath.New("analysis").AtMapKey("max_error_rate"),
						knownvalue.Float64Exact(0.005)),
					statecheck.ExpectKnownValue("slipway_deployment_policy.switch", tfjsonpath.New("smoke_test").AtMapKey("requests").
						AtSliceIndex(0).AtMapKey("tolerance"), knownvalue.Float64Exact(0.0001)),
				},
			},
			{Config: config, PlanOnly: true},
		},
	})
}

// TestAccDeploymentPolicy_conflicts covers the two 409s a user can meet:
// creating a name that exists, and deleting a policy an endpoint still uses.
func TestAccDeploymentPolicy_conflicts(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	ctx := context.Background()
	config := testAccPolicyCanaryConfig(ts, "safe", policyContractSteps, policyContractAnalysis)

	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{
				PreConfig: func() {
					if _, err := ts.Client.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "safe", Strategy: "all_at_once"}); err != nil {
						t.Fatal(err)
					}
				},
				Config:      config,
				ExpectError: policyErr(`deployment policy "safe" already exists. To manage the existing policy with Terraform, import it`),
			},
			{
				PreConfig: func() {
					if err := ts.Client.DeletePolicy(ctx, "safe"); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
			},
			{
				// An endpoint outside this configuration starts using the policy.
				PreConfig: func() {
					artifact, sum := testArtifact(t, 1)
					if _, err := ts.Client.CreateModelVersion(ctx, &apitypes.ModelVersion{Model: "fraud", Version: "1",
						ArtifactURI: "file://" + artifact, SHA256: sum, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"}}); err != nil {
						t.Fatal(err)
					}
					if _, err := ts.Client.CreateEndpoint(ctx, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1",
						DeploymentPolicy: "safe"}); err != nil {
						t.Fatal(err)
					}
				},
				Config:      ts.ProviderBlock(),
				ExpectError: policyErr(`Cannot delete deployment policy "safe": deployment policy "safe" is in use by endpoint "fraud"`),
			},
			{
				PreConfig: func() {
					if err := ts.Client.DeleteEndpoint(ctx, "fraud"); err != nil {
						t.Fatal(err)
					}
				},
				Config: ts.ProviderBlock(),
			},
		},
	})
}
