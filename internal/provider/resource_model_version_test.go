package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

const testAccModelVersionName = "slipway_model_version.v1"

// testAccModelVersionHCL is the configuration of the task's example, with
// the artifact at path and the given labels and description lines.
func testAccModelVersionHCL(ts *testServer, version, artifact, shaOf, extra string) string {
	return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = %q
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "onnx"
  runtime      = { kind = "builtin" }
  metadata     = { git_sha = "abc123" }
%s
}
`, version, artifact, shaOf, extra)
}

// testAccModelVersionDestroyed checks through the API that every
// slipway_model_version in state is gone.
func testAccModelVersionDestroyed(ts *testServer) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type != "slipway_model_version" {
				continue
			}
			_, err := ts.Client.GetModelVersion(context.Background(), rs.Primary.ID)
			if err == nil {
				return fmt.Errorf("model version %s still exists", rs.Primary.ID)
			}
			if !apitypes.IsNotFound(err) {
				return fmt.Errorf("reading model version %s: %w", rs.Primary.ID, err)
			}
		}
		return nil
	}
}

// mvErr builds an ExpectError pattern from words that Terraform may wrap
// across lines.
func mvErr(words ...string) *regexp.Regexp {
	parts := make([]string, len(words))
	for i, w := range words {
		fields := strings.Fields(w)
		for j, f := range fields {
			fields[j] = regexp.QuoteMeta(f)
		}
		parts[i] = strings.Join(fields, `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, `.*`))
}

var mvRFC3339Pattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

func TestAccModelVersion_basic(t *testing.T) {
	ts := startTestServer(t)
	artifact, sha := testArtifact(t, 1)
	info, err := os.Stat(artifact)
	if err != nil {
		t.Fatal(err)
	}
	created := testAccModelVersionHCL(ts, "1", artifact, artifact, `  labels = { stage = "candidate" }`)
	updated := testAccModelVersionHCL(ts, "1", artifact, artifact, `  labels      = { stage = "prod", team = "risk" }
  description = "Gradient-free fraud scorer"`)

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: created,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionCreate),
						// The ID is known at plan time, so endpoints can show it.
						plancheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("id"), knownvalue.StringExact("fraud/1")),
						plancheck.ExpectUnknownValue(testAccModelVersionName, tfjsonpath.New("size_bytes")),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("id"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("sha256"), knownvalue.StringExact(sha)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("artifact_uri"), knownvalue.StringExact("file://"+artifact)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("size_bytes"), knownvalue.Int64Exact(info.Size())),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("created_at"), knownvalue.StringRegexp(mvRFC3339Pattern)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("revision"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("runtime").AtMapKey("kind"), knownvalue.StringExact("builtin")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("labels"),
						knownvalue.MapExact(map[string]knownvalue.Check{"stage": knownvalue.StringExact("candidate")})),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("metadata"),
						knownvalue.MapExact(map[string]knownvalue.Check{"git_sha": knownvalue.StringExact("abc123")})),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("description"), knownvalue.Null()),
				},
			},
			{
				ResourceName:      testAccModelVersionName,
				ImportState:       true,
				ImportStateId:     "fraud/1",
				ImportStateVerify: true,
			},
			{
				// The same with an import block, which must plan a no-op.
				ResourceName:    testAccModelVersionName,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithID,
				ImportStateId:   "fraud/1",
				ImportPlanChecks: resource.ImportPlanChecks{
					PreApply: []plancheck.PlanCheck{mvExpectImporting{testAccModelVersionName, "fraud/1"}},
				},
			},
			{
				ResourceName:  testAccModelVersionName,
				ImportState:   true,
				ImportStateId: "fraud",
				ExpectError:   mvErr(`Invalid Import ID`, `"fraud" is not a model version ID`),
			},
			{
				Config: updated,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("created_at"), knownvalue.StringRegexp(mvRFC3339Pattern)),
						plancheck.ExpectUnknownValue(testAccModelVersionName, tfjsonpath.New("revision")),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("id"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("revision"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("description"), knownvalue.StringExact("Gradient-free fraud scorer")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("labels"), knownvalue.MapExact(map[string]knownvalue.Check{
						"stage": knownvalue.StringExact("prod"),
						"team":  knownvalue.StringExact("risk"),
					})),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("size_bytes"), knownvalue.Int64Exact(info.Size())),
				},
			},
			{
				Config: updated,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				// Removing labels and description clears them on the server.
				Config: testAccModelVersionHCL(ts, "1", artifact, artifact, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionUpdate)},
				},
				Check: func(*terraform.State) error {
					v, err := ts.Client.GetModelVersion(context.Background(), "fraud/1")
					if err != nil {
						return err
					}
					if len(v.Labels) != 0 || v.Description != "" {
						return fmt.Errorf("server still has labels %v and description %q", v.Labels, v.Description)
					}
					return nil
				},
			},
			{
				Config:   testAccModelVersionHCL(ts, "1", artifact, artifact, ""),
				PlanOnly: true,
			},
		},
	})
}

