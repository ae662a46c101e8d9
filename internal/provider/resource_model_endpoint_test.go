package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Unit tests of slipway_model_endpoint: no Terraform CLI, no server.

func endpointTestSchemaResource(t *testing.T) (*modelEndpointResource, fwresource.SchemaResponse) {
	t.Helper()
	r := &modelEndpointResource{}
	var resp fwresource.SchemaResponse
	r.Schema(context.Background(), fwresource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("schema: %v", resp.Diagnostics)
	}
	if diags := resp.Schema.ValidateImplementation(context.Background()); diags.HasError() {
		t.Fatalf("schema implementation: %v", diags)
	}
	return r, resp
}

// endpointTestModel is a valid configuration; tests change one thing.
func endpointTestModel() modelEndpointResourceModel {
	return modelEndpointResourceModel{
		modelEndpointValues: modelEndpointValues{
			ID:               types.StringUnknown(),
			Name:             types.StringValue("fraud"),
			Description:      types.StringNull(),
			ModelVersion:     types.StringValue("fraud/v1"),
			DeploymentPolicy: types.StringNull(),
			Replicas:         types.ObjectNull(endpointReplicasAttrTypes),
			TrafficSplit:     types.ListNull(types.ObjectType{AttrTypes: endpointTrafficWeightAttrTypes}),
			RequestTimeout:   types.StringNull(),
			Labels:           types.MapNull(types.StringType),
			URL:              types.StringUnknown(),
			Revision:         types.Int64Unknown(),
			Status:           types.ObjectUnknown(endpointStatusAttrTypes),
		},
		Timeouts: timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{
			"create": types.StringType, "update": types.StringType, "delete": types.StringType,
		})},
	}
}

func endpointTestReplicas(min, max attr.Value) types.Object {
	return types.ObjectValueMust(endpointReplicasAttrTypes, map[string]attr.Value{
		"min": min, "max": max, "target_concurrency": types.Int64Value(4),
	})
}

func endpointTestSplit(weights ...[2]attr.Value) types.List {
	elems := make([]attr.Value, 0, len(weights))
	for _, w := range weights {
		elems = append(elems, types.ObjectValueMust(endpointTrafficWeightAttrTypes, map[string]attr.Value{
			"model_version": w[0], "percent": w[1],
		}))
	}
	return types.ListValueMust(types.ObjectType{AttrTypes: endpointTrafficWeightAttrTypes}, elems)
}

func endpointTestWeight(version string, percent int64) [2]attr.Value {
	return [2]attr.Value{types.StringValue(version), types.Int64Value(percent)}
}

// validateEndpointConfig runs the resource's ValidateConfig on m, the way
// the framework does at plan time.
func validateEndpointConfig(t *testing.T, m modelEndpointResourceModel) diag.Diagnostics {
	t.Helper()
	ctx := context.Background()
	r, sch := endpointTestSchemaResource(t)
	state := tfsdk.State{Schema: sch.Schema, Raw: tftypes.NewValue(sch.Schema.Type().TerraformType(ctx), nil)}
	if diags := state.Set(ctx, &m); diags.HasError() {
		t.Fatalf("building config: %v", diags)
	}
	var resp fwresource.ValidateConfigResponse
	r.ValidateConfig(ctx, fwresource.ValidateConfigRequest{Config: tfsdk.Config{Schema: sch.Schema, Raw: state.Raw}}, &resp)
	return resp.Diagnostics
}

