package provider

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// deploymentsAccHistory gives the server two deployments of endpoint fraud,
// both through the API: its creation on fraud/1 and, once fraud/1 serves
// when waitServing is set, the change to fraud/2. It returns them newest
// first.
func deploymentsAccHistory(t *testing.T, ts *testServer, waitServing bool) []apitypes.Deployment {
	t.Helper()
	ctx := context.Background()
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	if _, err := ts.Client.CreateEndpoint(ctx, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}); err != nil {
		t.Fatal(err)
	}
	if waitServing {
		deadline := time.Now().Add(time.Minute)
		for {
			e, err := ts.Client.GetEndpoint(ctx, "fraud")
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Status.Traffic) == 1 && e.Status.Traffic[0].ModelVersion == "fraud/1" && e.Status.Traffic[0].Percent == 100 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fraud/1 does not serve: phase %s (%q), traffic %+v", e.Status.Phase, e.Status.Message, e.Status.Traffic)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.ModelVersion = "fraud/2" })
	deps, err := ts.Client.ListDeployments(ctx, client.DeploymentListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 2 {
		t.Fatalf("the server recorded %d deployments, want 2", len(deps))
	}
	return deps
}

func TestAccDataSourceDeployments(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	deps := deploymentsAccHistory(t, ts, true)

	const (
		all    = "data.slipway_deployments.all"
		newest = "data.slipway_deployments.newest"
		other  = "data.slipway_deployments.other"
	)
	dep := func(i int, attr string) tfjsonpath.Path {
		return tfjsonpath.New("deployments").AtSliceIndex(i).AtMapKey(attr)
	}
	timestamp := knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`))
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// A name that cannot be an endpoint fails at plan, naming the attribute.
				Config: ts.ProviderBlock() + `
data "slipway_deployments" "bad" {
  endpoint = "Fraud_Model"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)endpoint.*must\s+be\s+1-63\s+characters`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_deployments" "all" {
  endpoint = "fraud"
}

data "slipway_deployments" "newest" {
  limit = 1
}

data "slipway_deployments" "other" {
  endpoint = "other"
  active   = true
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(all, tfjsonpath.New("deployments"), knownvalue.ListSizeExact(2)),
					// Newest first: the change to fraud/2, from what served.
					statecheck.ExpectKnownValue(all, dep(0, "id"), knownvalue.StringExact(deps[0].ID)),
					statecheck.ExpectKnownValue(all, dep(0, "endpoint"), knownvalue.StringExact("fraud")),
					statecheck.ExpectKnownValue(all, dep(0, "from_version"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(all, dep(0, "to_version"), knownvalue.StringExact("fraud/2")),
					statecheck.ExpectKnownValue(all, dep(0, "strategy"), knownvalue.StringExact("all_at_once")),
					statecheck.ExpectKnownValue(all, dep(0, "source"), knownvalue.StringExact("api")),
					statecheck.ExpectKnownValue(all, dep(0, "actor"), knownvalue.StringExact("bootstrap-admin")),
					// The rollout engine may still be moving it on.
					statecheck.ExpectKnownValue(all, dep(0, "phase"), knownvalue.StringRegexp(regexp.MustCompile(`^(`+strings.Join(deploymentPhases, "|")+`)$`))),
					statecheck.ExpectKnownValue(all, dep(0, "created_at"), timestamp),
					// Then the endpoint's creation: nothing served before it.
					statecheck.ExpectKnownValue(all, dep(1, "id"), knownvalue.StringExact(deps[1].ID)),
					statecheck.ExpectKnownValue(all, dep(1, "from_version"), knownvalue.Null()),
					statecheck.ExpectKnownValue(all, dep(1, "to_version"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(all, dep(1, "source"), knownvalue.StringExact("api")),
					statecheck.ExpectKnownValue(all, dep(1, "created_at"), timestamp),

					statecheck.ExpectKnownValue(newest, tfjsonpath.New("deployments"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownValue(newest, dep(0, "id"), knownvalue.StringExact(deps[0].ID)),

					statecheck.ExpectKnownValue(other, tfjsonpath.New("deployments"), knownvalue.ListSizeExact(0)),
				},
			},
		},
	})
}

// TestDeploymentDataSourcesDescribed: the documentation is generated from
// the schemas, so every attribute needs a description.
func TestDeploymentDataSourcesDescribed(t *testing.T) {
	for _, newDS := range []func() datasource.DataSource{NewDeploymentsDataSource, NewKeyMeasuresDataSource} {
		var resp datasource.SchemaResponse
		newDS().Schema(context.Background(), datasource.SchemaRequest{}, &resp)
		if resp.Schema.Description == "" {
			t.Errorf("%T has no description", newDS())
		}
		var walk func(prefix string, attrs map[string]schema.Attribute)
		walk = func(prefix string, attrs map[string]schema.Attribute) {
			for name, a := range attrs {
				if a.GetDescription() == "" {
					t.Errorf("%T: attribute %s%s has no description", newDS(), prefix, name)
				}
				if n, ok := a.(schema.ListNestedAttribute); ok {
					walk(prefix+name+".", n.NestedObject.Attributes)
				}
			}
		}
		walk("", resp.Schema.Attributes)
	}
}

func TestFlattenDeployment(t *testing.T) {
	finished := time.Date(2025, 3, 1, 12, 0, 0, 5, time.FixedZone("CET", 3600))
	met := true
	m := flattenDeployment(apitypes.Deployment{ID: "dep-1", Step: 3, FinishedAt: &finished, LeadTimeObjectiveMet: &met,
		CreatedAt: finished.Add(-time.Minute), Reason: "p99 too high"})
	if m.FinishedAt.ValueString() != "2025-03-01T11:00:00.000000005Z" || m.CreatedAt.ValueString() != "2025-03-01T10:59:00.000000005Z" {
		t.Errorf("times = %s, %s; want UTC RFC 3339 with nanoseconds", m.CreatedAt, m.FinishedAt)
	}
	if m.Step.ValueInt64() != 3 || !m.LeadTimeObjectiveMet.ValueBool() || m.Reason.ValueString() != "p99 too high" || !m.FromVersion.IsNull() {
		t.Errorf("flattened = %+v", m)
	}
	if m := flattenDeployment(apitypes.Deployment{}); !m.FinishedAt.IsNull() || !m.LeadTimeObjectiveMet.IsNull() || !m.Reason.IsNull() {
		t.Errorf("unfinished deployment flattened to %+v; want null finished_at, lead_time_objective_met and reason", m)
	}
}
