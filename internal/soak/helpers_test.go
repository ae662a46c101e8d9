// Package soak_test is Slipway's reliability soak: the real slipway binary
// killed with SIGKILL across many rollouts, rollouts and rollbacks under
// continuous load, and racing writers (API and `tofu apply`) on one
// endpoint. It runs only when SLIPWAY_SOAK is set (make soak): short for CI,
// long for a run ten times as big. Linux only (it inspects /proc).
//
// The process helpers (startServer, kill, the /proc scan) are adapted from
// internal/e2e, whose test helpers cannot be imported.
package soak_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

const adminToken = realserver.AdminToken

// slipwayBin is the binary under test, built once by TestMain when the soak
// is on; binDir also holds the provider binary the tofu test builds.
var slipwayBin, binDir string

func TestMain(m *testing.M) {
	if os.Getenv("SLIPWAY_SOAK") == "" || runtime.GOOS != "linux" {
		os.Exit(m.Run()) // every test skips and says why
	}
	// The server's own races fail the soak too.
	bin, cleanup, err := realserver.Build(raceEnabled)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	slipwayBin, binDir = bin, filepath.Dir(bin)
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// ---- configuration ----

// soakConfig is one run's size and randomness.
type soakConfig struct {
	mode  string // short | long
	scale int    // 1 for short, 10 for long
	seed  uint64
}

// runSeed is the seed of the whole run when SLIPWAY_SOAK_SEED does not fix
// one: each test derives its own stream from it and its name.
var (
	runSeed     uint64
	runSeedOnce sync.Once
)

// config skips the test unless SLIPWAY_SOAK is set. SLIPWAY_SOAK_SCALE
// overrides the multiplier, SLIPWAY_SOAK_SEED fixes the seed.
func config(t *testing.T) soakConfig {
	t.Helper()
	mode := os.Getenv("SLIPWAY_SOAK")
	if mode == "" {
		t.Skip("soak tests run only with SLIPWAY_SOAK=short or SLIPWAY_SOAK=long (make soak); skipping")
	}
	if runtime.GOOS != "linux" {
		t.Skip("soak tests need Linux (/proc, Pdeathsig)")
	}
	c := soakConfig{mode: mode, scale: 1}
	switch mode {
	case "short", "1", "true":
	case "long":
		c.scale = 10
	default:
		t.Fatalf("SLIPWAY_SOAK=%q: want short or long", mode)
	}
	c.scale = envInt(t, "SLIPWAY_SOAK_SCALE", c.scale)
	runSeedOnce.Do(func() { runSeed = uint64(time.Now().UnixNano()) })
	c.seed = runSeed
	if v := os.Getenv("SLIPWAY_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SLIPWAY_SOAK_SEED=%q: %v", v, err)
		}
		c.seed = n
	}
	t.Logf("soak %s (scale %d), seed %d: rerun with SLIPWAY_SOAK_SEED=%d", c.mode, c.scale, c.seed, c.seed)
	return c
}

// rng is the test's own random stream, derived from the seed and its name
// so that each test replays alone.
func (c soakConfig) rng(t *testing.T) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.Name()))
	return rand.New(rand.NewPCG(c.seed, h.Sum64()))
}

// count is n times the scale, or the value of env when set.
func (c soakConfig) count(t *testing.T, env string, n int) int {
	return envInt(t, env, n*c.scale)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// ---- the server process ----

// server is a real `slipway server` subprocess with this package's helpers.
type server struct{ *realserver.Server }

type serverOpts = realserver.Opts

// startServer starts the binary under test (see realserver.Start).
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	o.Bin = slipwayBin
	return &server{realserver.Start(t, o)}
}

// restart starts a new server on s's data directory and ports.
func (s *server) restart(t *testing.T) *server {
	t.Helper()
	return &server{s.Restart(t, serverOpts{})}
}

// kill is kill -9; the gateway client's idle connections to the dead
// server are dropped with it.
func (s *server) kill() {
	s.Kill()
	gwClient.CloseIdleConnections()
}

var tail = realserver.Tail

// ctx bounds one API call made by a test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// call runs one API call with its own timeout (for loops, which would pile
// up ctx's cleanups).
func call[T any](f func(context.Context) (T, error)) (T, error) {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return f(c)
}

func (s *server) getEndpoint(name string) (*apitypes.Endpoint, error) {
	return call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.GetEndpoint(c, name) })
}

func (s *server) deployments(endpoint string) ([]apitypes.Deployment, error) {
	return call(func(c context.Context) ([]apitypes.Deployment, error) {
		return s.API.ListDeployments(c, client.DeploymentListOptions{Endpoint: endpoint})
	})
}

func (s *server) ledger(after int64) ([]apitypes.AuditEvent, error) {
	return call(func(c context.Context) ([]apitypes.AuditEvent, error) {
		return s.API.ListAuditEvents(c, client.AuditListOptions{AfterSeq: after})
	})
}

// ---- models ----

