package provider

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Acceptance tests of the rollout strategies other than the plain canary,
// driven through Terraform: linear, blue/green, a canary behind an
// approval gate promoted by an operator while apply waits, and a shadow
// phase whose gate fails on a version that answers 500s.

// strategiesAccConfig is the provider, a policy named "quick" (policyBody
// is its body after name) and versions v1 (y = 10.5 for ones) and v2
// (v2HCL, or y = 16.5 for ones when empty); good has the endpoint serve v1
// under the policy, next moves it to v2.
func strategiesAccConfig(t *testing.T, ts *testServer, policyBody, v2HCL string) (good, next string) {
	t.Helper()
	v1, _ := testArtifact(t, 4)
	if v2HCL == "" {
		v2, _ := testArtifact(t, 10)
		v2HCL = endpointAccVersionHCL("v2", "2", v2)
	}
	base := ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_deployment_policy" "quick" {
  name = "quick"
%s
}
`, policyBody) + endpointAccVersionHCL("v1", "1", v1) + v2HCL
	return base + endpointAccPolicyEndpointHCL("slipway_model_version.v1.id", ""),
		base + endpointAccPolicyEndpointHCL("slipway_model_version.v2.id", "")
}

// strategiesAccPhases is the deployment's phases in order, repeats merged.
func strategiesAccPhases(d *apitypes.Deployment) []string {
	var phases []string
	for _, e := range d.Events {
		if len(phases) == 0 || phases[len(phases)-1] != e.Phase {
			phases = append(phases, e.Phase)
		}
	}
	return phases
}

// strategiesAccFirstWith is the index of d's first event that routes
// percent of the traffic to version, or -1.
func strategiesAccFirstWith(d *apitypes.Deployment, version string, percent int) int {
	for i, e := range d.Events {
		if slices.Contains(e.Traffic, apitypes.TrafficWeight{ModelVersion: version, Percent: percent}) {
			return i
		}
	}
	return -1
}

// TestAccModelEndpoint_linear: a linear rollout in 50% steps routes half
// the traffic to the new version before all of it, and apply returns once
// it has succeeded.
func TestAccModelEndpoint_linear(t *testing.T) {
	testAccRolloutEngine(t)
	ts := startTestServer(t)
	good, next := strategiesAccConfig(t, ts, `
  strategy = "linear"
  linear   = { step_percent = 50, interval = "200ms" }
  analysis = { interval = "100ms" }
  approval = { required = false }
`, "")
	var d apitypes.Deployment

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: good,
				Check:  endpointAccCheckServes(10.5, "fraud/1"),
			},
			{
				Config: next,
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/2", "linear", apitypes.DeploySucceeded, &d),
					func(*terraform.State) error {
						half, full := strategiesAccFirstWith(&d, "fraud/2", 50), strategiesAccFirstWith(&d, "fraud/2", 100)
						if half < 0 || full < 0 || half >= full {
							return fmt.Errorf("deployment %s routed 50%% to fraud/2 at event %d and 100%% at event %d; want a 50%% step before 100%%; phases %v",
								d.ID, half, full, strategiesAccPhases(&d))
						}
						if e := d.Events[half]; e.Phase != apitypes.DeployProgressing || e.Step != 1 {
							return fmt.Errorf("deployment %s's 50%% step is event %+v, want step 1 while progressing", d.ID, e)
						}
						return nil
					},
					endpointAccCheckServes(16.5, "fraud/2"),
				),
			},
		},
	})
}

// TestAccModelEndpoint_blueGreen: a blue/green switch succeeds, waiting
// out its termination wait, and the new version then serves everything.
func TestAccModelEndpoint_blueGreen(t *testing.T) {
	testAccRolloutEngine(t)
	ts := startTestServer(t)
	good, next := strategiesAccConfig(t, ts, `
  strategy   = "blue_green"
  blue_green = { termination_wait = "300ms" }
  approval   = { required = false }
`, "")
	var d apitypes.Deployment

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: good,
				Check:  endpointAccCheckServes(10.5, "fraud/1"),
			},
			{
				Config: next,
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckDeployment(ts, "fraud/2", "blue_green", apitypes.DeploySucceeded, &d),
					func(*terraform.State) error {
						for _, e := range d.Events {
							for _, w := range e.Traffic {
								if w.ModelVersion == "fraud/2" && w.Percent > 0 && w.Percent < 100 {
									return fmt.Errorf("blue/green deployment %s split traffic: %+v", d.ID, e)
								}
							}
						}
						if strategiesAccFirstWith(&d, "fraud/2", 100) < 0 {
							return fmt.Errorf("deployment %s never routed all traffic to fraud/2; phases %v", d.ID, strategiesAccPhases(&d))
						}
						return nil
					},
					endpointAccCheckServes(16.5, "fraud/2"),
				),
			},
		},
	})
}

// TestAccModelEndpoint_approval: a canary whose policy requires approval
// parks before full promotion while apply waits (the endpoint's first
// deployment as well); an operator's promote lets it finish, apply succeeds, and the deployment records who promoted.
func TestAccModelEndpoint_approval(t *testing.T) {
	testAccRolloutEngine(t)
	ts := startTestServer(t)
	good, next := strategiesAccConfig(t, ts, `
  strategy = "canary"
  steps    = [{ traffic_percent = 50, bake = "200ms" }]
  approval = { required = true }
