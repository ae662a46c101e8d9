// Package e2e_test drives the real slipway binary: a server subprocess with
// its gateway, supervisor and worker processes, talked to over HTTP only.
// Linux only (it inspects /proc).
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

const adminToken = realserver.AdminToken

// slipwayBin is the binary under test, built once by TestMain (with -race
// when the tests run with -race, so the server's own races are caught too).
var slipwayBin string

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		fmt.Println("skipping e2e tests: they need Linux (/proc, Pdeathsig)")
		os.Exit(0)
	}
	bin, cleanup, err := realserver.Build(raceEnabled)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	slipwayBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// server is a real `slipway server` subprocess with this package's helpers.
type server struct{ *realserver.Server }

type serverOpts = realserver.Opts

// startServer starts the binary under test (see realserver.Start).
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	o.Bin = slipwayBin
	return &server{realserver.Start(t, o)}
}

func freeAddr(t *testing.T) string { return realserver.FreeAddr(t) }

// ctx bounds one API call made by a test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// getEndpoint reads an endpoint; for polling loops, which would pile up
// ctx's cleanups.
func (s *server) getEndpoint(name string) (*apitypes.Endpoint, error) {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.API.GetEndpoint(c, name)
}

// ---- models ----

// linear is y = x·[1,1,1,1] + bias, so the answer to linearInput (sum 10)
// tells the versions apart.
func linear(bias float32) *onnxmodel.MLP {
	return onnxmodel.NewLinear([]float32{1, 1, 1, 1}, bias)
}

const (
	biasV1 = 100
	biasV2 = 200
	wantV1 = 10 + biasV1
	wantV2 = 10 + biasV2
)

const linearInput = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`

// createEndpoint creates the endpoint and waits until it serves e's target.
func (s *server) createEndpoint(t *testing.T, e *apitypes.Endpoint) *apitypes.Endpoint {
	t.Helper()
	if _, err := s.API.CreateEndpoint(ctx(t), e); err != nil {
		t.Fatalf("creating endpoint %s: %v", e.Name, err)
	}
	return s.WaitServing(t, e.Name, desired(e))
}

// desired is the traffic an endpoint asks for.
func desired(e *apitypes.Endpoint) map[string]int {
	if len(e.TrafficSplit) == 0 {
		return map[string]int{e.ModelVersion: 100}
	}
	w := map[string]int{}
	for _, tw := range e.TrafficSplit {
		w[tw.ModelVersion] = tw.Percent
	}
	return w
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

type answer struct {
	status int
	header http.Header
	body   []byte
}

// post sends an infer request; a transport error is returned, not fatal.
func post(url, body string, header map[string]string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := gwClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{resp.StatusCode, resp.Header, b}, nil
}

func get(t *testing.T, url string) answer {
	t.Helper()
	resp, err := gwClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func (s *server) inferURL(endpoint string) string {
	return s.GW + "/v2/models/" + endpoint + "/infer"
}

// outputs decodes an OIP infer response's first output as float64s.
func outputs(b []byte) ([]float64, error) {
	var resp struct {
		Outputs []struct {
			Name  string    `json:"name"`
			Shape []int64   `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("decoding infer response %q: %w", b, err)
	}
	if len(resp.Outputs) == 0 {
		return nil, fmt.Errorf("infer response %q has no outputs", b)
	}
	return resp.Outputs[0].Data, nil
}

// mlpBatch is a seeded batch of rows×width inputs and its infer request.
func mlpBatch(rows, width int) ([][]float32, string) {
	r := rand.New(rand.NewPCG(uint64(rows), uint64(width)))
	x := make([][]float32, rows)
	var flat []float32
	for i := range x {
		x[i] = make([]float32, width)
		for j := range x[i] {
			x[i][j] = r.Float32()*4 - 2
		}
		flat = append(flat, x[i]...)
	}
	return x, jsonString(map[string]any{"id": "req-1", "inputs": []map[string]any{{"name": "x", "shape": []int{rows, width}, "datatype": "FP32", "data": flat}}})
}

// matches says whether the flat output equals the reference rows within tol.
func matches(out []float64, ref [][]float64, tol float64) bool {
	i := 0
	for _, row := range ref {
		for _, w := range row {
			if i >= len(out) || math.Abs(out[i]-w) > tol {
				return false
			}
			i++
		}
	}
	return i == len(out)
}

// inferValue sends linearInput and returns the single output value.
func inferValue(url string, header map[string]string) (float64, answer, error) {
	a, err := post(url, linearInput, header)
	if err != nil {
		return 0, a, err
	}
	if a.status != http.StatusOK {
		return 0, a, fmt.Errorf("status %d: %s", a.status, a.body)
	}
	out, err := outputs(a.body)
	if err != nil {
		return 0, a, err
	}
	if len(out) != 1 {
		return 0, a, fmt.Errorf("want 1 output value, got %v", out)
	}
	return out[0], a, nil
}

// mustInfer sends linearInput and fails the test unless it answers want.
func mustInfer(t *testing.T, url string, header map[string]string, want float64) answer {
	t.Helper()
	got, a, err := inferValue(url, header)
	if err != nil {
		t.Fatalf("POST %s %v: %v", url, header, err)
	}
	if got != want {
		t.Fatalf("POST %s %v = %v, want %v", url, header, got, want)
	}
	return a
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// consistently checks cond every 50ms for d; cond returns what is wrong,
// or "" when all is well.
func consistently(t *testing.T, what string, d time.Duration, cond func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if bad := cond(); bad != "" {
			t.Fatalf("expected %s for %s, but: %s", what, d, bad)
		}
	}
}
