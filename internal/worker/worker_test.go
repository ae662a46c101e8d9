package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

var quiet = slog.New(slog.DiscardHandler)

func writeModel(t testing.TB, m *onnxmodel.MLP) string {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRun runs the worker on a free loopback port until the test ends and
// returns its base URL.
func startRun(t testing.TB, cfg Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(addr string) { addrc <- addr }) }()
	select {
	case addr := <-addrc:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		return "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before ready: %v", err)
		return ""
	}
}

// batch is a deterministic input batch and its JSON data.
func batch(rows, width int) ([][]float32, []float32) {
	x := make([][]float32, rows)
	var flat []float32
	for r := range x {
		x[r] = make([]float32, width)
		for i := range x[r] {
			x[r][i] = float32((r+2)*(i%5-2)) / 3
			flat = append(flat, x[r][i])
		}
	}
	return x, flat
}

func inferBody(t testing.TB, id string, shape []int64, data any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id":     id,
		"inputs": []map[string]any{{"name": "x", "datatype": "FP32", "shape": shape, "data": data}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, method, url string, body []byte, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func decodeInfer(t *testing.T, r response) apitypes.InferResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var out apitypes.InferResponse
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("response %s: %v", r.body, err)
	}
	return out
}

func checkOutputs(t *testing.T, out apitypes.InferTensor, want [][]float64) {
	t.Helper()
	if out.Name != "y" || out.Datatype != "FP32" || fmt.Sprint(out.Shape) != fmt.Sprint([]int{len(want), len(want[0])}) {
		t.Fatalf("output %q %s %v", out.Name, out.Datatype, out.Shape)
	}
	var flat []float64
	for _, r := range want {
		flat = append(flat, r...)
	}
	if len(out.Data) != len(flat) {
		t.Fatalf("%d values, want %d", len(out.Data), len(flat))
	}
	for i, v := range out.Data {
		if d := math.Abs(v.(float64) - flat[i]); d > 1e-4 {
			t.Fatalf("value %d = %v, reference %v", i, v, flat[i])
		}
	}
}

func TestWorkerServesOIP(t *testing.T) {
	m := onnxmodel.NewMLP(5, 32, 64, 64, 2)
	base := startRun(t, Config{ModelPath: writeModel(t, m), Format: "onnx", Name: "fraud", Version: "7", Logger: quiet})

	for _, path := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/whatever/ready", "/v2/models/fraud/versions/7/ready"} {
		if r := do(t, "GET", base+path, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}

	var server apitypes.ServerMetadata
	if r := do(t, "GET", base+"/v2", nil); r.status != 200 || json.Unmarshal(r.body, &server) != nil || server.Name == "" || server.Extensions == nil {
		t.Errorf("GET /v2: %d %s", r.status, r.body)
	}

	for _, path := range []string{"/v2/models/gateway-name", "/v2/models/fraud/versions/7"} {
		r := do(t, "GET", base+path, nil)
		var md apitypes.ModelMetadata
		if err := json.Unmarshal(r.body, &md); r.status != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		got := fmt.Sprint(md.Name, md.Versions, md.Platform, md.Inputs, md.Outputs)
		if want := "fraud[7]onnx[{x FP32 [-1 32]}] [{y FP32 [-1 2]}]"; got != want {
			t.Errorf("GET %s: %s, want %s", path, got, want)
		}
	}

	x, flat := batch(3, 32)
	want := m.Forward(x)
	for _, path := range []string{"/v2/models/endpoint-name/infer", "/v2/models/fraud/versions/7/infer"} {
		out := decodeInfer(t, do(t, "POST", base+path, inferBody(t, "req-42", []int64{3, 32}, flat)))
		if out.ModelName != "fraud" || out.ModelVersion != "7" || out.ID != "req-42" || len(out.Outputs) != 1 {
			t.Fatalf("POST %s: model %q version %q id %q, %d outputs", path, out.ModelName, out.ModelVersion, out.ID, len(out.Outputs))
		}
		checkOutputs(t, out.Outputs[0], want)
	}

	// Row-major nested data is the same tensor; requesting the output by
	// name returns it.
	body, _ := json.Marshal(map[string]any{
		"inputs":  []map[string]any{{"name": "x", "datatype": "FP32", "shape": []int{3, 32}, "data": x}},
		"outputs": []map[string]any{{"name": "y"}},
	})
	out := decodeInfer(t, do(t, "POST", base+"/v2/models/fraud/infer", body))
	if out.ID != "" {
		t.Errorf("id %q echoed though none was sent", out.ID)
	}
	checkOutputs(t, out.Outputs[0], want)
}

