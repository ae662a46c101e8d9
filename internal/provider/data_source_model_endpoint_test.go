package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

func TestAccDataSourceModelEndpoint_basic(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	endpointAccPolicy(t, ts, "safe")
	const ds = "data.slipway_model_endpoint.fraud"
	config := ts.ProviderBlock() + `
resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  description       = "Scores card payments."
  model_version     = "fraud/2"
  deployment_policy = "safe"
  replicas          = { min = 2, max = 4, target_concurrency = 8 }
  traffic_split     = [
    { model_version = "fraud/2", percent = 90 },
    { model_version = "fraud/1", percent = 10 },
  ]
  labels = { team = "risk" }
}

data "slipway_model_endpoint" "fraud" {
  name = slipway_model_endpoint.fraud.name
}
`
	same := func(attr ...string) statecheck.StateCheck {
		return statecheck.CompareValuePairs(endpointAccResource, endpointAttr(attr...), ds, endpointAttr(attr...), compare.ValuesSame())
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					same("id"), same("description"), same("model_version"), same("deployment_policy"), same("replicas"),
					same("traffic_split"), same("request_timeout"), same("labels"), same("url"), same("revision"), same("status"),
					statecheck.ExpectKnownValue(ds, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
					statecheck.ExpectKnownValue(ds, endpointAttr("replicas", "target_concurrency"), knownvalue.Int64Exact(8)),
					statecheck.ExpectKnownValue(ds, endpointAttr("traffic_split"), knownvalue.ListSizeExact(2)),
					statecheck.ExpectKnownValue(ds, endpointAttr("status", "phase"), knownvalue.StringExact("ready")),
					statecheck.ExpectKnownValue(ds, endpointAttr("status", "traffic"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{"model_version": knownvalue.StringExact("fraud/1"), "percent": knownvalue.Int64Exact(10), "ready_replicas": knownvalue.Int64Exact(2)}),
						knownvalue.ObjectExact(map[string]knownvalue.Check{"model_version": knownvalue.StringExact("fraud/2"), "percent": knownvalue.Int64Exact(90), "ready_replicas": knownvalue.Int64Exact(2)}),
					})),
				},
			},
		},
	})
}

func TestAccDataSourceModelEndpoint_notFound(t *testing.T) {
	ts := startTestServer(t)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_endpoint" "bad" {
  name = "Not_A_DNS_Label"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid\s+Attribute\s+Value.*"Not_A_DNS_Label"\s+is\s+not\s+allowed`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_endpoint" "missing" {
  name = "missing"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Model\s+Endpoint\s+Not\s+Found.*No\s+model\s+endpoint\s+is\s+named\s+"missing"`),
			},
		},
	})
}