func TestAccModelVersion_replace(t *testing.T) {
	ts := startTestServer(t)
	artifact1, sha1 := testArtifact(t, 1)
	artifact2, sha2 := testArtifact(t, 2)
	labels := `  labels = { stage = "candidate" }`

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: testAccModelVersionHCL(ts, "1", artifact1, artifact1, labels),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("sha256"), knownvalue.StringExact(sha1)),
				},
			},
			{
				// A new artifact under the same version: versions are immutable.
				Config: testAccModelVersionHCL(ts, "1", artifact2, artifact2, labels),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionDestroyBeforeCreate),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("id"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("sha256"), knownvalue.StringExact(sha2)),
				},
			},
			{
				// A new version and artifact, as a release would do.
				Config: testAccModelVersionHCL(ts, "2", artifact1, artifact1, labels),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionReplace),
						plancheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("id"), knownvalue.StringExact("fraud/2")),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("id"), knownvalue.StringExact("fraud/2")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("sha256"), knownvalue.StringExact(sha1)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("revision"), knownvalue.Int64Exact(1)),
				},
				Check: func(*terraform.State) error {
					if _, err := ts.Client.GetModelVersion(context.Background(), "fraud/1"); !apitypes.IsNotFound(err) {
						return fmt.Errorf("fraud/1 should be deleted by the replacement, got err=%w", err)
					}
					return nil
				},
			},
			{
				// metadata is immutable too.
				Config: strings.Replace(testAccModelVersionHCL(ts, "2", artifact1, artifact1, labels), "abc123", "def456", 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionReplace),
					},
				},
			},
		},
	})
}

func TestAccModelVersion_digestMismatch(t *testing.T) {
	ts := startTestServer(t)
	artifact, sha := testArtifact(t, 1)
	other, otherSHA := testArtifact(t, 2)

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: testAccModelVersionHCL(ts, "1", artifact, other, ""),
				ExpectError: regexp.MustCompile(`(?s)Error Registering Model Version.*(` +
					sha + `.*` + otherSHA + `|` + otherSHA + `.*` + sha + `)`),
			},
		},
	})
}