func TestUnitModelEndpointValidateConfig(t *testing.T) {
	t.Parallel()
	unknownS, unknownI := types.StringUnknown(), types.Int64Unknown()
	for name, tc := range map[string]struct {
		change   func(m *modelEndpointResourceModel)
		wantPath path.Path // empty: no error expected
		wantText string
	}{
		"valid minimal": {change: func(*modelEndpointResourceModel) {}},
		"valid contract": {change: func(m *modelEndpointResourceModel) {
			m.DeploymentPolicy = types.StringValue("safe")
			m.Replicas = endpointTestReplicas(types.Int64Value(1), types.Int64Value(2))
		}},
		"valid split": {change: func(m *modelEndpointResourceModel) {
			m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v1", 90), endpointTestWeight("fraud/v0", 10))
		}},
		"split sum not 100": {
			change: func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v1", 90), endpointTestWeight("fraud/v0", 20))
			},
			wantPath: path.Root("traffic_split"), wantText: "sum to 110",
		},
		"split without target": {
			change: func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v2", 90), endpointTestWeight("fraud/v0", 10))
			},
			wantPath: path.Root("traffic_split"), wantText: `must include model_version "fraud/v1"`,
		},
		"split lists a version twice": {
			change: func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v1", 50), endpointTestWeight("fraud/v1", 50))
			},
			wantPath: path.Root("traffic_split").AtListIndex(1).AtName("model_version"), wantText: "appears twice",
		},
		"max below min": {
			change: func(m *modelEndpointResourceModel) {
				m.Replicas = endpointTestReplicas(types.Int64Value(3), types.Int64Value(2))
			},
			wantPath: path.Root("replicas").AtName("max"), wantText: "use replicas.min (3) to 64",
		},
		"zero request timeout": {
			change:   func(m *modelEndpointResourceModel) { m.RequestTimeout = types.StringValue("0s") },
			wantPath: path.Root("request_timeout"), wantText: "above zero",
		},
		// Unknown values: only what the known values prove wrong fails.
		"unknown target and split versions": {change: func(m *modelEndpointResourceModel) {
			m.ModelVersion = unknownS
			m.TrafficSplit = endpointTestSplit([2]attr.Value{unknownS, types.Int64Value(90)}, [2]attr.Value{unknownS, types.Int64Value(10)})
		}},
		"unknown versions, known sum wrong": {
			change: func(m *modelEndpointResourceModel) {
				m.ModelVersion = unknownS
				m.TrafficSplit = endpointTestSplit([2]attr.Value{unknownS, types.Int64Value(90)}, [2]attr.Value{unknownS, types.Int64Value(20)})
			},
			wantPath: path.Root("traffic_split"), wantText: "sum to 110",
		},
		"unknown split version may be the target": {change: func(m *modelEndpointResourceModel) {
			m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v0", 10), [2]attr.Value{unknownS, types.Int64Value(90)})
		}},
		"unknown target with known split": {change: func(m *modelEndpointResourceModel) {
			m.ModelVersion = unknownS
			m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v0", 10), endpointTestWeight("fraud/v1", 90))
		}},
		"unknown percent can complete the split": {change: func(m *modelEndpointResourceModel) {
			m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v1", 95), [2]attr.Value{types.StringValue("fraud/v0"), unknownI})
		}},
		"unknown percent cannot complete the split": {
			change: func(m *modelEndpointResourceModel) {
				m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v1", 100), [2]attr.Value{types.StringValue("fraud/v0"), unknownI})
			},
			wantPath: path.Root("traffic_split"), wantText: "sum to 101",
		},
		"unknown whole split": {change: func(m *modelEndpointResourceModel) {
			m.TrafficSplit = types.ListUnknown(types.ObjectType{AttrTypes: endpointTrafficWeightAttrTypes})
		}},
		"unknown replicas max": {change: func(m *modelEndpointResourceModel) {
			m.Replicas = endpointTestReplicas(types.Int64Value(5), unknownI)
		}},
		"unknown everything": {change: func(m *modelEndpointResourceModel) {
			m.Name, m.ModelVersion, m.DeploymentPolicy, m.RequestTimeout = unknownS, unknownS, unknownS, unknownS
			m.Replicas = types.ObjectUnknown(endpointReplicasAttrTypes)
			m.Labels = types.MapUnknown(types.StringType)
		}},
		// Values an attribute validator rejects are not reported twice.
		"bad percent left to its attribute validator": {change: func(m *modelEndpointResourceModel) {
			m.TrafficSplit = endpointTestSplit(endpointTestWeight("fraud/v1", 90), endpointTestWeight("fraud/v0", 0))
		}},
		"bad name left to its attribute validator": {change: func(m *modelEndpointResourceModel) {
			m.Name = types.StringValue("Fraud_Detector")
		}},
		"bad duration left to its attribute validator": {change: func(m *modelEndpointResourceModel) {
			m.RequestTimeout = types.StringValue("soon")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := endpointTestModel()
			tc.change(&m)
			diags := validateEndpointConfig(t, m)
			if len(tc.wantPath.Steps()) == 0 {
				if diags.HasError() {
					t.Fatalf("want no error, got %v", diags)
				}
				return
			}
			if diags.ErrorsCount() != 1 {
				t.Fatalf("want exactly one error at %s, got %v", tc.wantPath, diags)
			}
			d, ok := diags.Errors()[0].(diag.DiagnosticWithPath)
			if !ok || !d.Path().Equal(tc.wantPath) {
				t.Fatalf("want an error at %s, got %v", tc.wantPath, diags)
			}
			if !strings.Contains(d.Detail(), tc.wantText) {
				t.Fatalf("error %q does not say %q", d.Detail(), tc.wantText)
			}
		})
	}
}