func TestWorkerRejectsBadRequests(t *testing.T) {
	m := onnxmodel.NewMLP(5, 4, 3, 2)
	model, err := inference.Load(writeModel(t, m), "onnx")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(Config{Name: "fraud", Logger: quiet, MaxBodyBytes: 4096}, model))
	defer srv.Close()
	x, flat := batch(1, 4)
	good := inferBody(t, "", []int64{1, 4}, flat)
	infer := srv.URL + "/v2/models/fraud/infer"

	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		header       []string
		status       int
		want         []string
	}{
		{"malformed JSON", "POST", infer, `{"inputs": [`, nil, 400, []string{"truncated"}},
		{"not JSON", "POST", infer, `hello`, nil, 400, []string{"not valid JSON"}},
		{"empty body", "POST", infer, ``, nil, 400, []string{"empty"}},
		{"array body", "POST", infer, `[1,2]`, nil, 400, []string{"JSON object"}},
		{"no inputs", "POST", infer, `{"inputs": []}`, nil, 400, []string{"no inputs"}},
		{"NaN literal", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,NaN,3,4]}]}`, nil, 400, []string{"NaN"}},
		{"shape of strings", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":["1",4],"data":[1,2,3,4]}]}`, nil, 400, []string{"inputs.shape", "integer"}},
		{"missing shape", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","data":[1,2,3,4]}]}`, nil, 400, []string{`"x"`, "shape is missing"}},
		{"missing data", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4]}]}`, nil, 400, []string{`"x"`, "data is missing"}},
		{"missing name", "POST", infer, `{"inputs":[{"datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}`, nil, 400, []string{"inputs[0]", "name"}},
		{"wrong shape", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]}]}`, nil, 400, []string{`"x"`, "[-1 4]"}},
		{"wrong length", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[2,4],"data":[1,2,3,4]}]}`, nil, 400, []string{`"x"`, "4 elements", "holds 8"}},
		{"wrong datatype", "POST", infer, `{"inputs":[{"name":"x","datatype":"INT64","shape":[1,4],"data":[1,2,3,4]}]}`, nil, 400, []string{`"x"`, "INT64", "FP32"}},
		{"non-numeric data", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,"two",3,4]}]}`, nil, 400, []string{`"x"`, "element 1", "string"}},
		{"unknown input", "POST", infer, `{"inputs":[{"name":"z","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}`, nil, 400, []string{`"z"`, "no such input", `"x"`}},
		{"unknown output", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}],"outputs":[{"name":"q"}]}`, nil, 400, []string{`"q"`}},
		{"binary extension", "POST", infer, string(good), []string{"Inference-Header-Content-Length", "10"}, 400, []string{"binary"}},
		{"too large", "POST", infer, `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[` + strings.Repeat("1,", 3000) + `1]}]}`, nil, 413, []string{"limit of 4096"}},
		{"GET infer", "GET", infer, ``, nil, 405, []string{"POST"}},
		{"POST metadata", "POST", srv.URL + "/v2/models/fraud", string(good), nil, 405, []string{"GET"}},
		{"unknown route", "GET", srv.URL + "/v2/models/fraud/explain", ``, nil, 404, []string{"no such route"}},
		{"outside /v2", "GET", srv.URL + "/v1/models", ``, nil, 404, []string{"no such route"}},
		{"empty version", "GET", srv.URL + "/v2/models/fraud/versions//infer", ``, nil, 404, []string{"no such route"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, tc.path, []byte(tc.body), tc.header...)
			var e apitypes.InferError
			if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
				t.Fatalf("status %d, body %s is not an OIP error", r.status, r.body)
			}
			if r.status != tc.status {
				t.Errorf("status %d, want %d (%s)", r.status, tc.status, e.Error)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Error, w) {
					t.Errorf("%q does not mention %s", e.Error, w)
				}
			}
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			// The worker still serves correct answers afterwards.
			out := decodeInfer(t, do(t, "POST", infer, good))
			checkOutputs(t, out.Outputs[0], m.Forward(x))
		})
	}
}

// Pooled per-request state must never mix two requests' data.
func TestConcurrentRequests(t *testing.T) {
	m := onnxmodel.NewMLP(9, 8, 16, 2)
	srv := httptest.NewServer(NewHandler(Config{Name: "m", Logger: quiet}, loadMLP(t, m)))
	defer srv.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				rows := 1 + (g+i)%4
				x, flat := batch(rows, 8)
				for j := range flat {
					flat[j] += float32(g*100 + i)
				}
				for r := range x {
					x[r] = flat[r*8 : (r+1)*8]
				}
				id := fmt.Sprintf("g%d-%d", g, i)
				r := do(t, "POST", srv.URL+"/v2/models/m/infer", inferBody(t, id, []int64{int64(rows), 8}, flat))
				var out apitypes.InferResponse
				if err := json.Unmarshal(r.body, &out); err != nil || r.status != 200 || out.ID != id {
					t.Errorf("%s: %d %s", id, r.status, r.body)
					return
				}
				want := m.Forward(x)
				for k, v := range out.Outputs[0].Data {
					if d := math.Abs(v.(float64) - want[k/2][k%2]); d > 1e-3*math.Max(1, math.Abs(want[k/2][k%2])) {
						t.Errorf("%s: value %d = %v, reference %v", id, k, v, want[k/2][k%2])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// A pooled request must not leak fields into the next one.
func TestPooledStateDoesNotLeak(t *testing.T) {
	var st wireRequest
	if err := st.decode([]byte(`{"id":"a","inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"p":1}}],"outputs":[{"name":"y"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := st.decode([]byte(`{"inputs":[{"name":"x"}]}`)); err != nil {
		t.Fatal(err)
	}
	in := st.Inputs[0]
	if st.ID != "" || len(st.Outputs) != 0 || in.Shape != nil || in.Datatype != "" || len(in.Data) != 0 || len(in.Parameters) != 0 {
		t.Fatalf("state leaked from the previous request: %+v", st)
	}
}