func TestAccModelVersion_invalid(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 1)
	cfg := func(model, format, runtime string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_version" "v1" {
  model        = %q
  version      = "1"
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = %q
  runtime      = %s
}
`, model, artifact, artifact, format, runtime)
	}
	step := func(config string, want *regexp.Regexp) resource.TestStep {
		return resource.TestStep{Config: config, PlanOnly: true, ExpectError: want}
	}

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(cfg("fraud", "pmml", `{ kind = "builtin" }`), mvErr(`format`, `onnx`, `lightgbm`, `xgboost`, `custom`)),
			step(cfg("Fraud!", "onnx", `{ kind = "builtin" }`), mvErr(`model`, `must be 1-63 characters: lowercase letters`)),
			step(cfg("fraud", "custom", `{ kind = "builtin" }`), mvErr(`runtime.kind`, `builtin cannot serve format "custom"`)),
			step(cfg("fraud", "onnx", `{ kind = "process", command = ["serve", "--model", "{model_path}"] }`),
				mvErr(`runtime.command`, `must contain the placeholder "{port}"`)),
			step(cfg("fraud", "onnx", `{ kind = "process" }`), mvErr(`runtime.command`, `is required for the process runtime`)),
			step(cfg("fraud", "onnx", `{ kind = "builtin", url = "http://127.0.0.1:9000" }`), mvErr(`runtime.url`, `applies only to other runtime kinds`)),
			step(cfg("fraud", "onnx", `{ kind = "external", url = "ftp://models" }`), mvErr(`runtime.url`, `is not an http(s) URL`)),
			step(cfg("fraud", "onnx", `{ kind = "lambda" }`), mvErr(`runtime.kind`, `builtin`, `process`, `external`)),
			step(cfg("fraud", "onnx", `{ kind = "process", command = ["serve", "{port}"], readiness_path = "health" }`),
				mvErr(`readiness_path`, `must start with "/"`)),
			// A bad name and a cross-field error are both reported at once.
			step(cfg("Fraud!", "custom", `{ kind = "builtin" }`), mvErr(`builtin cannot serve format "custom"`)),
			step(cfg("Fraud!", "custom", `{ kind = "builtin" }`), mvErr(`must be 1-63 characters`)),
			step(ts.ProviderBlock()+`
resource "slipway_model_version" "v1" {
  model   = "fraud"
  version = "1"
  format  = "onnx"
}
`, mvErr(`artifact_uri is required for runtime kind "builtin"`)),
			step(ts.ProviderBlock()+fmt.Sprintf(`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "s3://bucket/model.onnx"
  sha256       = filesha256(%q)
  format       = "onnx"
}
`, artifact), mvErr(`artifact_uri`, `scheme "s3" is not supported`)),
			step(ts.ProviderBlock()+`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file:///tmp/model.onnx"
  sha256       = "ABC"
  format       = "onnx"
}
`, mvErr(`sha256`, `64 lowercase hexadecimal characters`)),
		},
	})
}

func TestAccModelVersion_runtimes(t *testing.T) {
	ts := startTestServer(t)
	artifact, sha := testArtifact(t, 3)
	config := ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_version" "process" {
  model        = "fraud"
  version      = "2"
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "onnx"
  runtime = {
    kind           = "process"
    command        = ["python3", "-m", "serve", "--port", "{port}", "--model", "{model_path}", "--a-late-flag"]
    env            = { OMP_NUM_THREADS = "2", MODE = "fast" }
    readiness_path = "/v2/health/ready"
  }
}

resource "slipway_model_version" "external" {
  model   = "churn"
  version = "1"
  format  = "custom"
  runtime = {
    kind           = "external"
    url            = "http://127.0.0.1:9000"
    readiness_path = "/health"
  }
  description = "Served by the data science team's model server"
}
`, artifact, artifact)
	const proc, ext = "slipway_model_version.process", "slipway_model_version.external"

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(proc, tfjsonpath.New("sha256"), knownvalue.StringExact(sha)),
					statecheck.ExpectKnownValue(proc, tfjsonpath.New("runtime"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"kind": knownvalue.StringExact("process"),
						"command": knownvalue.ListExact([]knownvalue.Check{
							knownvalue.StringExact("python3"), knownvalue.StringExact("-m"), knownvalue.StringExact("serve"),
							knownvalue.StringExact("--port"), knownvalue.StringExact("{port}"),
							knownvalue.StringExact("--model"), knownvalue.StringExact("{model_path}"), knownvalue.StringExact("--a-late-flag"),
						}),
						"env": knownvalue.MapExact(map[string]knownvalue.Check{
							"OMP_NUM_THREADS": knownvalue.StringExact("2"),
							"MODE":            knownvalue.StringExact("fast"),
						}),
						"readiness_path": knownvalue.StringExact("/v2/health/ready"),
						"url":            knownvalue.Null(),
					})),
					statecheck.ExpectKnownValue(ext, tfjsonpath.New("id"), knownvalue.StringExact("churn/1")),
					statecheck.ExpectKnownValue(ext, tfjsonpath.New("artifact_uri"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ext, tfjsonpath.New("sha256"), knownvalue.Null()),
					statecheck.ExpectKnownValue(ext, tfjsonpath.New("size_bytes"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(ext, tfjsonpath.New("runtime").AtMapKey("url"), knownvalue.StringExact("http://127.0.0.1:9000")),
					statecheck.ExpectKnownValue(ext, tfjsonpath.New("runtime").AtMapKey("command"), knownvalue.Null()),
				},
			},
			{ResourceName: proc, ImportState: true, ImportStateId: "fraud/2", ImportStateVerify: true},
			{ResourceName: ext, ImportState: true, ImportStateId: "churn/1", ImportStateVerify: true},
			{
				// Changing the runtime registers a new version.
				Config: strings.Replace(config, `"--a-late-flag"`, `"--another-flag"`, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(proc, plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction(ext, plancheck.ResourceActionNoop),
					},
				},
			},
		},
	})
}