`, "")
	// operator waits (30s at most) for the deployment to version to
	// await approval, then promotes it; the result comes on the channel.
	operator := func(version string) <-chan error {
		done := make(chan error, 1)
		go func() {
			done <- func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				for {
					ds, err := ts.Client.ListDeployments(ctx, client.DeploymentListOptions{Endpoint: "fraud", Limit: 1})
					if err == nil && len(ds) == 1 && ds[0].ToVersion == version {
						switch {
						case ds[0].Phase == apitypes.DeployAwaitingApproval:
							_, err := ts.Client.PromoteDeployment(ctx, ds[0].ID)
							return err
						case apitypes.DeploymentTerminal(ds[0].Phase):
							return fmt.Errorf("deployment %s ended %s (%s) without awaiting approval", ds[0].ID, ds[0].Phase, ds[0].Reason)
						}
					}
					select {
					case <-ctx.Done():
						return fmt.Errorf("no deployment to %s awaited approval within 30s (last listing error: %s)", version, errText(err))
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
		}()
		return done
	}
	promotedBy := func(done *<-chan error) resource.TestCheckFunc {
		return func(*terraform.State) error {
			select {
			case err := <-*done:
				if err != nil {
					return fmt.Errorf("promoting: %w", err)
				}
				return nil
			case <-time.After(30 * time.Second):
				return fmt.Errorf("the promoting goroutine did not finish")
			}
		}
	}
	var first, promoted <-chan error
	var d apitypes.Deployment

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				// The approval gate holds the endpoint's first deployment
				// too.
				PreConfig: func() { first = operator("fraud/1") },
				Config:    good,
				Check: resource.ComposeAggregateTestCheckFunc(
					promotedBy(&first),
					endpointAccCheckServes(10.5, "fraud/1"),
				),
			},
			{
				PreConfig: func() { promoted = operator("fraud/2") },
				Config:    next,
				Check: resource.ComposeAggregateTestCheckFunc(
					promotedBy(&promoted),
					endpointAccCheckDeployment(ts, "fraud/2", "canary", apitypes.DeploySucceeded, &d),
					func(*terraform.State) error {
						phases := strategiesAccPhases(&d)
						if !slices.Contains(phases, apitypes.DeployAwaitingApproval) {
							return fmt.Errorf("deployment %s went through %v, never %s", d.ID, phases, apitypes.DeployAwaitingApproval)
						}
						for _, e := range d.Events {
							if e.Actor != "" && strings.Contains(e.Message, "promoted by "+e.Actor) {
								t.Logf("promotion event: %+v", e)
								return nil
							}
						}
						return fmt.Errorf("deployment %s records no promotion with its actor: %+v", d.ID, d.Events)
					},
					endpointAccCheckServes(16.5, "fraud/2"),
				),
			},
		},
	})
}

// TestAccModelEndpoint_shadowGateFails: a version that passes its first
// request and then answers 500s is caught while it only shadows live
// traffic: the analysis of the mirrored requests fails, the deployment
// rolls back, apply fails with the reason, and the old version never
// stopped serving.
func TestAccModelEndpoint_shadowGateFails(t *testing.T) {
	testAccRolloutEngine(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH; the failing version is a Python model server")
	}
	ts := startTestServer(t)
	script, err := filepath.Abs(filepath.Join("testdata", "flaky.py"))
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(t.TempDir(), "weights.bin")
	if err := os.WriteFile(weights, []byte("1 1 1 1 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, bad := strategiesAccConfig(t, ts, `
  strategy = "canary"
  steps    = [{ traffic_percent = 50, bake = "200ms" }]
  shadow   = { traffic_percent = 100, duration = "1s" }
  analysis = { interval = "100ms", min_requests = 1, max_error_rate = 0.01 }
  rollback = { automatic = true }
  approval = { required = false }
`, fmt.Sprintf(`
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
`, weights, weights, script))

	// Live traffic to the endpoint during the apply, for 10s at most or
	// until the deployment to fraud/2 ends.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var mu sync.Mutex
	var sent, failed int
	traffic := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(10 * time.Second)
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				r, err := endpointAccInfer(ts.EndpointURL("fraud")+"/infer", 1, 1, 1, 1)
				mu.Lock()
				sent++
				if err != nil || r.Status != http.StatusOK {
					failed++
				}
				mu.Unlock()
				if i%10 == 0 {
					if d, err := endpointAccLatestDeployment(ts, "fraud"); err == nil && d.ToVersion == "fraud/2" && apitypes.DeploymentTerminal(d.Phase) {
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: good,
				Check:  endpointAccCheckServes(10.5, "fraud/1"),
			},
			{
				PreConfig: traffic,
				Config:    bad,
				ExpectError: endpointAccWords("Error Deploying Model Endpoint",
					`Model endpoint "fraud" did not switch to fraud/2: deployment dep-`,
					"was rolled back:", "error rate", "while shadowing 100% of traffic; traffic stays on fraud/1"),
			},
			{
				PreConfig: func() {
					cancel()
					wg.Wait()
					mu.Lock()
					t.Logf("live traffic during the apply: %d requests, %d not answered 200", sent, failed)
					mu.Unlock()
					d, err := endpointAccLatestDeployment(ts, "fraud")
					if err != nil || d.Phase != apitypes.DeployRolledBack || d.ToVersion != "fraud/2" {
						t.Errorf("the endpoint's newest deployment is %+v (%v), want fraud/2 rolled back", d, err)
					} else {
						phases := strategiesAccPhases(d)
						if !slices.Contains(phases, apitypes.DeployShadowing) || slices.Contains(phases, apitypes.DeployProgressing) {
							t.Errorf("deployment %s went through %v; want it rolled back while shadowing, before any step", d.ID, phases)
						}
						t.Logf("rolled back: %s", d.Reason)
					}
					if err := endpointAccServes(ts.EndpointURL("fraud"), 10.5, "fraud/1"); err != nil {
						t.Errorf("after the rollback: %v", err)
					}
				},
				Config: good,
				Check:  endpointAccCheckServes(10.5, "fraud/1"),
			},
		},
	})
}

// errText is err's message, or "none" for nil.
func errText(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}