// TestUnitModelEndpointAttributeValidators checks the single-value rules the
// schema enforces, each naming its attribute.
func TestUnitModelEndpointAttributeValidators(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		check func(string) error
		good  []string
		bad   []string
	}{
		{endpointCheckName, []string{"fraud", "a", "fraud-v2"}, []string{"", "Fraud", "fraud_v2", "-fraud", "fraud-", strings.Repeat("a", 64)}},
		{endpointCheckModelVersionID, []string{"fraud/v1", "m.x/1.0.0"}, []string{"fraud", "fraud/", "/v1", "Fraud/v1", "a/b/c"}},
		{endpointCheckPolicyName, []string{"safe", "canary.v2"}, []string{"", "Safe", "safe policy"}},
		{endpointCheckDuration, []string{"30s", "1m30s", "250ms", "0s"}, []string{"", "30", "soon", "-1s"}},
		{endpointCheckLabelKey, []string{"team", "app.kubernetes.io/name"}, []string{"", "-x", "a b"}},
	} {
		for _, s := range tc.good {
			if err := tc.check(s); err != nil {
				t.Errorf("%q: unexpected error %v", s, err)
			}
		}
		for _, s := range tc.bad {
			if err := tc.check(s); err == nil {
				t.Errorf("%q: accepted, want an error", s)
			}
		}
	}
}

// TestUnitModelEndpointSchemaDefaults guards the promise that the schema's
// defaults equal what the server stores, so an endpoint configured without
// them plans no diff after create.
func TestUnitModelEndpointSchemaDefaults(t *testing.T) {
	t.Parallel()
	var e apitypes.Endpoint
	e.Normalize()
	want := types.ObjectValueMust(endpointReplicasAttrTypes, map[string]attr.Value{
		"min":                types.Int64Value(int64(e.Replicas.Min)),
		"max":                types.Int64Value(int64(e.Replicas.Max)),
		"target_concurrency": types.Int64Value(int64(e.Replicas.TargetConcurrency)),
	})
	if !endpointDefaultReplicas.Equal(want) {
		t.Errorf("replicas default %s, server normalizes to %s", endpointDefaultReplicas, want)
	}
	_, sch := endpointTestSchemaResource(t)
	rt := sch.Schema.Attributes["request_timeout"]
	if !strings.Contains(rt.GetDescription(), e.RequestTimeout) {
		t.Errorf("request_timeout description %q does not name the server default %q", rt.GetDescription(), e.RequestTimeout)
	}
}