// TestAccModelVersion_emptyValues: values the API cannot tell from absent
// ones must not show a diff on every plan.
func TestAccModelVersion_emptyValues(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 4)
	config := ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "onnx"
  runtime = {
    kind    = "process"
    command = ["serve", "{port}"]
    env     = {}
  }
  labels      = {}
  metadata    = {}
  description = ""
}
`, artifact, artifact)

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("labels"), knownvalue.MapSizeExact(0)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("metadata"), knownvalue.MapSizeExact(0)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("description"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("runtime").AtMapKey("env"), knownvalue.MapSizeExact(0)),
				},
			},
			{Config: config, PlanOnly: true},
		},
	})
}

func TestAccModelVersion_drift(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 1)
	config := testAccModelVersionHCL(ts, "1", artifact, artifact, `  labels = { stage = "candidate" }`)

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{Config: config},
			{
				// Someone promotes the version by hand.
				PreConfig: func() {
					ctx := context.Background()
					v, err := ts.Client.GetModelVersion(ctx, "fraud/1")
					if err != nil {
						t.Fatal(err)
					}
					if _, err := ts.Client.UpdateModelVersion(ctx, "fraud/1", &apitypes.ModelVersionPatch{
						Labels: &map[string]string{"stage": "prod"}, Revision: v.Revision,
					}); err != nil {
						t.Fatal(err)
					}
				},
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionUpdate),
					},
				},
			},
			{
				// Applying restores the configured labels, using the new revision.
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("labels"),
						knownvalue.MapExact(map[string]knownvalue.Check{"stage": knownvalue.StringExact("candidate")})),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("revision"), knownvalue.Int64Exact(3)),
				},
			},
		},
	})
}

func TestAccModelVersion_deletedOutOfBand(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 1)
	config := testAccModelVersionHCL(ts, "1", artifact, artifact, "")

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					if err := ts.Client.DeleteModelVersion(context.Background(), "fraud/1"); err != nil {
						t.Fatal(err)
					}
				},
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionCreate),
					},
				},
			},
			{
				Config: config,
				Check: func(*terraform.State) error {
					_, err := ts.Client.GetModelVersion(context.Background(), "fraud/1")
					return err
				},
			},
		},
	})
}

// mvExpectImporting checks that the plan imports addr with the given ID.
type mvExpectImporting struct{ addr, id string }

func (e mvExpectImporting) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != e.addr {
			continue
		}
		if rc.Change == nil || rc.Change.Importing == nil {
			resp.Error = fmt.Errorf("%s: plan does not import it", e.addr)
			return
		}
		if rc.Change.Importing.ID != e.id {
			resp.Error = fmt.Errorf("%s: plan imports ID %q, want %q", e.addr, rc.Change.Importing.ID, e.id)
		}
		return
	}
	resp.Error = fmt.Errorf("%s is not in the plan", e.addr)
}

func TestAccModelVersion_importBlock(t *testing.T) {
	ts := startTestServer(t)
	artifact, sha := testArtifact(t, 5)
	if _, err := ts.Client.CreateModelVersion(context.Background(), &apitypes.ModelVersion{
		Model: "fraud", Version: "1", ArtifactURI: "file://" + artifact, SHA256: sha, Format: "onnx",
		Runtime:  apitypes.Runtime{Kind: "builtin"},
		Labels:   map[string]string{"stage": "candidate"},
		Metadata: map[string]string{"git_sha": "abc123"},
	}); err != nil {
		t.Fatalf("registering fraud/1 by API: %v", err)
	}
	config := `
