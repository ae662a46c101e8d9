package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Acceptance tests of apply's deployment semantics: deployment_id,
// wait_for_rollout, the plan warning, and (once the rollout engine is in
// the server) canaries that succeed and canaries that roll back.

var deploymentIDPattern = regexp.MustCompile(`^dep-[0-9a-f]{12}$`)

// endpointAccLatestDeployment is the endpoint's newest deployment.
func endpointAccLatestDeployment(ts *testServer, endpoint string) (*apitypes.Deployment, error) {
	ds, err := ts.Client.ListDeployments(context.Background(), client.DeploymentListOptions{Endpoint: endpoint, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("endpoint %q has no deployment", endpoint)
	}
	return &ds[0], nil
}

// endpointAccCheckDeployment checks that state's deployment_id is the
// endpoint's newest deployment, that it moved to version with strategy and
// ended in phase ("" for any phase), and returns it through got.
func endpointAccCheckDeployment(ts *testServer, version, strategy, phase string, got *apitypes.Deployment) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[endpointAccResource]
		if !ok {
			return fmt.Errorf("%s is not in state", endpointAccResource)
		}
		id := rs.Primary.Attributes["deployment_id"]
		d, err := endpointAccLatestDeployment(ts, "fraud")
		if err != nil {
			return err
		}
		if d.ID != id {
			return fmt.Errorf("state's deployment_id is %q; the endpoint's newest deployment is %s", id, d.ID)
		}
		if d.ToVersion != version || d.Strategy != strategy || (phase != "" && d.Phase != phase) || d.Source != "terraform" {
			return fmt.Errorf("deployment %s went to %s with strategy %s, from %s, and is %s (%s); want %s with %s, from terraform, %s",
				d.ID, d.ToVersion, d.Strategy, d.Source, d.Phase, d.Reason, version, strategy, phase)
		}
		if got != nil {
			*got = *d
		}
		return nil
	}
}