func TestUnitModelEndpointFlatten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := &apitypes.Endpoint{
		Name:             "fraud",
		Description:      "scores card payments",
		ModelVersion:     "fraud/v2",
		DeploymentPolicy: "safe",
		Replicas:         apitypes.Replicas{Min: 1, Max: 3, TargetConcurrency: 8},
		TrafficSplit:     []apitypes.TrafficWeight{{ModelVersion: "fraud/v2", Percent: 10}, {ModelVersion: "fraud/v1", Percent: 90}},
		RequestTimeout:   "1m0s",
		Labels:           map[string]string{"team": "risk"},
		Revision:         7,
		Status: apitypes.EndpointStatus{
			Phase: apitypes.PhaseReady, URL: "http://127.0.0.1:8471/v2/models/fraud",
			Traffic: []apitypes.TrafficStatus{{ModelVersion: "fraud/v1", Percent: 100, ReadyReplicas: 1}},
		},
	}

	t.Run("round trip keeps order and values", func(t *testing.T) {
		v, diags := flattenModelEndpoint(ctx, e, &modelEndpointValues{})
		if diags.HasError() {
			t.Fatal(diags)
		}
		back, diags := expandModelEndpoint(ctx, &v)
		if diags.HasError() {
			t.Fatal(diags)
		}
		back.Revision, back.Status = e.Revision, e.Status
		if got, want := endpointTestJSON(t, back), endpointTestJSON(t, e); got != want {
			t.Errorf("round trip changed the endpoint:\n got %s\nwant %s", got, want)
		}
		if v.ID.ValueString() != "fraud" || v.URL.ValueString() != e.Status.URL || v.Revision.ValueInt64() != 7 {
			t.Errorf("computed values: id %s url %s revision %s", v.ID, v.URL, v.Revision)
		}
		if got := v.Status.Attributes()["current_deployment"]; !got.IsNull() {
			t.Errorf("empty current_deployment should be null, got %s", got)
		}
	})

	t.Run("absent values are null without a prior", func(t *testing.T) {
		bare := &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/v1", Replicas: apitypes.Replicas{Min: 1, Max: 1, TargetConcurrency: 4}, RequestTimeout: "30s"}
		v, diags := flattenModelEndpoint(ctx, bare, &modelEndpointValues{})
		if diags.HasError() {
			t.Fatal(diags)
		}
		for name, got := range map[string]attr.Value{"description": v.Description, "deployment_policy": v.DeploymentPolicy, "traffic_split": v.TrafficSplit, "labels": v.Labels} {
			if !got.IsNull() {
				t.Errorf("%s = %s, want null", name, got)
			}
		}
		if !v.Replicas.Equal(endpointDefaultReplicas) {
			t.Errorf("replicas = %s, want the schema default %s", v.Replicas, endpointDefaultReplicas)
		}
	})

	t.Run("prior empty values and duration spelling are kept", func(t *testing.T) {
		bare := &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/v1", Replicas: apitypes.Replicas{Min: 1, Max: 1, TargetConcurrency: 4}, RequestTimeout: "1m0s"}
		prior := modelEndpointValues{
			Description:    types.StringValue(""),
			TrafficSplit:   types.ListValueMust(types.ObjectType{AttrTypes: endpointTrafficWeightAttrTypes}, nil),
			Labels:         types.MapValueMust(types.StringType, nil),
			RequestTimeout: types.StringValue("60s"),
		}
		v, diags := flattenModelEndpoint(ctx, bare, &prior)
		if diags.HasError() {
			t.Fatal(diags)
		}
		for name, pair := range map[string][2]attr.Value{
			"description": {v.Description, prior.Description}, "traffic_split": {v.TrafficSplit, prior.TrafficSplit},
			"labels": {v.Labels, prior.Labels}, "request_timeout": {v.RequestTimeout, prior.RequestTimeout},
		} {
			if !pair[0].Equal(pair[1]) {
				t.Errorf("%s = %s, want the prior %s", name, pair[0], pair[1])
			}
		}
		// A different duration is drift, not a respelling.
		prior.RequestTimeout = types.StringValue("30s")
		v, _ = flattenModelEndpoint(ctx, bare, &prior)
		if v.RequestTimeout.ValueString() != "1m0s" {
			t.Errorf("request_timeout = %s, want the server's 1m0s", v.RequestTimeout)
		}
	})
}

func endpointTestJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Acceptance tests: the real OpenTofu/Terraform binary against a real
// slipway server (startTestServer). Model versions and policies are
// registered out of band through ts.Client unless a test is about the
// contract between the three resources.

const endpointAccResource = "slipway_model_endpoint.fraud"