// linear is y = x·[1,1,1,1] + bias: the answer to linearInput (sum 10) is
// 10+bias, which tells the versions apart.
func linear(bias float32) *onnxmodel.MLP {
	return onnxmodel.NewLinear([]float32{1, 1, 1, 1}, bias)
}

const linearInput = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`

// registerONNX registers the builtin-runtime version id answering 10+bias.
func (s *server) registerONNX(t *testing.T, id string, bias float32) {
	t.Helper()
	s.RegisterONNX(t, id, linear(bias))
}

// registerCandidate registers a process-runtime version running
// realserver.CandidatePy with args; it returns the script's path, which names
// its processes in /proc.
func (s *server) registerCandidate(t *testing.T, id string, args ...string) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("the soak needs python3 on PATH for its candidate model servers")
	}
	return s.RegisterCandidate(t, id, python, args...)
}

// registerUnstartable registers a process-runtime version whose process
// exits at once: its deployments fail.
func (s *server) registerUnstartable(t *testing.T, id string) {
	t.Helper()
	weights, digest := realserver.WriteFile(t, "weights.bin", []byte("not really weights"))
	s.Register(t, &apitypes.ModelVersion{
		ArtifactURI: "file://" + weights, SHA256: digest, Format: "custom",
		Runtime: apitypes.Runtime{Kind: "process", Command: []string{"sh", "-c", "echo weights corrupt >&2; exit 3", "--", "{port}"}},
	}, id)
}

// smoke200 is a smoke test that wants a 200 to linearInput: a candidate
// answering 500s fails it before it sees live traffic, and the analysis
// has synthetic requests to judge when live traffic is thin.
var smoke200 = &apitypes.SmokeTest{Requests: []apitypes.SmokeRequest{{Name: "sum of 1..4", Body: linearInput, ExpectStatus: http.StatusOK}}}

func ptr[T any](v T) *T { return &v }

// ---- waiting ----

// waitTerminal polls deployment id until it has finished.
func (s *server) waitTerminal(t *testing.T, id string, timeout time.Duration) *apitypes.Deployment {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *apitypes.Deployment
	for {
		d, err := call(func(c context.Context) (*apitypes.Deployment, error) { return s.API.GetDeployment(c, id) })
		if err == nil {
			last = d
			if apitypes.DeploymentTerminal(d.Phase) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s not finished after %s: %s (err %v)", id, timeout, jsonString(last), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDeployment polls deployment id until cond holds; it fails if the
// deployment finishes first.
func (s *server) waitDeployment(t *testing.T, id, what string, timeout time.Duration, cond func(*apitypes.Deployment) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, err := call(func(c context.Context) (*apitypes.Deployment, error) { return s.API.GetDeployment(c, id) })
		if err == nil && cond(d) {
			return
		}
		if err == nil && apitypes.DeploymentTerminal(d.Phase) {
			t.Fatalf("deployment %s ended %s (%s) while waiting for %s", id, d.Phase, d.Reason, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s: timed out after %s waiting for %s; last %s (err %v)", id, timeout, what, jsonString(d), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditVerify runs `slipway audit verify` against the server.
func (s *server) auditVerify(t *testing.T) {
	t.Helper()
	cmd := exec.Command(slipwayBin, "audit", "verify")
	cmd.Env = append(os.Environ(), "SLIPWAY_ADDR=http://"+s.APIAddr, "SLIPWAY_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hash chain intact") {
		t.Fatalf("slipway audit verify: %v\n%s", err, out)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ---- inference ----

var gwClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
}

// answer is one infer request's outcome.
type answer struct {
	status  int
	version string // Slipway-Served-Version
	body    []byte
}

// infer sends linearInput to the endpoint; a transport error is returned.
func (s *server) infer(endpoint string) (answer, error) {
	return post(s.GW+"/v2/models/"+endpoint+"/infer", linearInput)
}

func post(url, body string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := gwClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, version: resp.Header.Get("Slipway-Served-Version"), body: b}, nil
}

// value decodes the single output value of an infer response.
func value(b []byte) (float64, error) {
	var resp struct {
		Outputs []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return 0, fmt.Errorf("decoding infer response %q: %w", b, err)
	}
	if len(resp.Outputs) != 1 || len(resp.Outputs[0].Data) != 1 {
		return 0, fmt.Errorf("infer response %q: want one output with one value", b)
	}
	return resp.Outputs[0].Data[0], nil
}

// check says what is wrong with an answer, given each version's expected
// value, or "" when it is a 200 with the right value from a known version.
func check(a answer, err error, want map[string]float64) string {
	if err != nil {
		return "transport error: " + err.Error()
	}
	if a.status != http.StatusOK {
		return fmt.Sprintf("status %d: %s", a.status, a.body)
	}
	w, ok := want[a.version]
	if !ok {
		return fmt.Sprintf("answered by %q, not a version of the endpoint", a.version)
	}
	v, verr := value(a.body)
	if verr != nil {
		return verr.Error()
	}
	if v != w {
		return fmt.Sprintf("%s answered %v, want %v", a.version, v, w)
	}
	return ""
}
