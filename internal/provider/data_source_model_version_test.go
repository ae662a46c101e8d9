package provider

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// testAccRegisterModelVersions registers versions through the API, in the
// order given, each with its own artifact. It returns the SHA-256 and size
// of each by ID.
func testAccRegisterModelVersions(t *testing.T, ts *testServer, versions ...apitypes.ModelVersion) (shas map[string]string, sizes map[string]int64) {
	t.Helper()
	shas, sizes = map[string]string{}, map[string]int64{}
	for i, v := range versions {
		artifact, sha := testArtifact(t, 100+i)
		info, err := os.Stat(artifact)
		if err != nil {
			t.Fatal(err)
		}
		v.ArtifactURI, v.SHA256, v.Format, v.Runtime = "file://"+artifact, sha, "onnx", apitypes.Runtime{Kind: "builtin"}
		got, err := ts.Client.CreateModelVersion(context.Background(), &v)
		if err != nil {
			t.Fatalf("registering %s/%s: %v", v.Model, v.Version, err)
		}
		shas[got.ID], sizes[got.ID] = sha, info.Size()
	}
	return shas, sizes
}

func TestAccDataSourceModelVersion_byIDAndLatest(t *testing.T) {
	ts := startTestServer(t)
	shas, sizes := testAccRegisterModelVersions(t, ts,
		apitypes.ModelVersion{Model: "fraud", Version: "1", Labels: map[string]string{"stage": "prod"}, Metadata: map[string]string{"git_sha": "aaa"}},
		apitypes.ModelVersion{Model: "fraud", Version: "2", Labels: map[string]string{"stage": "prod", "team": "risk"}},
		apitypes.ModelVersion{Model: "fraud", Version: "3", Labels: map[string]string{"stage": "candidate"}, Description: "next"},
		apitypes.ModelVersion{Model: "churn", Version: "9", Labels: map[string]string{"stage": "prod"}},
	)
	const byID, latestProd, latest = "data.slipway_model_version.by_id", "data.slipway_model_version.latest_prod", "data.slipway_model_version.latest"

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_version" "by_id" {
  id = "fraud/1"
}

data "slipway_model_version" "latest_prod" {
  model  = "fraud"
  labels = { stage = "prod" }
}

data "slipway_model_version" "latest" {
  model = "fraud"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("model"), knownvalue.StringExact("fraud")),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("version"), knownvalue.StringExact("1")),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("sha256"), knownvalue.StringExact(shas["fraud/1"])),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("size_bytes"), knownvalue.Int64Exact(sizes["fraud/1"])),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("format"), knownvalue.StringExact("onnx")),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("runtime").AtMapKey("kind"), knownvalue.StringExact("builtin")),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("labels"), knownvalue.MapExact(map[string]knownvalue.Check{"stage": knownvalue.StringExact("prod")})),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("metadata"), knownvalue.MapExact(map[string]knownvalue.Check{"git_sha": knownvalue.StringExact("aaa")})),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("created_at"), knownvalue.StringRegexp(mvRFC3339Pattern)),
					statecheck.ExpectKnownValue(byID, tfjsonpath.New("description"), knownvalue.Null()),

					// The newest version whose labels include stage = prod; its
					// other labels come back too.
					statecheck.ExpectKnownValue(latestProd, tfjsonpath.New("id"), knownvalue.StringExact("fraud/2")),
					statecheck.ExpectKnownValue(latestProd, tfjsonpath.New("sha256"), knownvalue.StringExact(shas["fraud/2"])),
					statecheck.ExpectKnownValue(latestProd, tfjsonpath.New("labels"), knownvalue.MapExact(map[string]knownvalue.Check{
						"stage": knownvalue.StringExact("prod"), "team": knownvalue.StringExact("risk"),
					})),
					statecheck.ExpectKnownValue(latestProd, tfjsonpath.New("metadata"), knownvalue.MapSizeExact(0)),

					statecheck.ExpectKnownValue(latest, tfjsonpath.New("id"), knownvalue.StringExact("fraud/3")),
					statecheck.ExpectKnownValue(latest, tfjsonpath.New("description"), knownvalue.StringExact("next")),
				},
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_version" "none" {
  model  = "fraud"
  labels = { stage = "archived" }
}
`,
				ExpectError: mvErr(`No Matching Model Version`, `No version of model "fraud" has the labels {stage = "archived"}`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_version" "none" {
  id = "fraud/404"
}
`,
				ExpectError: mvErr(`Model Version Not Found`, `fraud/404`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_version" "both" {
  id    = "fraud/1"
  model = "fraud"
}
`,
				ExpectError: mvErr(`Invalid Attribute Combination`, `Exactly one of these attributes must be configured: [id,model]`),
			},
			{
				Config: ts.ProviderBlock() + `