// endpointAccRegister registers model versions ("model/version") out of
// band, each with its own real ONNX artifact.
func endpointAccRegister(t *testing.T, ts *testServer, ids ...string) {
	t.Helper()
	for i, id := range ids {
		model, version, err := apitypes.SplitModelVersionID(id)
		if err != nil {
			t.Fatal(err)
		}
		path, sha := testArtifact(t, i+1)
		if _, err := ts.Client.CreateModelVersion(context.Background(), &apitypes.ModelVersion{
			Model: model, Version: version, ArtifactURI: "file://" + path, SHA256: sha,
			Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
		}); err != nil {
			t.Fatalf("registering model version %s: %v", id, err)
		}
	}
}

// endpointAccPolicy creates an all_at_once deployment policy out of band.
func endpointAccPolicy(t *testing.T, ts *testServer, name string) {
	t.Helper()
	if _, err := ts.Client.CreatePolicy(context.Background(), &apitypes.DeploymentPolicy{Name: name, Strategy: "all_at_once"}); err != nil {
		t.Fatalf("creating policy %s: %v", name, err)
	}
}

// endpointAccCheckGone is a CheckDestroy (or Check) that fails while any of
// the named endpoints still exists on the server.
func endpointAccCheckGone(ts *testServer, names ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, name := range names {
			e, err := ts.Client.GetEndpoint(context.Background(), name)
			if err == nil {
				return fmt.Errorf("model endpoint %q still exists (revision %d)", name, e.Revision)
			}
			if !apitypes.IsNotFound(err) {
				return fmt.Errorf("reading model endpoint %q: %w", name, err)
			}
		}
		return nil
	}
}

// endpointAccUpdate changes an endpoint out of band, as the CLI or another
// apply would.
func endpointAccUpdate(t *testing.T, ts *testServer, name string, change func(e *apitypes.Endpoint)) *apitypes.Endpoint {
	t.Helper()
	ctx := context.Background()
	e, err := ts.Client.GetEndpoint(ctx, name)
	if err != nil {
		t.Fatalf("reading endpoint %s: %v", name, err)
	}
	change(e)
	out, err := ts.Client.UpdateEndpoint(ctx, e)
	if err != nil {
		t.Fatalf("updating endpoint %s out of band: %v", name, err)
	}
	return out
}

func endpointAttr(names ...string) tfjsonpath.Path {
	p := tfjsonpath.New(names[0])
	for _, n := range names[1:] {
		p = p.AtMapKey(n)
	}
	return p
}

func TestAccModelEndpoint_basic(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	endpointAccPolicy(t, ts, "safe")

	created := ts.ProviderBlock() + `
resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = "fraud/1"
  deployment_policy = "safe"

  timeouts = { create = "2m" }
}
`
	updated := ts.ProviderBlock() + `
resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  description       = "Scores card payments."
  model_version     = "fraud/2"
  deployment_policy = "safe"
  replicas          = { min = 1, max = 3 }
  request_timeout   = "10s"
  labels            = { team = "risk" }

  timeouts = { create = "2m", update = "5m" }
}
`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: created,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionCreate),
					// Defaults are known at plan time and equal the server's.
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("replicas"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"min": knownvalue.Int64Exact(1), "max": knownvalue.Int64Exact(1), "target_concurrency": knownvalue.Int64Exact(4),
					})),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("request_timeout"), knownvalue.StringExact("30s")),
					plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("url")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("id"), knownvalue.StringExact("fraud")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("traffic_split"), knownvalue.Null()),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("labels"), knownvalue.Null()),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("description"), knownvalue.Null()),
					// Apply waited until a real worker replica served the version.
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"model_version":  knownvalue.StringExact("fraud/1"),
							"percent":        knownvalue.Int64Exact(100),
							"ready_replicas": knownvalue.Int64Exact(1),
						}),
					})),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
				},
				Check: func(*terraform.State) error {
					e, err := ts.Client.GetEndpoint(context.Background(), "fraud")
					if err != nil {
						return err
					}
					if e.ModelVersion != "fraud/1" || e.DeploymentPolicy != "safe" || e.Replicas != (apitypes.Replicas{Min: 1, Max: 1, TargetConcurrency: 4}) {
						return fmt.Errorf("server holds %+v", e)
					}
					return nil
				},
			},
			{
				ResourceName:            endpointAccResource,
				ImportState:             true,
				ImportStateId:           "fraud",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
			{
				Config: updated,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("id"), knownvalue.StringExact("fraud")),
					plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("revision")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/2")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("replicas"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"min": knownvalue.Int64Exact(1), "max": knownvalue.Int64Exact(3), "target_concurrency": knownvalue.Int64Exact(4),
					})),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("labels"), knownvalue.MapExact(map[string]knownvalue.Check{
						"team": knownvalue.StringExact("risk"),
					})),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("request_timeout"), knownvalue.StringExact("10s")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("description"), knownvalue.StringExact("Scores card payments.")),
				},
				Check: func(*terraform.State) error {
					e, err := ts.Client.GetEndpoint(context.Background(), "fraud")
					if err != nil {
						return err
					}
					if e.ModelVersion != "fraud/2" || e.Replicas.Max != 3 || e.RequestTimeout != "10s" || e.Labels["team"] != "risk" {
						return fmt.Errorf("server holds %+v", e)
					}
					return nil
				},
			},
			{
				Config:   updated,
				PlanOnly: true, // fails on any diff
			},
		},
	})
}

