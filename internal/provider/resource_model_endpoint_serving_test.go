package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Acceptance tests of what an endpoint really serves: every apply here ends
// with real replicas (slipway worker processes, or a Python model server)
// answering inference requests through the real gateway, and the checks ask
// them, not only the control plane.

// endpointAccInferResult is one answer of the gateway.
type endpointAccInferResult struct {
	Status  int
	Version string // the Slipway-Served-Version header
	Body    string
	Answer  apitypes.InferResponse
}

// Y is the single output value of a one-row, one-output answer.
func (r endpointAccInferResult) Y() (float64, error) {
	if len(r.Answer.Outputs) != 1 || len(r.Answer.Outputs[0].Data) != 1 {
		return 0, fmt.Errorf("want one output with one value, got %s", r.Body)
	}
	y, ok := r.Answer.Outputs[0].Data[0].(float64)
	if !ok {
		return 0, fmt.Errorf("output value %v is not a number in %s", r.Answer.Outputs[0].Data[0], r.Body)
	}
	return y, nil
}

// endpointAccInfer POSTs one Open Inference Protocol v2 request with the
// row x to inferURL, once: after apply the endpoint must answer the first
// request, so nothing here retries.
func endpointAccInfer(inferURL string, x ...float64) (endpointAccInferResult, error) {
	body, err := json.Marshal(apitypes.InferRequest{Inputs: []apitypes.InferTensor{{
		Name: "x", Shape: []int64{1, int64(len(x))}, Datatype: "FP32", Data: func() []any {
			d := make([]any, len(x))
			for i, v := range x {
				d[i] = v
			}
			return d
		}(),
	}}})
	if err != nil {
		return endpointAccInferResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inferURL, bytes.NewReader(body))
	if err != nil {
		return endpointAccInferResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return endpointAccInferResult{}, fmt.Errorf("POST %s: %w", inferURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return endpointAccInferResult{}, fmt.Errorf("POST %s: reading the answer: %w", inferURL, err)
	}
	r := endpointAccInferResult{Status: resp.StatusCode, Version: resp.Header.Get("Slipway-Served-Version"), Body: string(b)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &r.Answer); err != nil {
			return r, fmt.Errorf("POST %s: answer is not an infer response: %w: %s", inferURL, err, b)
		}
	}
	return r, nil
}

// endpointAccStateURL is the endpoint's url as Terraform recorded it.
func endpointAccStateURL(s *terraform.State) (string, error) {
	rs, ok := s.RootModule().Resources[endpointAccResource]
	if !ok {
		return "", fmt.Errorf("%s is not in state", endpointAccResource)
	}
	u := rs.Primary.Attributes["url"]
	if u == "" {
		return "", fmt.Errorf("%s has no url in state", endpointAccResource)
	}
	return u, nil
}

// endpointAccCheckServes asks the endpoint, at the url in state, for
// x = [1,1,1,1] a few times: every answer must be want from version.
func endpointAccCheckServes(want float64, version string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		u, err := endpointAccStateURL(s)
		if err != nil {
			return err
		}
		return endpointAccServes(u, want, version)
	}
}

func endpointAccServes(baseURL string, want float64, version string) error {
	// Several requests: a switch that left the old version routed would
	// show in some of them.
	for i := range 8 {
		r, err := endpointAccInfer(baseURL+"/infer", 1, 1, 1, 1)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			return fmt.Errorf("request %d: POST %s/infer answered %d: %s", i+1, baseURL, r.Status, r.Body)
		}
		y, err := r.Y()
		if err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		if y != want || r.Version != version {
			return fmt.Errorf("request %d: got y = %v from %q, want %v from %q", i+1, y, r.Version, want, version)
		}
	}
	return nil
}