data "slipway_model_version" "neither" {
  labels = { stage = "prod" }
}
`,
				ExpectError: mvErr(`Exactly one of these attributes must be configured: [id,model]`),
			},
			{
				// Leaves a valid configuration for the post-test destroy.
				Config: ts.ProviderBlock() + `
data "slipway_model_version" "by_model" {
  model = "churn"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.slipway_model_version.by_model", tfjsonpath.New("id"), knownvalue.StringExact("churn/9")),
				},
			},
		},
	})
}

// TestAccDataSourceModelVersion_fromResource reads a version the same
// configuration registers.
func TestAccDataSourceModelVersion_fromResource(t *testing.T) {
	ts := startTestServer(t)
	artifact, sha := testArtifact(t, 7)
	config := testAccModelVersionHCL(ts, "1", artifact, artifact, `  labels = { stage = "candidate" }`) + `
data "slipway_model_version" "v" {
  id = slipway_model_version.v1.id
}
`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.CompareValuePairs("data.slipway_model_version.v", tfjsonpath.New("created_at"),
						testAccModelVersionName, tfjsonpath.New("created_at"), compare.ValuesSame()),
					statecheck.ExpectKnownValue("data.slipway_model_version.v", tfjsonpath.New("sha256"), knownvalue.StringExact(sha)),
				},
			},
		},
	})
}

// TestAccDataSourceModelVersion_examples applies the documentation examples
// of both data sources against versions registered by API.
func TestAccDataSourceModelVersion_examples(t *testing.T) {
	ts := startTestServer(t)
	testAccRegisterModelVersions(t, ts,
		apitypes.ModelVersion{Model: "fraud", Version: "7", Labels: map[string]string{"stage": "prod"}},
		apitypes.ModelVersion{Model: "fraud", Version: "8", Labels: map[string]string{"stage": "candidate"}},
	)
	dir := t.TempDir()
	testAccModelVersionCopy(t, dir, map[string]string{
		"one.tf":  filepath.Join("..", "..", "examples", "data-sources", "slipway_model_version", "data-source.tf"),
		"many.tf": filepath.Join("..", "..", "examples", "data-sources", "slipway_model_versions", "data-source.tf"),
	})
	if err := os.WriteFile(filepath.Join(dir, "provider.tf"), testAccModelVersionProviderFile(ts), 0o600); err != nil {
		t.Fatal(err)
	}
	resource.ParallelTest(t, resource.TestCase{
		// The directory holds its own provider block, so the providers
		// are given per step, as terraform-plugin-testing requires.
		PreCheck: func() { testAccPreCheck(t) },
		Steps: []resource.TestStep{
			{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				ConfigDirectory:          config.StaticDirectory(dir),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("production_fraud_version", knownvalue.StringExact("fraud/7")),
					statecheck.ExpectKnownOutputValue("fraud_versions", knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("fraud/7"), knownvalue.StringExact("fraud/8"),
					})),
					statecheck.ExpectKnownOutputValue("candidate_digests", knownvalue.MapSizeExact(1)),
				},
			},
		},
	})
}