// TestAccModelEndpoint_contract applies the three resources together, the
// way DESIGN.md shows them, and checks the ledger records the apply as made
// through Terraform.
func TestAccModelEndpoint_contract(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 1)
	config := ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "onnx"
}

resource "slipway_deployment_policy" "safe" {
  name     = "safe"
  strategy = "canary"
  steps    = [{ traffic_percent = 10, bake = "1m" }]
}

resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = slipway_model_version.v1.id
  deployment_policy = slipway_deployment_policy.safe.name
  replicas          = { min = 1, max = 2 }
}
`, artifact, artifact)

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionCreate),
					// The version's ID is known at plan time, so ValidateConfig
					// checks the whole endpoint before anything is created.
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("deployment_policy"), knownvalue.StringExact("safe")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
					statecheck.CompareValuePairs(endpointAccResource, endpointAttr("model_version"), "slipway_model_version.v1", endpointAttr("id"), compare.ValuesSame()),
				},
				Check: func(*terraform.State) error {
					events, err := ts.Client.ListAuditEvents(context.Background(), client.AuditListOptions{})
					if err != nil {
						return err
					}
					want := map[string]string{
						apitypes.ObjectModelVersion: "fraud/1",
						apitypes.ObjectPolicy:       "safe",
						apitypes.ObjectEndpoint:     "fraud",
					}
					for _, e := range events {
						if id, ok := want[e.ObjectType]; ok && e.ObjectID == id && e.Action == "create" {
							if e.Source != "terraform" {
								return fmt.Errorf("ledger event %d (%s %s) has source %q, want terraform", e.Seq, e.ObjectType, e.ObjectID, e.Source)
							}
							delete(want, e.ObjectType)
						}
					}
					if len(want) > 0 {
						return fmt.Errorf("ledger lacks create events for %v; it has %d events", want, len(events))
					}
					return nil
				},
			},
			{
				Config:   config,
				PlanOnly: true,
			},
		},
	})
}

func TestAccModelEndpoint_rename(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1")
	config := func(name string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name          = %q
  model_version = "fraud/1"
}
`, name)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud", "fraud-eu"),
		Steps: []resource.TestStep{
			{Config: config("fraud")},
			{
				Config: config("fraud-eu"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("url")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("id"), knownvalue.StringExact("fraud-eu")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud-eu"))),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(1)),
				},
				Check: endpointAccCheckGone(ts, "fraud"),
			},
		},
	})
}

