package e2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

// The gateway serves a real MLP through a real worker, and the numbers are
// the ones an independent forward pass computes.
func TestInferenceMatchesReferenceForward(t *testing.T) {
	s := startServer(t, serverOpts{})
	mlp := onnxmodel.NewMLP(7, 32, 64, 64, 2)
	s.RegisterONNX(t, "mlp/1", mlp)
	s.createEndpoint(t, &apitypes.Endpoint{Name: "scorer", ModelVersion: "mlp/1"})

	rows, body := mlpBatch(3, 32)
	a, err := post(s.inferURL("scorer"), body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusOK {
		t.Fatalf("infer = %d %s", a.status, a.body)
	}
	if got := a.header.Get(gateway.HeaderServedVersion); got != "mlp/1" {
		t.Errorf("%s = %q, want mlp/1", gateway.HeaderServedVersion, got)
	}
	var resp apitypes.InferResponse
	if err := json.Unmarshal(a.body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ID != "req-1" || len(resp.Outputs) != 1 || resp.Outputs[0].Name != "y" || !slices.Equal(resp.Outputs[0].Shape, []int64{3, 2}) {
		t.Fatalf("response %s: want id req-1 and one output y of shape [3 2]", a.body)
	}
	got, _ := outputs(a.body)
	if want := mlp.Forward(rows); !matches(got, want, 1e-4) {
		t.Errorf("outputs %v; the reference forward pass gives %v (tolerance 1e-4)", got, want)
	}

	// Model metadata and readiness, through the gateway.
	md := get(t, s.GW+"/v2/models/scorer")
	if md.status != http.StatusOK {
		t.Fatalf("metadata = %d %s", md.status, md.body)
	}
	var meta apitypes.ModelMetadata
	if err := json.Unmarshal(md.body, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Name != "scorer" || len(meta.Inputs) != 1 || meta.Inputs[0].Name != "x" || meta.Inputs[0].Datatype != "FP32" ||
		!slices.Equal(meta.Inputs[0].Shape, []int64{-1, 32}) || len(meta.Outputs) != 1 || !slices.Equal(meta.Outputs[0].Shape, []int64{-1, 2}) {
		t.Errorf("metadata = %s", md.body)
	}
	for _, path := range []string{"/v2/models/scorer/ready", "/v2/models/scorer/versions/1/ready", "/v2/health/ready", "/v2/health/live"} {
		if a := get(t, s.GW+path); a.status != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, a.status, a.body)
		}
	}
	if a := get(t, s.GW+"/v2/models/scorer/versions/9/ready"); a.status != http.StatusNotFound {
		t.Errorf("readiness of an unknown version = %d, want 404", a.status)
	}
}

// loadResult is what the load generator saw.
type loadResult struct {
	ok, failed, transport int
	versions              map[string]int // 200 answers by the version their value proves ("?" for neither)
	samples               []string       // a few failures, for the message
	regressions           []string       // a goroutine saw the old version after the new one
	last                  []string       // each goroutine's last answering version
}

// load posts body from n goroutines until stop is called (or a hard cap on
// requests and time is reached, or the test ends); stop returns what they
// saw, and may be called again. classify names the version an answer's
// outputs prove. A goroutine that was answered by after must never be
// answered by before again: the route swap is atomic.
func load(t *testing.T, url, body string, n int, classify func([]float64) string, before, after string) (stop func() loadResult) {
	const maxPerWorker = 20000
	stopCh := make(chan struct{})
	hardStop := time.After(45 * time.Second)
	var (
		mu  sync.Mutex
		res = loadResult{versions: map[string]int{}, last: make([]string, n)}
		wg  sync.WaitGroup
		end atomic.Bool
	)
	go func() {
		select {
		case <-stopCh:
		case <-hardStop:
		}
		end.Store(true)
	}()
	note := func(msg string) {
		if len(res.samples) < 5 {
			res.samples = append(res.samples, msg)
		}
	}
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sawAfter := false
			for i := 0; i < maxPerWorker && !end.Load(); i++ {
				a, err := post(url, body, nil)
				var out []float64
				if err == nil && a.status == http.StatusOK {
					out, err = outputs(a.body)
				}
				mu.Lock()
				switch {
				case err != nil && a.status == 0:
					res.transport++
					note(err.Error())
				case a.status != http.StatusOK:
					res.failed++
					note(fmt.Sprintf("%d %s", a.status, a.body))
				case err != nil:
					res.failed++
					note(err.Error())
				default:
					res.ok++
					v := classify(out)
					res.versions[v]++
					res.last[w] = v
					if v == after {
						sawAfter = true
					} else if v == before && sawAfter && len(res.regressions) < 5 {
						res.regressions = append(res.regressions, fmt.Sprintf("goroutine %d request %d", w, i))
					}
				}
				mu.Unlock()
			}
		}()
	}
	var once sync.Once
	stop = func() loadResult {
		once.Do(func() {
			close(stopCh)
			wg.Wait()
		})
		return res
	}
	t.Cleanup(func() { stop() }) // a test that fails early stops its load too
	return stop
}

