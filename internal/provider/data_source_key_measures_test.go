package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func TestAccDataSourceKeyMeasures(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	deploymentsAccHistory(t, ts, false)

	const (
		all   = "data.slipway_key_measures.all"
		fraud = "data.slipway_key_measures.fraud"
		other = "data.slipway_key_measures.other"
	)
	attr := func(name string) tfjsonpath.Path { return tfjsonpath.New(name) }
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: ts.ProviderBlock() + `
data "slipway_key_measures" "bad" {
  endpoint = "-fraud"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)endpoint.*must\s+be\s+1-63\s+characters`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_key_measures" "all" {}

data "slipway_key_measures" "fraud" {
  endpoint = "fraud"
}

data "slipway_key_measures" "other" {
  endpoint = "other"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					// Two deployments, both made through the API, none through Terraform.
					statecheck.ExpectKnownValue(all, attr("endpoint"), knownvalue.Null()),
					statecheck.ExpectKnownValue(all, attr("window_days"), knownvalue.Int64Exact(90)),
					statecheck.ExpectKnownValue(all, attr("deployments"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(all, attr("pipeline_share"), knownvalue.Float64Exact(0)),
					statecheck.ExpectKnownValue(all, attr("deployments_per_day"), knownvalue.Float64Exact(2.0/90)),

					statecheck.ExpectKnownValue(fraud, attr("endpoint"), knownvalue.StringExact("fraud")),
					statecheck.ExpectKnownValue(fraud, attr("deployments"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(fraud, attr("deployments_per_day"), knownvalue.Float64Exact(2.0/90)),

					statecheck.ExpectKnownValue(other, attr("deployments"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(other, attr("success_rate"), knownvalue.Float64Exact(0)),
					statecheck.ExpectKnownValue(other, attr("mean_lead_time_seconds"), knownvalue.Float64Exact(0)),
					statecheck.ExpectKnownValue(other, attr("mean_time_to_restore_seconds"), knownvalue.Float64Exact(0)),
				},
			},
		},
	})
}