// TestAccModelEndpoint_deploymentID: create and a change of version record
// the deployment they started, which ended before apply returned; a change
// that keeps the target keeps the ID in the plan (no perpetual diff) and
// starts no deployment; wait_for_rollout alone changes nothing on the
// server; with it false, apply returns once the deployment is recorded.
func TestAccModelEndpoint_deploymentID(t *testing.T) {
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	config := func(version, extra string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = %q
  %s
  timeouts = { create = "2m", update = "2m" }
}
`, version, extra)
	}
	var first, second apitypes.Deployment
	sameAs := func(d *apitypes.Deployment) knownvalue.Check {
		return knownvalue.StringFunc(func(v string) error {
			if v != d.ID {
				return fmt.Errorf("deployment_id is %q, want %q as before", v, d.ID)
			}
			return nil
		})
	}
	deploymentCount := func(want int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			ds, err := ts.Client.ListDeployments(context.Background(), client.DeploymentListOptions{Endpoint: "fraud"})
			if err != nil {
				return err
			}
			if len(ds) != want {
				return fmt.Errorf("endpoint fraud has %d deployments, want %d", len(ds), want)
			}
			return nil
		}
	}

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: config("fraud/1", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("deployment_id")),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("wait_for_rollout"), knownvalue.Bool(true)),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("deployment_id"), knownvalue.StringRegexp(deploymentIDPattern)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
					statecheck.CompareValuePairs(endpointAccResource, endpointAttr("deployment_id"), endpointAccResource, endpointAttr("status", "current_deployment"), compare.ValuesSame()),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/1", "all_at_once", apitypes.DeploySucceeded, &first),
					endpointAccCheckServes(7.5, "fraud/1"),
				),
			},
			{
				// An import takes the endpoint's current deployment.
				ResourceName:            endpointAccResource,
				ImportState:             true,
				ImportStateId:           "fraud",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
			{
				Config: config("fraud/2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("deployment_id")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1})),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/2", "all_at_once", apitypes.DeploySucceeded, &second),
					func(*terraform.State) error {
						if second.ID == first.ID || second.FromVersion != "fraud/1" {
							return fmt.Errorf("the update's deployment %s (from %q) is not a new one from fraud/1 (the create's was %s)", second.ID, second.FromVersion, first.ID)
						}
						return nil
					},
					endpointAccCheckServes(8.5, "fraud/2"),
				),
			},
			{
				// Replicas change in place: no deployment, the ID stays.
				Config: config("fraud/2", "replicas = { min = 1, max = 2 }"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("deployment_id"), sameAs(&second)),
				}},
				Check: deploymentCount(2),
			},
			{
				// wait_for_rollout alone is the provider's: the server's
				// revision does not move.
				Config: config("fraud/2", "replicas = { min = 1, max = 2 }\n  wait_for_rollout = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("deployment_id"), sameAs(&second)),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(3)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("wait_for_rollout"), knownvalue.Bool(false)),
				},
				Check: deploymentCount(2),
			},
			{
				// Not waiting: apply returns with the new deployment's ID.
				Config: config("fraud/1", "replicas = { min = 1, max = 2 }\n  wait_for_rollout = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("deployment_id")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("deployment_id"), knownvalue.StringRegexp(deploymentIDPattern)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/1", "all_at_once", "", nil),
					deploymentCount(3),
				),
			},
			{
				Config:   config("fraud/1", "replicas = { min = 1, max = 2 }\n  wait_for_rollout = false"),
				PlanOnly: true,
			},
		},
	})
}

// warningRecorder serves the provider and keeps the warnings its plans of
// slipway_model_endpoint return, since terraform-plugin-testing has no
// check of plan warnings.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string // "summary: detail"
}

func (w *warningRecorder) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"slipway": func() (tfprotov6.ProviderServer, error) {
			s, err := providerserver.NewProtocol6WithError(New("test")())()
			if err != nil {
				return nil, err
			}
			return &recordingServer{ProviderServer: s, w: w}, nil
		},
	}
}

// take returns the warnings recorded since the last take.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Compact(slices.Clone(w.warnings))
	w.warnings = nil
	return out
}

type recordingServer struct {
	tfprotov6.ProviderServer
	w *warningRecorder
}

func (s *recordingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	resp, err := s.ProviderServer.PlanResourceChange(ctx, req)
	if resp != nil && req.TypeName == "slipway_model_endpoint" {
		s.w.mu.Lock()
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityWarning {
				s.w.warnings = append(s.w.warnings, d.Summary+": "+d.Detail)
			}
		}
		s.w.mu.Unlock()
	}
	return resp, err
}

// TestAccModelEndpoint_planWarning: the plan of a new endpoint, and of a
// change of its version, carries the rollout summary; a plan that keeps
// the target carries none.
func TestAccModelEndpoint_planWarning(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	endpointAccRegister(t, ts, "fraud/1", "fraud/2")
	rec := &warningRecorder{}
	// The policy of TestAccModelEndpoint_contract, created in the same plan
	// as the endpoint.
	config := func(version, extra string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_deployment_policy" "safe" {
  name     = "safe"
  strategy = "canary"
  steps    = [{ traffic_percent = 10, bake = "1m" }]
}

resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = %q
  deployment_policy = slipway_deployment_policy.safe.name
  %s
}
`, version, extra)
	}
	expectWarnings := func(want ...string) func() {
		return func() {
			got := rec.take()
			if len(want) == 0 {
				if len(got) > 0 {
					t.Errorf("the plan warned, want no warning:\n%s", strings.Join(got, "\n\n"))
				}
				return
			}
			for _, w := range want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no plan warning says:\n%s\n\nthe warnings:\n%s", w, strings.Join(got, "\n\n"))
				}
			}
			t.Logf("plan warnings:\n%s", strings.Join(got, "\n\n"))
		}
	}

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: rec.factories(),
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				PreConfig: func() { rec.take() },
				Config:    config("fraud/1", ""),
			},
			{
				PreConfig: expectWarnings(rolloutPlanSummary + `: Creating model endpoint "fraud" starts its first deployment, of fraud/1, ` +
					`under deployment policy "safe", which is created in this plan (it is not on the server yet); its rollout starts when applied.`),
				Config:             config("fraud/2", ""),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: expectWarnings(rolloutPlanSummary + `: This change starts a deployment of model endpoint "fraud" from fraud/1 to fraud/2, ` +
					`under deployment policy "safe" as the server holds it now:
  - strategy canary, steps: 10% for 1m → 100%
  - no analysis gate: bakes are waited out, not judged
  - automatic rollback: a failed smoke test or gate puts all traffic back on fraud/1
  - no approval required
  - estimated duration: about 1m plus replica start-up

Apply waits until the deployment ends, up to timeouts.update (20m).`),
				Config:             config("fraud/1", "replicas = { min = 1, max = 2 }"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: expectWarnings(),
				Config:    config("fraud/1", ""),
				PlanOnly:  true,
			},
			{
				PreConfig: expectWarnings(),
				Config:    config("fraud/1", ""),
				PlanOnly:  true,
			},
		},
	})
}