func TestAccModelEndpoint_trafficSplit(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	config := func(split string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = "fraud/2"
  traffic_split = %s
}
`, split)
	}
	valid := config(`[
    { model_version = "fraud/2", percent = 90 },
    { model_version = "fraud/1", percent = 10 },
  ]`)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: config(`[
    { model_version = "fraud/2", percent = 90 },
    { model_version = "fraud/1", percent = 20 },
  ]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid\s+Attribute\s+Value.*traffic_split\s+=\s+\[.*percentages\s+sum\s+to\s+110;\s+they\s+must\s+sum\s+to\s+100`),
			},
			{
				Config: config(`[
    { model_version = "fraud/1", percent = 100 },
  ]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid\s+Attribute\s+Value.*traffic_split\s+=\s+\[.*must\s+include\s+model_version\s+"fraud/2"`),
			},
			{
				Config: valid,
				ConfigStateChecks: []statecheck.StateCheck{
					// Order as configured, not as sorted by anyone.
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("traffic_split"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"model_version": knownvalue.StringExact("fraud/2"), "percent": knownvalue.Int64Exact(90)}),
						knownvalue.ObjectExact(map[string]knownvalue.Check{"model_version": knownvalue.StringExact("fraud/1"), "percent": knownvalue.Int64Exact(10)}),
					})),
				},
				Check: func(*terraform.State) error {
					e, err := ts.Client.GetEndpoint(context.Background(), "fraud")
					if err != nil {
						return err
					}
					if len(e.TrafficSplit) != 2 || e.TrafficSplit[0] != (apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 90}) {
						return fmt.Errorf("server holds split %+v", e.TrafficSplit)
					}
					return nil
				},
			},
			{Config: valid, PlanOnly: true},
			{
				// Removing the split is an in-place update back to 100 %.
				Config: ts.ProviderBlock() + `
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = "fraud/2"
}
`,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("traffic_split"), knownvalue.Null()),
				},
			},
		},
	})
}

func TestAccModelEndpoint_missingVersion(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1")
	config := func(version string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = %q
}
`, version)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: config("fraud/404"),
				// The server's 422 names model_version; Terraform points at that line.
				ExpectError: regexp.MustCompile(`(?s)Error\s+Creating\s+Model\s+Endpoint.*model_version\s+=\s+"fraud/404".*model\s+version\s+"fraud/404"\s+does\s+not\s+exist`),
			},
			{
				PreConfig: func() {
					if err := endpointAccCheckGone(ts, "fraud")(nil); err != nil {
						t.Errorf("after the failed create: %v", err)
					}
				},
				Config: config("fraud/1"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(1)),
				},
			},
		},
	})
}

// TestAccModelEndpoint_versionInUse: a model version that an endpoint serves
// cannot be deleted, through the API or through Terraform, and the error
// names the endpoint.
func TestAccModelEndpoint_versionInUse(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 1)
	version := fmt.Sprintf(`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "onnx"
}
`, artifact, artifact)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: ts.ProviderBlock() + version + `
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = slipway_model_version.v1.id
}
`,
				Check: func(*terraform.State) error {
					err := ts.Client.DeleteModelVersion(context.Background(), "fraud/1")
					if !apitypes.IsConflict(err) || !strings.Contains(err.Error(), `in use by endpoint "fraud"`) {
						return fmt.Errorf("deleting a served version: want a 409 naming endpoint \"fraud\", got %w", err)
					}
					return nil
				},
			},
			{
				// The version leaves the configuration; the endpoint keeps
				// serving it under a literal ID.
				Config: ts.ProviderBlock() + `
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = "fraud/1"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Error\s+Deleting\s+Model\s+Version.*in\s+use\s+by\s+endpoint\s+"fraud"`),
			},
			{
				// Dropping the endpoint instead frees the version; its
				// destroy then succeeds at the end of the test.
				Config: ts.ProviderBlock() + version,
				Check: resource.ComposeTestCheckFunc(
					endpointAccCheckGone(ts, "fraud"),
					func(*terraform.State) error {
						_, err := ts.Client.GetModelVersion(context.Background(), "fraud/1")
						return err
					},
				),
			},
		},
	})
}

// TestAccModelEndpoint_drift: a change made outside Terraform shows in the
// next plan, and apply puts the configuration back.
func TestAccModelEndpoint_drift(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1")
	config := ts.ProviderBlock() + `
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = "fraud/1"
  replicas      = { min = 1, max = 2 }
}
`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.Replicas.Max = 5 })
				},
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("replicas", "max"), knownvalue.Int64Exact(2)),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("replicas", "max"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(3)),
				},
			},
			{
				// Deleted out of band: planned for creation again.
				PreConfig: func() {
					if err := ts.Client.DeleteEndpoint(context.Background(), "fraud"); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionCreate),
				}},
			},
		},
	})
}