// stubModel lets tests make the model misbehave.
type stubModel struct {
	inference.Model
	run func(ctx context.Context, inputs []inference.Tensor, outputs []string) ([]inference.Tensor, error)
}

func (s stubModel) Run(ctx context.Context, inputs []inference.Tensor, outputs []string) ([]inference.Tensor, error) {
	return s.run(ctx, inputs, outputs)
}

func loadMLP(t testing.TB, m *onnxmodel.MLP) inference.Model {
	t.Helper()
	model, err := inference.Load(writeModel(t, m), "onnx")
	if err != nil {
		t.Fatal(err)
	}
	return model
}

func TestWorkerSurvivesModelFailures(t *testing.T) {
	m := onnxmodel.NewMLP(5, 4, 2)
	real := loadMLP(t, m)
	mode := ""
	var mu sync.Mutex
	model := stubModel{Model: real, run: func(ctx context.Context, in []inference.Tensor, out []string) ([]inference.Tensor, error) {
		mu.Lock()
		defer mu.Unlock()
		switch mode {
		case "panic":
			panic("boom")
		case "nan":
			return []inference.Tensor{{Name: "y", Datatype: "FP32", Shape: []int64{1, 2}, Data: []float32{1, float32(math.NaN())}}}, nil
		case "error":
			return nil, errors.New("kernel exploded")
		}
		return real.Run(ctx, in, out)
	}}
	srv := httptest.NewServer(NewHandler(Config{Logger: quiet}, model))
	defer srv.Close()
	x, flat := batch(1, 4)
	good := inferBody(t, "", []int64{1, 4}, flat)
	for _, tc := range []struct{ mode, want string }{
		{"panic", "internal error"},
		{"nan", `element 1 is NaN`},
		{"error", "kernel exploded"},
	} {
		mu.Lock()
		mode = tc.mode
		mu.Unlock()
		r := do(t, "POST", srv.URL+"/v2/models/m/infer", good)
		if r.status != 500 || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s", tc.mode, r.status, r.body)
		}
		mu.Lock()
		mode = ""
		mu.Unlock()
		checkOutputs(t, decodeInfer(t, do(t, "POST", srv.URL+"/v2/models/m/infer", good)).Outputs[0], m.Forward(x))
	}
}

