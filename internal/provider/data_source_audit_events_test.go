package provider

import (
	"context"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

func TestAccDataSourceAuditEvents_filters(t *testing.T) {
	ts := startTestServer(t)
	// The ledger, after whatever the server records at start (base events):
	// base+1 version, base+2 version, base+3 policy, base+4 endpoint create,
	// base+5 endpoint update; all made through the API.
	before, err := ts.Client.ListAuditEvents(context.Background(), client.AuditListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := len(before)
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	endpointAccPolicy(t, ts, "safe")
	if _, err := ts.Client.CreateEndpoint(context.Background(), &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}); err != nil {
		t.Fatal(err)
	}
	endpointAccUpdate(t, ts, "fraud", func(e *apitypes.Endpoint) { e.ModelVersion = "fraud/2" })

	const (
		endpoint = "data.slipway_audit_events.endpoint"
		first    = "data.slipway_audit_events.first"
		all      = "data.slipway_audit_events.all"
	)
	event := func(i int, attr string) tfjsonpath.Path {
		return tfjsonpath.New("events").AtSliceIndex(i).AtMapKey(attr)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// An unknown object type fails at plan, naming the attribute.
				Config: ts.ProviderBlock() + `
data "slipway_audit_events" "bad" {
  object_type = "endpoints"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)object_type.*value\s+must\s+be\s+one\s+of`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_audit_events" "endpoint" {
  object_type = "endpoint"
  object_id   = "fraud"
}

data "slipway_audit_events" "first" {
  limit = 2
}

data "slipway_audit_events" "all" {}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpoint, tfjsonpath.New("events"), knownvalue.ListSizeExact(2)),
					statecheck.ExpectKnownValue(endpoint, event(0, "action"), knownvalue.StringExact("create")),
					statecheck.ExpectKnownValue(endpoint, event(0, "object_type"), knownvalue.StringExact("endpoint")),
					statecheck.ExpectKnownValue(endpoint, event(0, "object_id"), knownvalue.StringExact("fraud")),
					statecheck.ExpectKnownValue(endpoint, event(0, "source"), knownvalue.StringExact("api")),
					statecheck.ExpectKnownValue(endpoint, event(0, "seq"), knownvalue.Int64Exact(int64(base+4))),
					statecheck.ExpectKnownValue(endpoint, event(0, "before"), knownvalue.Null()),
					statecheck.ExpectKnownValue(endpoint, event(0, "after"), knownvalue.StringRegexp(regexp.MustCompile(`"model_version":"fraud/1"`))),
					statecheck.ExpectKnownValue(endpoint, event(0, "time"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`))),
					statecheck.ExpectKnownValue(endpoint, event(1, "action"), knownvalue.StringExact("update")),
					statecheck.ExpectKnownValue(endpoint, event(1, "before"), knownvalue.StringRegexp(regexp.MustCompile(`"model_version":"fraud/1"`))),
					statecheck.ExpectKnownValue(endpoint, event(1, "after"), knownvalue.StringRegexp(regexp.MustCompile(`"model_version":"fraud/2"`))),

					statecheck.ExpectKnownValue(first, tfjsonpath.New("events"), knownvalue.ListSizeExact(2)),
					statecheck.ExpectKnownValue(first, event(0, "seq"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(first, event(0, "prev_hash"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(first, event(1, "seq"), knownvalue.Int64Exact(2)),
					// The chain: each event carries the previous one's hash.
					statecheck.CompareValuePairs(first, event(1, "prev_hash"), first, event(0, "hash"), compare.ValuesSame()),
					statecheck.CompareValuePairs(all, event(base+4, "prev_hash"), all, event(base+3, "hash"), compare.ValuesSame()),

					statecheck.ExpectKnownValue(all, tfjsonpath.New("events"), knownvalue.ListSizeExact(base+5)),
					statecheck.ExpectKnownValue(all, event(base, "object_id"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(all, event(base+2, "object_type"), knownvalue.StringExact("deployment_policy")),
				},
			},
		},
	})
}