// TestAccModelEndpoint_revisionRace: changes made elsewhere before the
// refresh raise the revision; the refresh picks it up, so the apply is not
// refused as a conflict.
func TestAccModelEndpoint_revisionRace(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1")
	config := func(max int) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = "fraud/1"
  replicas      = { min = 1, max = %d }
}
`, max)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{Config: config(1)},
			{
				PreConfig: func() {
					endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.Description = "edited by hand" })
					if e := endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.Labels = map[string]string{"by": "cli"} }); e.Revision != 3 {
						t.Fatalf("revision after two out-of-band updates = %d, want 3", e.Revision)
					}
				},
				Config: config(2),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(4)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("description"), knownvalue.Null()),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("labels"), knownvalue.Null()),
				},
				Check: func(*terraform.State) error {
					e, err := ts.Client.GetEndpoint(context.Background(), "fraud")
					if err != nil {
						return err
					}
					if e.Replicas.Max != 2 || e.Description != "" || len(e.Labels) != 0 {
						return fmt.Errorf("server holds %+v; want the configuration applied over the hand edits", e)
					}
					return nil
				},
			},
		},
	})
}

// TestUnitModelEndpointStaleRevision races an update against the revision
// Terraform last read, without the CLI: the server refuses the stale
// revision naming the current one, and the resource turns that into an
// error that says what happened and what to do.
func TestUnitModelEndpointStaleRevision(t *testing.T) {
	ts := startTestServer(t)
	ctx := context.Background()
	endpointAccRegister(t, ts, "fraud/1")
	read, err := ts.Client.CreateEndpoint(ctx, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	if err != nil {
		t.Fatal(err)
	}
	endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.Replicas.Max = 2 })
	endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.Replicas.Max = 3 })

	// The client: a stale revision is a conflict naming the current one.
	stale := *read
	stale.Replicas.Max = 4
	_, err = ts.Client.UpdateEndpoint(ctx, &stale)
	if !apitypes.IsConflict(err) || !strings.Contains(err.Error(), "revision 3") {
		t.Fatalf("update at revision %d: want a conflict naming revision 3, got %v", read.Revision, err)
	}

	// The resource: Update with state at revision 1, as after a refresh
	// that lost the race.
	r, sch := endpointTestSchemaResource(t)
	r.client = ts.Client
	prior, diags := flattenModelEndpoint(ctx, read, &modelEndpointValues{})
	if diags.HasError() {
		t.Fatal(diags)
	}
	m := endpointTestModel()
	m.modelEndpointValues = prior
	state := tfsdk.State{Schema: sch.Schema, Raw: tftypes.NewValue(sch.Schema.Type().TerraformType(ctx), nil)}
	if diags := state.Set(ctx, &m); diags.HasError() {
		t.Fatal(diags)
	}
	m.Replicas = endpointTestReplicas(types.Int64Value(1), types.Int64Value(4))
	m.Revision, m.Status = types.Int64Unknown(), types.ObjectUnknown(endpointStatusAttrTypes)
	plan := tfsdk.Plan{Schema: sch.Schema, Raw: tftypes.NewValue(sch.Schema.Type().TerraformType(ctx), nil)}
	if diags := plan.Set(ctx, &m); diags.HasError() {
		t.Fatal(diags)
	}
	resp := fwresource.UpdateResponse{State: state}
	r.Update(ctx, fwresource.UpdateRequest{Plan: plan, State: state}, &resp)
	if resp.Diagnostics.ErrorsCount() != 1 {
		t.Fatalf("want one error, got %v", resp.Diagnostics)
	}
	got := resp.Diagnostics.Errors()[0]
	want := `Model endpoint "fraud" changed since it was read (revision 1, now revision 3); run terraform apply again to see the change`
	if got.Summary() != "Error Updating Model Endpoint" || !strings.Contains(got.Detail(), want) {
		t.Errorf("got %q: %q\nwant the detail to contain %q", got.Summary(), got.Detail(), want)
	}
	e, err := ts.Client.GetEndpoint(ctx, "fraud")
	if err != nil || e.Replicas.Max != 3 || e.Revision != 3 {
		t.Errorf("the refused update changed the endpoint: %+v, %v", e, err)
	}
}