import {
  to = slipway_model_version.v1
  id = "fraud/1"
}
` + testAccModelVersionHCL(ts, "1", artifact, artifact, `  labels = { stage = "candidate" }`)

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						mvExpectImporting{testAccModelVersionName, "fraud/1"},
						plancheck.ExpectResourceAction(testAccModelVersionName, plancheck.ResourceActionNoop),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("sha256"), knownvalue.StringExact(sha)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("revision"), knownvalue.Int64Exact(1)),
				},
			},
			{
				Config:           config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// Unit tests: no Terraform CLI.

func TestUnitModelVersionFlattenExpandRoundTrip(t *testing.T) {
	ctx := context.Background()
	in := &apitypes.ModelVersion{
		ID: "fraud/2", Model: "fraud", Version: "2", ArtifactURI: "file:///m.onnx", SHA256: strings.Repeat("a", 64),
		Format:      "onnx",
		Runtime:     apitypes.Runtime{Kind: "process", Command: []string{"z", "{port}", "a"}, Env: map[string]string{"A": "1"}, ReadinessPath: "/ready"},
		Description: "d", Labels: map[string]string{"stage": "prod"}, Metadata: map[string]string{"git_sha": "abc"},
		SizeBytes: 42, Revision: 3,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), UpdatedAt: time.Date(2026, 1, 3, 3, 4, 5, 0, time.FixedZone("x", 3600)),
	}
	var m modelVersionModel
	var diags diag.Diagnostics
	m.flatten(ctx, in, &diags)
	out := m.expand(ctx, &diags)
	if diags.HasError() {
		t.Fatal(diags)
	}
	if m.CreatedAt.ValueString() != "2026-01-02T03:04:05Z" || m.UpdatedAt.ValueString() != "2026-01-03T02:04:05Z" {
		t.Errorf("times = %s, %s", m.CreatedAt, m.UpdatedAt)
	}
	if m.SizeBytes.ValueInt64() != 42 || m.Revision.ValueInt64() != 3 || m.ID.ValueString() != "fraud/2" {
		t.Errorf("computed values = %s %s %s", m.SizeBytes, m.Revision, m.ID)
	}
	in.SizeBytes, in.Revision, in.CreatedAt, in.UpdatedAt = 0, 0, time.Time{}, time.Time{}
	if got, want := fmt.Sprintf("%+v", *out), fmt.Sprintf("%+v", *in); got != want {
		t.Errorf("round trip:\n got %s\nwant %s", got, want)
	}
}

func TestUnitModelVersionFlattenNullVersusEmpty(t *testing.T) {
	ctx := context.Background()
	emptyMap := types.MapValueMust(types.StringType, map[string]attr.Value{})
	priorRuntime := types.ObjectValueMust(modelVersionRuntimeAttrTypes, map[string]attr.Value{
		"kind":           types.StringValue("process"),
		"command":        types.ListValueMust(types.StringType, []attr.Value{types.StringValue("{port}")}),
		"env":            emptyMap,
		"readiness_path": types.StringValue(""),
		"url":            types.StringNull(),
	})
	api := &apitypes.ModelVersion{Model: "m", Version: "1", Format: "onnx", Runtime: apitypes.Runtime{Kind: "process", Command: []string{"{port}"}}}

	var diags diag.Diagnostics
	empty := modelVersionModel{Labels: emptyMap, Metadata: emptyMap, Description: types.StringValue(""), Runtime: priorRuntime}
	empty.flatten(ctx, api, &diags)
	null := modelVersionModel{Labels: types.MapNull(types.StringType), Metadata: types.MapUnknown(types.StringType), Description: types.StringNull()}
	null.flatten(ctx, api, &diags)
	if diags.HasError() {
		t.Fatal(diags)
	}

	if !empty.Labels.Equal(emptyMap) || !empty.Metadata.Equal(emptyMap) || !empty.Description.Equal(types.StringValue("")) {
		t.Errorf("empty prior values not kept: %s %s %s", empty.Labels, empty.Metadata, empty.Description)
	}
	var rt modelVersionRuntimeModel
	diags.Append(empty.Runtime.As(ctx, &rt, basetypes.ObjectAsOptions{})...)
	if !rt.Env.Equal(emptyMap) || !rt.ReadinessPath.Equal(types.StringValue("")) || !rt.URL.IsNull() {
		t.Errorf("runtime empty values not kept: env %s readiness %s url %s", rt.Env, rt.ReadinessPath, rt.URL)
	}
	if !null.Labels.IsNull() || !null.Metadata.IsNull() || !null.Description.IsNull() || !null.ArtifactURI.IsNull() {
		t.Errorf("absent values should be null: %s %s %s %s", null.Labels, null.Metadata, null.Description, null.ArtifactURI)
	}
	// A null runtime expands to the default kind.
	if got := expandModelVersionRuntime(ctx, types.ObjectNull(modelVersionRuntimeAttrTypes), &diags); got.Kind != "builtin" {
		t.Errorf("default runtime kind = %q", got.Kind)
	}
}

func TestUnitModelVersionLatest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	items := []apitypes.ModelVersion{
		{ID: "m/10", Version: "10", CreatedAt: t0, Revision: 1},
		{ID: "m/9", Version: "9", CreatedAt: t0, Revision: 1},
		{ID: "m/old", Version: "old", CreatedAt: t0.Add(-time.Hour), Revision: 5},
		{ID: "m/b", Version: "b", CreatedAt: t0, Revision: 1},
		{ID: "m/relabelled", Version: "a", CreatedAt: t0, Revision: 2},
	}
	if got := latestModelVersion(items); got.ID != "m/relabelled" {
		t.Errorf("latest = %s, want m/relabelled (same time, higher revision)", got.ID)
	}
	if latestModelVersion(nil) != nil {
		t.Error("latest of nothing should be nil")
	}
	sortModelVersions(items)
	var ids []string
	for _, v := range items {
		ids = append(ids, v.ID)
	}
	// "9" < "10" numerically; "10" < "b" as strings (mixed: string order).
	if got, want := strings.Join(ids, " "), "m/old m/9 m/10 m/b m/relabelled"; got != want {
		t.Errorf("order = %s, want %s", got, want)
	}
	if got := matchModelVersions([]apitypes.ModelVersion{
		{Model: "m", Labels: map[string]string{"stage": "prod", "team": "x"}},
		{Model: "m", Labels: map[string]string{"stage": "dev"}},
		{Model: "n", Labels: map[string]string{"stage": "prod"}},
	}, "m", map[string]string{"stage": "prod"}); len(got) != 1 || got[0].Labels["team"] != "x" {
		t.Errorf("match = %+v", got)
	}
}

func TestUnitModelVersionValidateConfig(t *testing.T) {
	ctx := context.Background()
	sha := types.StringValue(strings.Repeat("0", 64))
	rt := func(kind string, command ...string) types.Object {
		cmd := types.ListNull(types.StringType)
		if command != nil {
			var vs []attr.Value
			for _, c := range command {
				vs = append(vs, types.StringValue(c))
			}
			cmd = types.ListValueMust(types.StringType, vs)
		}
		return types.ObjectValueMust(modelVersionRuntimeAttrTypes, map[string]attr.Value{
			"kind": types.StringValue(kind), "command": cmd, "env": types.MapNull(types.StringType),
			"readiness_path": types.StringNull(), "url": types.StringNull(),
		})
	}
	base := func() modelVersionModel {
		return modelVersionModel{
			Model: types.StringValue("fraud"), Version: types.StringValue("1"),
			ArtifactURI: types.StringValue("file:///m.onnx"), SHA256: sha, Format: types.StringValue("onnx"),
			Runtime: types.ObjectNull(modelVersionRuntimeAttrTypes), Description: types.StringNull(),
			Labels: types.MapNull(types.StringType), Metadata: types.MapNull(types.StringType),
		}
	}
	for name, tc := range map[string]struct {
		mut      func(*modelVersionModel)
		wantPath path.Path
		wantText string // "": no error
	}{
		"valid default runtime": {mut: func(*modelVersionModel) {}},
		"builtin custom": {
			mut:      func(m *modelVersionModel) { m.Format = types.StringValue("custom") },
			wantPath: path.Root("runtime").AtName("kind"), wantText: `builtin cannot serve format "custom"`,
		},
		"bad name does not hide a cross-field error": {
			mut: func(m *modelVersionModel) {
				m.Model = types.StringValue("Bad!")
				m.Runtime = rt("process", "serve")
			},
			wantPath: path.Root("runtime").AtName("command"), wantText: `{port}`,
		},
		"unknown format skips": {
			mut: func(m *modelVersionModel) {
				m.Format = types.StringUnknown()
				m.Runtime = rt("process", "serve")
			},
		},
		"unknown command element skips": {
			mut: func(m *modelVersionModel) {
				m.Runtime = types.ObjectValueMust(modelVersionRuntimeAttrTypes, map[string]attr.Value{
					"kind": types.StringValue("process"), "command": types.ListValueMust(types.StringType, []attr.Value{types.StringUnknown()}),
					"env": types.MapNull(types.StringType), "readiness_path": types.StringNull(), "url": types.StringNull(),
				})
			},
		},
		"missing sha256": {
			mut:      func(m *modelVersionModel) { m.SHA256 = types.StringNull() },
			wantPath: path.Root("sha256"), wantText: `sha256 is required for runtime kind "builtin"`,
		},
		"external needs no artifact": {
			mut: func(m *modelVersionModel) {
				m.ArtifactURI, m.SHA256, m.Format = types.StringNull(), types.StringNull(), types.StringValue("custom")
				o := rt("external")
				attrs := o.Attributes()
				attrs["url"] = types.StringValue("https://models.internal")
				m.Runtime = types.ObjectValueMust(modelVersionRuntimeAttrTypes, attrs)
			},
		},
		"metadata key too long": {
			mut: func(m *modelVersionModel) {
				m.Metadata = types.MapValueMust(types.StringType, map[string]attr.Value{strings.Repeat("k", 129): types.StringValue("v")})
			},
			wantPath: path.Root("metadata"), wantText: "too long",
		},
		"bad label key is left to the attribute validator": {
			mut: func(m *modelVersionModel) {
				m.Labels = types.MapValueMust(types.StringType, map[string]attr.Value{"-x": types.StringValue("v")})
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := base()
			tc.mut(&m)
			var diags diag.Diagnostics
			validateModelVersionConfig(ctx, &m, &diags)
			if tc.wantText == "" {
				if diags.HasError() {
					t.Fatalf("unexpected error: %v", diags)
				}
				return
			}
			if diags.ErrorsCount() != 1 {
				t.Fatalf("want one error at %s, got %v", tc.wantPath, diags)
			}
			d := diags.Errors()[0]
			wp, ok := d.(diag.DiagnosticWithPath)
			if !ok || !wp.Path().Equal(tc.wantPath) {
				t.Errorf("error path = %v, want %s (%s)", d, tc.wantPath, d.Detail())
			}
			if !strings.Contains(d.Detail(), tc.wantText) {
				t.Errorf("detail %q does not contain %q", d.Detail(), tc.wantText)
			}
		})
	}
}

// testAccModelVersionProviderFile is provider.tf for a configuration
// directory: terraform-plugin-testing serves the provider in-process under
// registry.terraform.io, which OpenTofu only uses when the source says so.
func testAccModelVersionProviderFile(ts *testServer) []byte {
	return []byte(`terraform {
  required_providers {
    slipway = { source = "registry.terraform.io/hashicorp/slipway" }
  }
}

