package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

func TestAccDataSourceModelVersions_list(t *testing.T) {
	ts := startTestServer(t)
	shas, sizes := testAccRegisterModelVersions(t, ts,
		apitypes.ModelVersion{Model: "fraud", Version: "9", Labels: map[string]string{"stage": "prod"}},
		apitypes.ModelVersion{Model: "fraud", Version: "10", Labels: map[string]string{"stage": "candidate"}},
		apitypes.ModelVersion{Model: "churn", Version: "1", Labels: map[string]string{"stage": "prod"}, Description: "churn v1"},
		apitypes.ModelVersion{Model: "fraud", Version: "11", Labels: map[string]string{"stage": "prod"}},
	)
	str := knownvalue.StringExact
	const all, fraud, prod, fraudProd, none = "data.slipway_model_versions.all", "data.slipway_model_versions.fraud",
		"data.slipway_model_versions.prod", "data.slipway_model_versions.fraud_prod", "data.slipway_model_versions.none"

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_versions" "all" {}

data "slipway_model_versions" "fraud" {
  model = "fraud"
}

data "slipway_model_versions" "prod" {
  labels = { stage = "prod" }
}

data "slipway_model_versions" "fraud_prod" {
  model  = "fraud"
  labels = { stage = "prod" }
}

data "slipway_model_versions" "none" {
  model = "nothing"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					// Oldest first, in registration order.
					statecheck.ExpectKnownValue(all, tfjsonpath.New("ids"), knownvalue.ListExact([]knownvalue.Check{
						str("fraud/9"), str("fraud/10"), str("churn/1"), str("fraud/11"),
					})),
					statecheck.ExpectKnownValue(fraud, tfjsonpath.New("ids"), knownvalue.ListExact([]knownvalue.Check{
						str("fraud/9"), str("fraud/10"), str("fraud/11"),
					})),
					statecheck.ExpectKnownValue(prod, tfjsonpath.New("ids"), knownvalue.ListExact([]knownvalue.Check{
						str("fraud/9"), str("churn/1"), str("fraud/11"),
					})),
					statecheck.ExpectKnownValue(fraudProd, tfjsonpath.New("ids"), knownvalue.ListExact([]knownvalue.Check{
						str("fraud/9"), str("fraud/11"),
					})),
					statecheck.ExpectKnownValue(none, tfjsonpath.New("ids"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(none, tfjsonpath.New("versions"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(prod, tfjsonpath.New("versions").AtSliceIndex(1), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"id":           str("churn/1"),
						"model":        str("churn"),
						"version":      str("1"),
						"format":       str("onnx"),
						"artifact_uri": knownvalue.StringRegexp(regexp.MustCompile(`^file:///.*\.onnx$`)),
						"sha256":       str(shas["churn/1"]),
						"size_bytes":   knownvalue.Int64Exact(sizes["churn/1"]),
						"runtime_kind": str("builtin"),
						"description":  str("churn v1"),
						"labels":       knownvalue.MapExact(map[string]knownvalue.Check{"stage": str("prod")}),
						"metadata":     knownvalue.MapSizeExact(0),
						"revision":     knownvalue.Int64Exact(1),
						"created_at":   knownvalue.StringRegexp(mvRFC3339Pattern),
					})),
				},
			},
		},
	})
}