// testAccRolloutEngine skips a test that needs the server's rollout engine
// (internal/rollout) to drive canaries, while it is not part of the tree.
func testAccRolloutEngine(t *testing.T) {
	t.Helper()
	testAccPreCheck(t)
	if _, err := os.Stat(filepath.Join("..", "rollout")); err != nil {
		t.Skip("the rollout engine (internal/rollout) is not integrated yet; canary tests need it to drive deployments")
	}
}

// endpointAccQuickCanary is a canary policy that finishes in well under a
// second: half the traffic for 200ms, judged every 100ms on at least three
// requests, which the one-request smoke test makes up for when there is no
// live traffic.
const endpointAccQuickCanary = `
resource "slipway_deployment_policy" "quick" {
  name     = "quick"
  strategy = "canary"
  steps    = [{ traffic_percent = 50, bake = "200ms" }]
  smoke_test = {
    requests = [{
      name = "ones"
      body = jsonencode({ inputs = [{ name = "x", shape = [1, 4], datatype = "FP32", data = [1, 1, 1, 1] }] })
    }]
  }
  analysis = { interval = "100ms", min_requests = 3, max_error_rate = 0.01 }
  rollback = { automatic = true }
  approval = { required = false }
}
`

func endpointAccPolicyEndpointHCL(target, extra string) string {
	return fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = %s
  deployment_policy = slipway_deployment_policy.quick.name
  %s
  timeouts = { create = "2m", update = "2m" }
}
`, target, extra)
}

// TestAccModelEndpoint_canary: a canary through Terraform goes through its
// smoke test, its step and its analyses before apply returns, and the
// endpoint then serves the new version.
func TestAccModelEndpoint_canary(t *testing.T) {
	testAccRolloutEngine(t)
	ts := startTestServer(t)
	v1, _ := testArtifact(t, 4)  // 10.5 for ones
	v2, _ := testArtifact(t, 10) // 16.5 for ones
	versions := ts.ProviderBlock() + endpointAccQuickCanary + endpointAccVersionHCL("v1", "1", v1) + endpointAccVersionHCL("v2", "2", v2)
	var d apitypes.Deployment

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: versions + endpointAccPolicyEndpointHCL("slipway_model_version.v1.id", ""),
				Check:  endpointAccCheckServes(10.5, "fraud/1"),
			},
			{
				Config: versions + endpointAccPolicyEndpointHCL("slipway_model_version.v2.id", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/2")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1})),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/2", "canary", apitypes.DeploySucceeded, &d),
					func(*terraform.State) error {
						var phases []string
						halfway, analyses := false, 0
						for _, e := range d.Events {
							if len(phases) == 0 || phases[len(phases)-1] != e.Phase {
								phases = append(phases, e.Phase)
							}
							if e.Phase == apitypes.DeployProgressing && e.Step == 1 && slices.Contains(e.Traffic, apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 50}) {
								halfway = true
							}
							if e.Metrics != nil {
								analyses++
								if e.Metrics.Verdict == "fail" {
									return fmt.Errorf("an analysis failed: %s", e.Message)
								}
							}
						}
						want := []string{apitypes.DeployPending, apitypes.DeployProvisioning, apitypes.DeploySmokeTesting, apitypes.DeployProgressing, apitypes.DeploySucceeded}
						if !slices.Equal(phases, want) || !halfway || analyses == 0 {
							return fmt.Errorf("deployment %s went through %v (want %v), routed 50%% to fraud/2: %v, ran %d analyses", d.ID, phases, want, halfway, analyses)
						}
						return nil
					},
					endpointAccCheckServes(16.5, "fraud/2"),
				),
			},
			{
				Config:   versions + endpointAccPolicyEndpointHCL("slipway_model_version.v2.id", ""),
				PlanOnly: true,
			},
		},
	})
}

// TestAccModelEndpoint_canaryRollsBack: a canary to a version whose replica
// starts fine and passes the smoke test, then answers 500s, is rolled back
// by the analysis of its first step: apply fails with the deployment's
// reason and numbers, traffic is back on the old version, state records
// it, and the next plan proposes the change again.
func TestAccModelEndpoint_canaryRollsBack(t *testing.T) {
	testAccRolloutEngine(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH; the failing version is a Python model server")
	}
	ts := startTestServer(t)
	v1, _ := testArtifact(t, 4)
	script, err := filepath.Abs(filepath.Join("testdata", "flaky.py"))
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(t.TempDir(), "weights.bin")
	if err := os.WriteFile(weights, []byte("1 1 1 1 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	versions := ts.ProviderBlock() + endpointAccQuickCanary + endpointAccVersionHCL("v1", "1", v1) + fmt.Sprintf(`
