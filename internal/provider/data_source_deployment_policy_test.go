package provider

import (
	"testing"

	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	tfresource "github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// dataSourceAttrPaths lists the dotted paths of attrs and their nested attributes.
func dataSourceAttrPaths(prefix string, attrs map[string]dsschema.Attribute) []string {
	var out []string
	for name, a := range attrs {
		key := prefix + name
		out = append(out, key)
		switch n := a.(type) {
		case dsschema.SingleNestedAttribute:
			out = append(out, dataSourceAttrPaths(key+".", n.Attributes)...)
		case dsschema.ListNestedAttribute:
			out = append(out, dataSourceAttrPaths(key+".", n.NestedObject.Attributes)...)
		}
	}
	return out
}

func TestAccDataSourceDeploymentPolicy_basic(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	const src, ds = "slipway_deployment_policy.safe", "data.slipway_deployment_policy.safe"
	config := ts.ProviderBlock() + `
resource "slipway_deployment_policy" "safe" {
  name        = "safe"
  description = "Read back by the data source."
  strategy    = "canary"
  steps       = [{ traffic_percent = 10, bake = "30s" }, { traffic_percent = 50, bake = "30s" }]
  shadow      = { traffic_percent = 5, duration = "1m" }
  smoke_test = {
    requests = [{
      name           = "known-answer"
      body           = jsonencode({ inputs = [{ name = "x", shape = [1, 1], datatype = "FP32", data = [1] }] })
      expect_outputs = [1.5]
    }]
  }
  analysis            = { interval = "5s", min_requests = 20, max_error_rate = 0.01, max_latency_p99 = "250ms" }
  rollback            = { automatic = true }
  approval            = { required = true }
  lead_time_objective = "24h"
}

data "slipway_deployment_policy" "safe" {
  name = slipway_deployment_policy.safe.name
}
`
	same := func(attr string) statecheck.StateCheck {
		return statecheck.CompareValuePairs(src, tfjsonpath.New(attr), ds, tfjsonpath.New(attr), compare.ValuesSame())
	}
	var checks []statecheck.StateCheck
	for _, attr := range []string{"id", "name", "description", "strategy", "steps", "linear", "blue_green", "shadow", "smoke_test",
		"analysis", "rollback", "approval", "risk_tier", "lead_time_objective", "revision", "created_at", "updated_at"} {
		checks = append(checks, same(attr))
	}
	checks = append(checks,
		statecheck.ExpectKnownValue(ds, tfjsonpath.New("analysis").AtMapKey("max_error_rate"), knownvalue.Float64Exact(0.01)),
		statecheck.ExpectKnownValue(ds, tfjsonpath.New("steps").AtSliceIndex(1).AtMapKey("traffic_percent"), knownvalue.Int64Exact(50)),
		statecheck.ExpectKnownValue(ds, tfjsonpath.New("smoke_test").AtMapKey("requests").AtSliceIndex(0).AtMapKey("expect_status"),
			knownvalue.Int64Exact(200)),
		statecheck.ExpectKnownValue(ds, tfjsonpath.New("risk_tier"), knownvalue.StringExact("medium")),
		statecheck.ExpectKnownValue(ds, tfjsonpath.New("linear"), knownvalue.Null()),
	)

	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			{Config: config, ConfigStateChecks: checks},
			{
				Config: ts.ProviderBlock() + `
data "slipway_deployment_policy" "missing" {
  name = "missing"
}
`,
				ExpectError: policyErr(`No deployment policy is named "missing"`),
			},
		},
	})
}