` + ts.ProviderBlock())
}

// testAccModelVersionCopy copies files into dir under the given names.
func testAccModelVersionCopy(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAccModelVersion_verbatim applies the documented configuration as
// written, with model.onnx beside it, then checks the example file plans.
func TestAccModelVersion_verbatim(t *testing.T) {
	ts := startTestServer(t)
	artifact, sha := testArtifact(t, 8)
	dir := t.TempDir()
	testAccModelVersionCopy(t, dir, map[string]string{"model.onnx": artifact})
	if err := os.WriteFile(filepath.Join(dir, "provider.tf"), testAccModelVersionProviderFile(ts), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`
resource "slipway_model_version" "v1" {
  model        = "fraud"
  version      = "1"
  artifact_uri = "file://${abspath("model.onnx")}"
  sha256       = filesha256("model.onnx")
  format       = "onnx"                      # onnx | lightgbm | xgboost | custom
  runtime      = { kind = "builtin" }        # builtin | process (command, env, readiness_path) | external (url, readiness_path)
  labels       = { stage = "candidate" }     # mutable, as is description
  metadata     = { git_sha = "abc123" }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	examples := t.TempDir()
	testAccModelVersionCopy(t, examples, map[string]string{
		"model.onnx":  artifact,
		"resource.tf": filepath.Join("..", "..", "examples", "resources", "slipway_model_version", "resource.tf"),
	})
	if err := os.WriteFile(filepath.Join(examples, "provider.tf"), testAccModelVersionProviderFile(ts), 0o600); err != nil {
		t.Fatal(err)
	}

	resource.ParallelTest(t, resource.TestCase{
		// The directory holds its own provider block, so the providers
		// are given per step, as terraform-plugin-testing requires.
		PreCheck:     func() { testAccPreCheck(t) },
		CheckDestroy: testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				ConfigDirectory:          config.StaticDirectory(dir),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("sha256"), knownvalue.StringExact(sha)),
					statecheck.ExpectKnownValue(testAccModelVersionName, tfjsonpath.New("artifact_uri"), knownvalue.StringRegexp(regexp.MustCompile(`^file:///.*/model\.onnx$`))),
				},
			},
			{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				ConfigDirectory:          config.StaticDirectory(examples),
				PlanOnly:                 true,
				ExpectNonEmptyPlan:       true,
			},
		},
	})
}

func TestAccModelVersion_inUse(t *testing.T) {
	ts := startTestServer(t)
	artifact, _ := testArtifact(t, 1)
	config := testAccModelVersionHCL(ts, "1", artifact, artifact, "")

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccModelVersionDestroyed(ts),
		Steps: []resource.TestStep{
			{Config: config},
			{
				// An endpoint created outside this configuration serves it.
				PreConfig: func() {
					if _, err := ts.Client.CreateEndpoint(context.Background(), &apitypes.Endpoint{
						Name: "fraud", ModelVersion: "fraud/1", Replicas: apitypes.Replicas{Min: 1, Max: 1},
					}); err != nil {
						t.Fatal(err)
					}
				},
				Config:      ts.ProviderBlock(),
				ExpectError: mvErr(`Error Deleting Model Version`, `fraud/1`, `in use by endpoint "fraud"`, `slipway_model_version.<name>.id`),
			},
			{
				PreConfig: func() {
					if err := ts.Client.DeleteEndpoint(context.Background(), "fraud"); err != nil {
						t.Fatal(err)
					}
				},
				Config: ts.ProviderBlock(),
			},
		},
	})
}