resource "slipway_model_version" "v2" {
  model        = "fraud"
  version      = "2"
  artifact_uri = "file://%s"
  sha256       = filesha256(%q)
  format       = "custom"
  runtime = {
    kind           = "process"
    command        = ["python3", %q, "--port", "{port}", "--ok", "1"]
    readiness_path = "/v2/health/ready"
  }
}
`, weights, weights, script)
	good := versions + endpointAccPolicyEndpointHCL("slipway_model_version.v1.id", "")
	bad := versions + endpointAccPolicyEndpointHCL("slipway_model_version.v2.id", "")
	var rolledBack apitypes.Deployment

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: good,
				Check:  endpointAccCheckServes(10.5, "fraud/1"),
			},
			{
				Config: bad,
				ExpectError: endpointAccWords("Error Deploying Model Endpoint",
					`Model endpoint "fraud" did not switch to fraud/2: deployment dep-`,
					"was rolled back:", "error", "at step 1 (50% traffic); traffic restored to fraud/1.",
					"Last analysis: fail:", "requests including synthetic ones, error rate 100.0%",
					"Now serving: fraud/1. The server put the endpoint back to it", "and state records that, so the next plan proposes the change again."),
			},
			{
				// Without a refresh, state already says fraud/1 serves and
				// which deployment was rolled back; the plan proposes the
				// change again.
				PreConfig: func() {
					d, err := endpointAccLatestDeployment(ts, "fraud")
					if err != nil || d.Phase != apitypes.DeployRolledBack || d.ToVersion != "fraud/2" {
						t.Errorf("the endpoint's newest deployment is %+v (%v), want fraud/2 rolled back", d, err)
					} else {
						rolledBack = *d
					}
					if err := endpointAccCheckServer(ts, "fraud/1", apitypes.PhaseReady,
						apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}); err != nil {
						t.Errorf("after the rollback: %v", err)
					}
					if err := endpointAccServes(ts.EndpointURL("fraud"), 10.5, "fraud/1"); err != nil {
						t.Errorf("after the rollback: %v", err)
					}
				},
				Config:             bad,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPreRefresh: []plancheck.PlanCheck{
						expectEndpointChange{
							update:              true,
							before:              map[string]string{"model_version": "fraud/1"},
							after:               map[string]string{"model_version": "fraud/2"},
							beforeMessageHasAll: []string{"at step 1 (50% traffic); traffic restored to fraud/1"},
						},
						expectBeforeDeploymentID{&rolledBack},
						plancheck.ExpectUnknownValue(endpointAccResource, endpointAttr("deployment_id")),
					},
				},
			},
			{
				// git revert: back to fraud/1, which serves already.
				Config: good,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionNoop),
				}},
				Check: endpointAccCheckServes(10.5, "fraud/1"),
			},
		},
	})
}

// expectBeforeDeploymentID checks the endpoint's deployment_id in state
// before the planned change is d's.
type expectBeforeDeploymentID struct{ d *apitypes.Deployment }

func (e expectBeforeDeploymentID) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != endpointAccResource {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		if got := before["deployment_id"]; got != e.d.ID || e.d.ID == "" {
			resp.Error = fmt.Errorf("%s: deployment_id in state is %v, want the rolled back deployment %q", rc.Address, got, e.d.ID)
		}
		return
	}
	resp.Error = fmt.Errorf("the plan has no change for %s", endpointAccResource)
}

// TestAccModelEndpoint_noWait: with wait_for_rollout = false, apply returns
// while the canary still bakes; later refreshes show where it ended.
func TestAccModelEndpoint_noWait(t *testing.T) {
	testAccRolloutEngine(t)
	ts := startTestServer(t)
	v1, _ := testArtifact(t, 4)
	v2, _ := testArtifact(t, 10)
	versions := ts.ProviderBlock() + endpointAccVersionHCL("v1", "1", v1) + endpointAccVersionHCL("v2", "2", v2) + `