// endpointAccCheckServer compares what the control plane holds for the
// endpoint with the target and the live traffic it should report.
func endpointAccCheckServer(ts *testServer, target string, phase string, traffic ...apitypes.TrafficStatus) error {
	e, err := ts.Client.GetEndpoint(context.Background(), "fraud")
	if err != nil {
		return err
	}
	if e.ModelVersion != target || e.Status.Phase != phase || !slices.Equal(e.Status.Traffic, traffic) {
		return fmt.Errorf("server holds target %s, phase %s (%q), traffic %+v; want target %s, phase %s, traffic %+v",
			e.ModelVersion, e.Status.Phase, e.Status.Message, e.Status.Traffic, target, phase, traffic)
	}
	return nil
}

// endpointAccTraffic is the expected status.traffic in state.
func endpointAccTraffic(entries ...apitypes.TrafficStatus) knownvalue.Check {
	checks := make([]knownvalue.Check, len(entries))
	for i, e := range entries {
		checks[i] = knownvalue.ObjectExact(map[string]knownvalue.Check{
			"model_version":  knownvalue.StringExact(e.ModelVersion),
			"percent":        knownvalue.Int64Exact(int64(e.Percent)),
			"ready_replicas": knownvalue.Int64Exact(int64(e.ReadyReplicas)),
		})
	}
	return knownvalue.ListExact(checks)
}

// endpointAccPinned asks the gateway for one version explicitly; a version
// the endpoint no longer serves is a 404.
func endpointAccPinned(ts *testServer, version string) (endpointAccInferResult, error) {
	_, v, err := apitypes.SplitModelVersionID(version)
	if err != nil {
		return endpointAccInferResult{}, err
	}
	return endpointAccInfer(ts.EndpointURL("fraud")+"/versions/"+v+"/infer", 1, 1, 1, 1)
}