// classifyLinear names the linear model version that computed linearInput.
func classifyLinear(out []float64) string {
	switch {
	case len(out) != 1:
		return "?"
	case out[0] == wantV1:
		return "fraud/1"
	case out[0] == wantV2:
		return "fraud/2"
	}
	return "?"
}

// Changing an endpoint's version under continuous load fails no request,
// moves every client to the new version and stops the old replicas. The
// versions are MLPs that differ by 100 in their last bias, fed 16 rows per
// request, so that requests spend real time in the replicas and some are
// in flight on the old version when it is switched away from.
func TestVersionSwitchDropsNoRequest(t *testing.T) {
	s := startServer(t, serverOpts{})
	m1 := onnxmodel.NewMLP(11, 32, 64, 64, 2)
	m2 := onnxmodel.NewMLP(11, 32, 64, 64, 2)
	last := &m2.Layers[len(m2.Layers)-1]
	last.B = []float32{last.B[0] + 100, last.B[1] + 100}
	s.RegisterONNX(t, "fraud/1", m1)
	s.RegisterONNX(t, "fraud/2", m2)
	e := s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	v1 := workers(t, s.PID(), "fraud/1")
	if len(v1) != 1 {
		t.Fatalf("fraud/1 worker processes = %v, want 1", v1)
	}

	rows, body := mlpBatch(16, 32)
	ref1, ref2 := m1.Forward(rows), m2.Forward(rows)
	classify := func(out []float64) string {
		for _, c := range []struct {
			version string
			ref     [][]float64
		}{{"fraud/1", ref1}, {"fraud/2", ref2}} {
			if matches(out, c.ref, 1e-4) {
				return c.version
			}
		}
		return "?"
	}

	stopLoad := load(t, s.inferURL("fraud"), body, 4, classify, "fraud/1", "fraud/2")
	time.Sleep(300 * time.Millisecond) // traffic on v1 before the switch

	e.ModelVersion = "fraud/2"
	updated, err := s.API.UpdateEndpoint(ctx(t), e)
	if err != nil {
		t.Fatalf("update to fraud/2: %v", err)
	}
	if updated.Revision != e.Revision+1 {
		t.Errorf("revision after update = %d, want %d", updated.Revision, e.Revision+1)
	}
	s.WaitServing(t, "fraud", map[string]int{"fraud/2": 100})
	eventually(t, "fraud/1 worker processes to exit", 20*time.Second, func() bool {
		for _, p := range v1 {
			if alive(p.PID) {
				return false
			}
		}
		return len(workers(t, s.PID(), "fraud/1")) == 0
	})
	time.Sleep(time.Second) // and keep the load on the new version a while
	res := stopLoad()

	t.Logf("%d requests answered 200 (%v), %d failed, %d transport errors", res.ok, res.versions, res.failed, res.transport)
	if res.failed != 0 || res.transport != 0 {
		t.Errorf("%d non-200 answers and %d transport errors across the switch; e.g. %q", res.failed, res.transport, res.samples)
	}
	if res.versions["fraud/1"] == 0 || res.versions["fraud/2"] == 0 || len(res.versions) != 2 {
		t.Errorf("answers by the version their outputs match = %v; want both fraud/1 and fraud/2 and nothing else", res.versions)
	}
	if len(res.regressions) > 0 {
		t.Errorf("clients went back to fraud/1 after being answered by fraud/2: %v", res.regressions)
	}
	for i, v := range res.last {
		if v != "fraud/2" {
			t.Errorf("goroutine %d's last answer came from %q, want fraud/2", i, v)
		}
	}
	if w := workers(t, s.PID(), "fraud/2"); len(w) != 1 {
		t.Errorf("fraud/2 worker processes = %v, want 1", w)
	}
}