func TestRunFailsFastOnBadModel(t *testing.T) {
	mp := &onnx.ModelProto{}
	b, _ := onnxmodel.NewMLP(1, 4, 2).Marshal()
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatal(err)
	}
	mp.OpsetImport[0].Version = 17
	b, _ = proto.Marshal(mp)
	opset17 := filepath.Join(t.TempDir(), "opset17.onnx")
	if err := os.WriteFile(opset17, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{ModelPath: opset17, Format: "onnx"}, []string{"opset 17", "opset 13"}},
		{Config{ModelPath: filepath.Join(t.TempDir(), "absent.onnx"), Format: "onnx"}, []string{"absent.onnx"}},
		{Config{ModelPath: opset17, Format: "lightgbm"}, []string{"lightgbm", "not a valid"}},
	} {
		called := false
		err := Run(context.Background(), Config{ModelPath: tc.cfg.ModelPath, Format: tc.cfg.Format, Logger: quiet}, func(string) { called = true })
		if err == nil || called {
			t.Fatalf("%+v: err %v, ready called %v", tc.cfg, err, called)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q does not mention %s", err, w)
			}
		}
	}

	err := Run(context.Background(), Config{ModelPath: writeModel(t, onnxmodel.NewMLP(1, 4, 2)), Format: "onnx", Listen: "256.0.0.1:0", Logger: quiet}, nil)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("bad listen address: %v", err)
	}
}

// An in-flight request finishes while the worker shuts down; new
// connections are refused; readiness turns 503 while draining.
func TestGracefulDrain(t *testing.T) {
	m := onnxmodel.NewMLP(5, 4, 2)
	real := loadMLP(t, m)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	model := stubModel{Model: real, run: func(ctx context.Context, in []inference.Tensor, out []string) ([]inference.Tensor, error) {
		once.Do(func() { close(entered) })
		<-release
		return real.Run(ctx, in, out)
	}}

	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- serve(ctx, Config{Logger: quiet, DrainTimeout: 10 * time.Second}, model, func(a string) { addrc <- a })
	}()
	base := "http://" + <-addrc

	x, flat := batch(1, 4)
	slow := make(chan response, 1)
	go func() { slow <- do(t, "POST", base+"/v2/models/m/infer", inferBody(t, "slow", []int64{1, 4}, flat)) }()
	<-entered
	cancel() // shutdown begins with the request in flight

	// Wait until the listener is closed, then let the request finish.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(base + "/v2/health/live")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("the worker still accepts connections while draining")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned before the in-flight request finished: %v", err)
	default:
	}
	close(release)

	r := <-slow
	out := decodeInfer(t, r)
	if out.ID != "slow" {
		t.Errorf("id %q", out.ID)
	}
	checkOutputs(t, out.Outputs[0], m.Forward(x))
	if err := <-done; err != nil {
		t.Fatalf("Run after drain: %v", err)
	}

	h := newHandler(Config{Logger: quiet}.withDefaults(), real)
	h.draining.Store(true)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/health/ready", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("ready while draining: %d", rec.Code)
	}
}

func TestDrainTimeoutIsReported(t *testing.T) {
	real := loadMLP(t, onnxmodel.NewMLP(5, 4, 2))
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	var once sync.Once
	model := stubModel{Model: real, run: func(ctx context.Context, in []inference.Tensor, out []string) ([]inference.Tensor, error) {
		once.Do(func() { close(entered) })
		<-release
		return real.Run(ctx, in, out)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- serve(ctx, Config{Logger: quiet, DrainTimeout: 50 * time.Millisecond}, model, func(a string) { addrc <- a })
	}()
	base := "http://" + <-addrc
	_, flat := batch(1, 4)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/v2/models/m/infer", bytes.NewReader(inferBody(t, "", []int64{1, 4}, flat)))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "drain") {
		t.Fatalf("Run: %v, want a drain timeout error", err)
	}
}

func BenchmarkWorkerInfer(b *testing.B) {
	m := onnxmodel.NewMLP(7, 32, 64, 64, 2)
	base := startRun(b, Config{ModelPath: writeModel(b, m), Format: "onnx", Name: "mlp", Version: "1", Logger: quiet})
	_, flat := batch(1, 32)
	body := inferBody(b, "", []int64{1, 32}, flat)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	url := base + "/v2/models/mlp/infer"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