// endpointAccWords matches the words of phrase in order, across the line
// breaks and indentation Terraform puts into a wrapped diagnostic.
func endpointAccWords(phrases ...string) *regexp.Regexp {
	parts := make([]string, len(phrases))
	for i, p := range phrases {
		words := strings.Fields(p)
		for j, w := range words {
			words[j] = regexp.QuoteMeta(w)
		}
		parts[i] = strings.Join(words, `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, `.*`))
}

// endpointAccVersionHCL is a slipway_model_version for the builtin runtime.
func endpointAccVersionHCL(name, version, artifact string) string {
	return fmt.Sprintf(`
resource "slipway_model_version" %q {
  model        = "fraud"
  version      = %q
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "onnx"
}
`, name, version, artifact, artifact)
}

// endpointAccEndpointHCL is the endpoint "fraud" serving target, an HCL
// expression.
func endpointAccEndpointHCL(target string) string {
	return fmt.Sprintf(`
resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = %s

  timeouts = { create = "2m", update = "2m" }
}
`, target)
}

// expectEndpointChange is a plan check on the endpoint's change: the
// actions, and attributes before (state as recorded) and after (the plan).
type expectEndpointChange struct {
	update              bool
	before, after       map[string]string // top-level string attributes
	beforeMessageHasAll []string          // words status.message must hold before the change
}

func (e expectEndpointChange) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != endpointAccResource {
			continue
		}
		if e.update && !rc.Change.Actions.Update() {
			resp.Error = fmt.Errorf("%s: planned actions %v, want an in-place update", rc.Address, rc.Change.Actions)
			return
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		for k, want := range e.before {
			if got := before[k]; got != want {
				resp.Error = fmt.Errorf("%s: %s before the change is %v, want %q", rc.Address, k, got, want)
				return
			}
		}
		for k, want := range e.after {
			if got := after[k]; got != want {
				resp.Error = fmt.Errorf("%s: %s after the change is %v, want %q", rc.Address, k, got, want)
				return
			}
		}
		if len(e.beforeMessageHasAll) > 0 {
			status, _ := before["status"].(map[string]any)
			msg, _ := status["message"].(string)
			for _, w := range e.beforeMessageHasAll {
				if !strings.Contains(msg, w) {
					resp.Error = fmt.Errorf("%s: status.message before the change is %q; want it to say %q", rc.Address, msg, w)
					return
				}
			}
		}
		return
	}
	resp.Error = fmt.Errorf("the plan has no change for %s", endpointAccResource)
}

// TestAccModelEndpoint_serves: apply returns once the endpoint answers
// with the version it was given, and changing model_version switches what
// answers, in place.
func TestAccModelEndpoint_serves(t *testing.T) {
	ts := startTestServer(t)
	v1, _ := testArtifact(t, 4)  // y = x·[1,2,3,4] + 0.5: 10.5 for ones
	v2, _ := testArtifact(t, 10) // y = x·[1,2,3,10] + 0.5: 16.5 for ones
	step1 := ts.ProviderBlock() + endpointAccVersionHCL("v1", "1", v1) + endpointAccEndpointHCL("slipway_model_version.v1.id")
	step2 := ts.ProviderBlock() + endpointAccVersionHCL("v1", "1", v1) + endpointAccVersionHCL("v2", "2", v2) +
		endpointAccEndpointHCL("slipway_model_version.v2.id")

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				Config: step1,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1})),
				},
				Check: endpointAccCheckServes(10.5, "fraud/1"),
			},
			{
				Config: step2,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/2")),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("url"), knownvalue.StringExact(ts.EndpointURL("fraud"))),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/2")),
					// In place: the same endpoint at its next revision, not a new one.
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "message"), knownvalue.Null()),
					// The switch is complete: fraud/1 no longer appears at all.
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1})),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckServes(16.5, "fraud/2"),
					func(*terraform.State) error {
						return endpointAccCheckServer(ts, "fraud/2", apitypes.PhaseReady,
							apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1})
					},
					func(*terraform.State) error {
						// The gateway no longer routes to fraud/1 even when asked by name.
						r, err := endpointAccPinned(ts, "fraud/1")
						if err != nil {
							return err
						}
						if r.Status != http.StatusNotFound {
							return fmt.Errorf("a request pinned to fraud/1 after the switch got %d from %q: %s; want 404", r.Status, r.Version, r.Body)
						}
						return nil
					},
					func(*terraform.State) error {
						// One create and one update of the endpoint, both by Terraform.
						events, err := ts.Client.ListAuditEvents(context.Background(), client.AuditListOptions{ObjectType: apitypes.ObjectEndpoint, ObjectID: "fraud"})
						if err != nil {
							return err
						}
						var actions []string
						for _, e := range events {
							actions = append(actions, e.Action+"/"+e.Source)
						}
						if want := []string{"create/terraform", "update/terraform"}; !slices.Equal(actions, want) {
							return fmt.Errorf("ledger events of endpoint fraud: %v, want %v", actions, want)
						}
						return nil
					},
				),
			},
			{
				Config:   step2,
				PlanOnly: true,
			},
		},
	})
}

// TestAccModelEndpoint_failedDeployment: a version that cannot be served
// fails the apply with the replica's own words, traffic stays on the old
// version, state records the old version so the next plan proposes the
// change again, and reverting the configuration applies cleanly.
func TestAccModelEndpoint_failedDeployment(t *testing.T) {
	ts := startTestServer(t)
	v1, _ := testArtifact(t, 4)
	weights, _ := testArtifact(t, 10)
	good := ts.ProviderBlock() + endpointAccVersionHCL("v1", "1", v1) + endpointAccEndpointHCL("slipway_model_version.v1.id")
	broken := ts.ProviderBlock() + endpointAccVersionHCL("v1", "1", v1) + fmt.Sprintf(`
resource "slipway_model_version" "v2" {
  model        = "fraud"
  version      = "2"
  artifact_uri = "file://${abspath(%q)}"
  sha256       = filesha256(%q)
  format       = "custom"
  runtime = {
    kind    = "process"
    command = ["sh", "-c", "echo weights corrupt >&2; exit 3", "--", "{port}"]
  }
}
`, weights, weights) + endpointAccEndpointHCL("slipway_model_version.v2.id")

	servesV1 := func() error {
		if err := endpointAccCheckServer(ts, "fraud/1", apitypes.PhaseReady,
			apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}); err != nil {
			return err
		}
		return endpointAccServes(ts.EndpointURL("fraud"), 10.5, "fraud/1")
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
				Config: broken,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
				}},
				// The deployment the change started failed: its ID and reason,
				// in the replica's own words, and what serves now.
				ExpectError: endpointAccWords("Error Deploying Model Endpoint",
					`Model endpoint "fraud" did not switch to fraud/2: deployment dep-`,
					"failed: model version fraud/2 could not be served:",
					"its last words: weights corrupt; traffic stays on fraud/1.",
					"Now serving: fraud/1. The server put the endpoint back to it (revision 3) and state records that",
					"slipway deployments get dep-"),
			},
			{
				// The failed apply recorded what really serves: without a
				// refresh, state already says fraud/1 and why, so the plan
				// proposes the change again.
				PreConfig: func() {
					if err := servesV1(); err != nil {
						t.Errorf("after the failed deployment: %v", err)
					}
				},
				Config:             broken,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPreRefresh: []plancheck.PlanCheck{expectEndpointChange{
						update:              true,
						before:              map[string]string{"model_version": "fraud/1"},
						after:               map[string]string{"model_version": "fraud/2"},
						beforeMessageHasAll: []string{"fraud/2 could not be served", "weights corrupt", "traffic stays on fraud/1"},
					}},
					PostApplyPostRefresh: []plancheck.PlanCheck{expectEndpointChange{
						update: true,
						before: map[string]string{"model_version": "fraud/1"},
						after:  map[string]string{"model_version": "fraud/2"},
					}},
				},
			},
			{
				// git revert: the configuration names fraud/1 again and
				// drops fraud/2, which nothing serves, so it can go.
				Config: good,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("slipway_model_version.v2", plancheck.ResourceActionDestroy),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1})),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					endpointAccCheckServes(10.5, "fraud/1"),
					func(*terraform.State) error { return servesV1() },
				),
			},
			{
				Config:   good,
				PlanOnly: true,
			},
		},
	})
}

// TestAccModelEndpoint_revert: after a successful deployment, applying the
// reverted configuration is the rollback: the previous version serves
// again, in place.
func TestAccModelEndpoint_revert(t *testing.T) {
	ts := startTestServer(t)
	v1, _ := testArtifact(t, 4)
	v2, _ := testArtifact(t, 10)
	versions := ts.ProviderBlock() + endpointAccVersionHCL("v1", "1", v1) + endpointAccVersionHCL("v2", "2", v2)
	onV1 := versions + endpointAccEndpointHCL("slipway_model_version.v1.id")
	onV2 := versions + endpointAccEndpointHCL("slipway_model_version.v2.id")

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{Config: onV1, Check: endpointAccCheckServes(10.5, "fraud/1")},
			{Config: onV2, Check: endpointAccCheckServes(16.5, "fraud/2")},
			{
				Config: onV1,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(endpointAccResource, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("revision"), knownvalue.Int64Exact(3)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1})),
				},
				Check: endpointAccCheckServes(10.5, "fraud/1"),
			},
			{Config: onV1, PlanOnly: true},
		},
	})
}

// TestAccModelEndpoint_processRuntime applies the process runtime as the
// issue states it: any HTTP model server command, here a stdlib-only Python
// Open Inference Protocol server (testdata/serve.py), started per replica
// with {port} and {model_path} filled in, and served through the gateway.
//
// The one difference from the text: the script is named with
// abspath("serve.py"). Slipway starts the command in the *server's* working
// directory, not in the Terraform configuration's, so a bare "serve.py"
// works only when `slipway server` runs in the configuration directory.
// (Here the server runs inside the test process, in internal/provider.)
func TestAccModelEndpoint_processRuntime(t *testing.T) {
	testAccPreCheck(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH; the process runtime test runs a Python model server")
	}
	t.Logf("model server: %s testdata/serve.py", python)
	ts := startTestServer(t)

	// The configuration directory, as a user would have it: main.tf next to
	// the model server script and its weights.
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join("testdata", "serve.py"))
	if err != nil {
		t.Fatal(err)
	}
	weights := []byte("10 20 30 40 0.25\n") // y = x·[10,20,30,40] + 0.25
	sum := sha256.Sum256(weights)
	weightsSHA := hex.EncodeToString(sum[:])
	mainTF := `
terraform {
  required_providers {
    # The address the test harness serves this provider at.
    slipway = { source = "registry.terraform.io/hashicorp/slipway" }
  }
}
` + ts.ProviderBlock() + `
resource "slipway_model_version" "custom" {
  model        = "fraud"
  version      = "2"
  artifact_uri = "file://${abspath("weights.bin")}"
  sha256       = filesha256("weights.bin")
  format       = "custom"
  runtime = {
    kind           = "process"
    command        = ["python3", abspath("serve.py"), "--port", "{port}", "--model", "{model_path}"]
    readiness_path = "/v2/health/ready"
  }
}

resource "slipway_model_endpoint" "fraud" {
  name          = "fraud"
  model_version = slipway_model_version.custom.id

  timeouts = { create = "2m", update = "2m" }
}
`
	for name, b := range map[string][]byte{"serve.py": script, "weights.bin": weights, "main.tf": []byte(mainTF)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	checkPythonAnswers := func(s *terraform.State) error {
		u, err := endpointAccStateURL(s)
		if err != nil {
			return err
		}
		r, err := endpointAccInfer(u+"/infer", 1, 1, 1, 1)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			return fmt.Errorf("POST %s/infer answered %d: %s", u, r.Status, r.Body)
		}
		y, err := r.Y()
		if err != nil {
			return err
		}
		if y != 100.25 || r.Version != "fraud/2" {
			return fmt.Errorf("got y = %v from %q, want 100.25 from fraud/2: %s", y, r.Version, r.Body)
		}
		// serve.py answered, having loaded the registered weights.
		if by := r.Answer.Parameters["served_by"]; by != "serve.py" {
			return fmt.Errorf("answer served_by %v, want serve.py: %s", by, r.Body)
		}
		if got := r.Answer.Parameters["model_sha256"]; got != weightsSHA {
			return fmt.Errorf("the model server loaded a file with SHA-256 %v, want the registered weights' %s", got, weightsSHA)
		}
		// {model_path} is the server's verified copy, not the file
		// Terraform pointed at: the replica's command line says so.
		pid, ok := r.Answer.Parameters["pid"].(float64)
		if !ok {
			return fmt.Errorf("answer has no pid: %s", r.Body)
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", int(pid)))
		if err != nil {
			t.Logf("not checking the replica's command line: %v", err)
			return nil
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		i := slices.Index(args, "--model")
		if i < 0 || i+1 >= len(args) {
			return fmt.Errorf("replica command line %q has no --model", args)
		}
		if model := args[i+1]; !strings.HasPrefix(model, ts.DataDir+string(filepath.Separator)) {
			return fmt.Errorf("replica got --model %q; want the verified artifact under the server's data directory %s", model, ts.DataDir)
		}
		if port := args[slices.Index(args, "--port")+1]; port == "{port}" || port == "" {
			return fmt.Errorf("replica got --port %q; want the placeholder replaced", port)
		}
		return nil
	}

	// main.tf has its provider block, so the providers are given per step:
	// the harness refuses them on the test case then.
	resource.ParallelTest(t, resource.TestCase{
		CheckDestroy: endpointAccCheckGone(ts, "fraud"),
		Steps: []resource.TestStep{
			{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				ConfigDirectory:          config.StaticDirectory(dir),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue("slipway_model_version.custom", endpointAttr("runtime", "kind"), knownvalue.StringExact("process")),
					plancheck.ExpectKnownValue(endpointAccResource, endpointAttr("model_version"), knownvalue.StringExact("fraud/2")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("slipway_model_version.custom", endpointAttr("sha256"), knownvalue.StringExact(weightsSHA)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "phase"), knownvalue.StringExact(apitypes.PhaseReady)),
					statecheck.ExpectKnownValue(endpointAccResource, endpointAttr("status", "traffic"),
						endpointAccTraffic(apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1})),
				},
				Check: checkPythonAnswers,
			},
			{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				ConfigDirectory:          config.StaticDirectory(dir),
				PlanOnly:                 true,
			},
		},
	})
}