resource "slipway_deployment_policy" "long" {
  name     = "long"
  strategy = "canary"
  steps    = [{ traffic_percent = 50, bake = "4s" }]
  approval = { required = false }
}
`
	endpoint := func(target string) string {
		return fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name              = "fraud"
  model_version     = %s
  deployment_policy = slipway_deployment_policy.long.name
  wait_for_rollout  = false
}
`, target)
	}
	var d apitypes.Deployment
	started := time.Time{}

	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: versions + endpoint("slipway_model_version.v1.id"),
				Check: func(*terraform.State) error {
					_, err := waitAccDeployment(ts, 30*time.Second)
					return err
				},
			},
			{
				PreConfig: func() { started = time.Now() },
				Config:    versions + endpoint("slipway_model_version.v2.id"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/2")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("deployment_id"), knownvalue.StringRegexp(deploymentIDPattern)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/2", "canary", "", &d),
					func(*terraform.State) error {
						if apitypes.DeploymentTerminal(d.Phase) {
							return fmt.Errorf("deployment %s is already %s %s after the apply started; apply waited for it", d.ID, d.Phase, time.Since(started).Round(time.Millisecond))
						}
						return nil
					},
				),
			},
			{
				// Once the canary has ended, a refresh shows it serving.
				PreConfig: func() {
					if got, err := waitAccDeployment(ts, 30*time.Second); err != nil || got.Phase != apitypes.DeploySucceeded {
						t.Errorf("deployment %+v (%v), want it to succeed", got, err)
					}
				},
				Config: versions + endpoint("slipway_model_version.v2.id"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1})),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
				},
				Check: endpointAccCheckServes(16.5, "fraud/2"),
			},
		},
	})
}

// waitAccDeployment waits until the endpoint's newest deployment ends.
func waitAccDeployment(ts *testServer, timeout time.Duration) (*apitypes.Deployment, error) {
	deadline := time.Now().Add(timeout)
	for {
		d, err := endpointAccLatestDeployment(ts, "fraud")
		if err == nil && apitypes.DeploymentTerminal(d.Phase) {
			return d, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("the newest deployment of fraud did not end within %s: %w", timeout, err)
			}
			return d, fmt.Errorf("the newest deployment of fraud, %s, is still %s after %s", d.ID, d.Phase, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