// Bad requests get a 4xx with an OIP error body, and the replica that
// refused them keeps serving.
func TestMalformedRequestsGetOIPErrors(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	before := workers(t, s.PID(), "fraud/1")

	infer := s.inferURL("fraud")
	for _, tc := range []struct {
		name, url, body string
		header          map[string]string
		status          int
		mention         string // the error names this
	}{
		{"bad JSON", infer, `{"inputs": [{"name": "x",`, nil, 400, ""},
		{"not JSON at all", infer, `hello`, nil, 400, ""},
		{"no inputs", infer, `{"inputs": []}`, nil, 400, "input"},
		{"wrong shape", infer, `{"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}`, nil, 400, ""},
		{"shape and data disagree", infer, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}`, nil, 400, ""},
		{"datatype the model does not take", infer, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]}`, nil, 400, "INT64"},
		{"datatype the runtime does not take", infer, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"BYTES","data":["a","b","c","d"]}]}`, nil, 400, ""},
		{"unknown datatype", infer, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP128","data":[1,2,3,4]}]}`, nil, 400, "FP128"},
		{"unknown input name", infer, `{"inputs":[{"name":"nope","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil, 400, "nope"},
		{"unknown endpoint", s.inferURL("nosuch"), linearInput, nil, 404, "nosuch"},
		{"pinned unknown version (header)", infer, linearInput, map[string]string{gateway.HeaderVersion: "9"}, 404, "9"},
		{"pinned unknown version (path)", s.GW + "/v2/models/fraud/versions/9/infer", linearInput, nil, 404, "9"},
	} {
		a, err := post(tc.url, tc.body, tc.header)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var oip struct {
			Error string `json:"error"`
		}
		err = json.Unmarshal(a.body, &oip)
		switch {
		case a.status != tc.status:
			t.Errorf("%s: status %d %s, want %d", tc.name, a.status, a.body, tc.status)
		case err != nil || oip.Error == "":
			t.Errorf("%s: body %q is not an OIP error object {\"error\": \"...\"}", tc.name, a.body)
		case !strings.Contains(oip.Error, tc.mention):
			t.Errorf("%s: error %q does not mention %q", tc.name, oip.Error, tc.mention)
		case !strings.HasPrefix(a.header.Get("Content-Type"), "application/json"):
			t.Errorf("%s: Content-Type %q", tc.name, a.header.Get("Content-Type"))
		default:
			t.Logf("%s: %d %s", tc.name, a.status, strings.TrimSpace(oip.Error))
		}
	}
	// GET on infer is a 405, not a crash.
	if a := get(t, infer); a.status != http.StatusMethodNotAllowed {
		t.Errorf("GET infer = %d, want 405", a.status)
	}

	mustInfer(t, infer, nil, wantV1)
	if after := workers(t, s.PID(), "fraud/1"); !slices.Equal(pids(before), pids(after)) {
		t.Errorf("worker processes changed from %v to %v: a bad request must not cost a replica", before, after)
	}
}

// With a fixed 50/50 split, a pin (header or path) selects a version and a
// routing key always lands on the same one.
func TestPinningAndStickyRouting(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.RegisterONNX(t, "fraud/2", linear(biasV2))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", TrafficSplit: []apitypes.TrafficWeight{
		{ModelVersion: "fraud/1", Percent: 50}, {ModelVersion: "fraud/2", Percent: 50},
	}})
	infer := s.inferURL("fraud")
	value := map[string]float64{"fraud/1": wantV1, "fraud/2": wantV2}

	for _, tc := range []struct {
		url, pin, version string
	}{
		{infer, "1", "fraud/1"},
		{infer, "2", "fraud/2"},
		{infer, "fraud/1", "fraud/1"},
		{infer, "fraud/2", "fraud/2"},
		{s.GW + "/v2/models/fraud/versions/1/infer", "", "fraud/1"},
		{s.GW + "/v2/models/fraud/versions/2/infer", "", "fraud/2"},
		{s.GW + "/v2/models/fraud/versions/fraud%2F2/infer", "", "fraud/2"},
	} {
		var h map[string]string
		if tc.pin != "" {
			h = map[string]string{gateway.HeaderVersion: tc.pin}
		}
		for range 10 {
			a := mustInfer(t, tc.url, h, value[tc.version])
			if got := a.header.Get(gateway.HeaderServedVersion); got != tc.version {
				t.Fatalf("%s pinned %q: served by %q, want %q", tc.url, tc.pin, got, tc.version)
			}
		}
	}

	// Sticky: each key always gets the same version; across keys both occur.
	perVersion := map[float64]int{}
	for k := range 10 {
		key := fmt.Sprintf("customer-%d", k)
		first := 0.0
		for i := range 20 {
			v, _, err := inferValue(infer, map[string]string{gateway.HeaderRoutingKey: key})
			if err != nil {
				t.Fatalf("key %s: %v", key, err)
			}
			if i == 0 {
				first = v
				perVersion[v]++
			} else if v != first {
				t.Fatalf("key %s: request %d answered %v, the first %v; a routing key must be sticky", key, i, v, first)
			}
		}
	}
	if perVersion[wantV1] == 0 || perVersion[wantV2] == 0 {
		t.Errorf("keys per version = %v; a 50/50 split should put some keys on each", perVersion)
	}

	// Unpinned, unkeyed traffic is split.
	seen := map[float64]int{}
	for range 60 {
		v, _, err := inferValue(infer, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[v]++
	}
	if seen[wantV1] == 0 || seen[wantV2] == 0 || len(seen) != 2 {
		t.Errorf("60 unpinned answers by value = %v; want both versions", seen)
	}
}

// /metrics counts gateway requests by endpoint and version, in valid
// Prometheus exposition format.
func TestMetrics(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	const n = 7
	for range n {
		mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	}
	if _, err := post(s.inferURL("fraud"), `{`, nil); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get("http://" + s.APIAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, text)
	}
	fam := families["slipway_gateway_requests_total"]
	if fam == nil {
		t.Fatalf("no slipway_gateway_requests_total in /metrics:\n%s", text)
	}
	byCode := map[string]float64{}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["endpoint"] == "fraud" && labels["version"] == "fraud/1" {
			byCode[labels["code"]] += m.GetCounter().GetValue()
		}
	}
	if byCode["200"] != n || byCode["400"] != 1 {
		t.Errorf("slipway_gateway_requests_total{endpoint=fraud,version=fraud/1} by code = %v; want 200: %d, 400: 1", byCode, n)
	}
	for _, name := range []string{"slipway_gateway_request_duration_seconds", "slipway_endpoint_traffic_weight"} {
		if families[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not on PATH; skipping promtool check metrics")
		return
	}
	out, err := runWithStdin(promtool, text, "check", "metrics")
	// promtool exits 3 for lint warnings only (e.g. naming advice); a
	// parse error is 1.
	switch {
	case err == nil:
		t.Logf("promtool check metrics: OK %s", out)
	case exitCode(err) == 3:
		t.Logf("promtool check metrics: lint advice only:\n%s", out)
	default:
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// runWithStdin runs name with args and stdin, returning combined output.
func runWithStdin(name string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd.CombinedOutput()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
