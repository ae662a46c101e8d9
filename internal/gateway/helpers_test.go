package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

const inferBody = `{"id":"42","inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`

// replica stands in for a slipway worker: it answers any model name with
// an OIP infer response naming itself, and records what it received.
type replica struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64

	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	method, path, query string
	header              http.Header
	body                string
}

// newReplica starts a replica; wrap, when given, runs before the answer
// and may delay or replace it (return true to say it answered itself).
func newReplica(t testing.TB, name string, wrap func(w http.ResponseWriter, r *http.Request) bool) *replica {
	t.Helper()
	rp := &replica{name: name}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rp.hits.Add(1)
		rp.mu.Lock()
		rp.reqs = append(rp.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
		rp.mu.Unlock()
		if wrap != nil && wrap(w, r) {
			return
		}
		model := strings.TrimPrefix(r.URL.Path, "/v2/models/")
		model, _, _ = strings.Cut(model, "/")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Replica", name)
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(map[string]any{"name": model, "platform": "slipway", "versions": []string{name}})
			return
		}
		_ = json.NewEncoder(w).Encode(apitypes.InferResponse{
			ModelName: model, ID: name,
			Outputs: []apitypes.InferTensor{{Name: "y", Shape: []int64{1}, Datatype: "FP32", Data: []any{3.0}}},
		})
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *replica) URL() string { return rp.srv.URL }

func (rp *replica) requests() []seen {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]seen(nil), rp.reqs...)
}

// deadURL is the address of a server that no longer listens.
func deadURL(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

// harness is a gateway behind a real listener.
type harness struct {
	g      *gateway.Gateway
	front  *httptest.Server
	client *http.Client
}

func newHarness(t testing.TB, cfg gateway.Config) *harness {
	t.Helper()
	g := gateway.New(cfg)
	front := httptest.NewServer(g.Handler())
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(func() {
		front.Close()
		tr.CloseIdleConnections()
		g.Close()
	})
	return &harness{g: g, front: front, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) served() string { return a.header.Get(gateway.HeaderServedVersion) }

// errorText decodes an OIP error object; "" when the body is not one.
func (a answer) errorText() string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(a.body), &e) != nil {
		return ""
	}
	return e.Error
}

func (h *harness) do(t testing.TB, method, path, body string, hdr ...string) answer {
	t.Helper()
	a, err := h.try(method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// try sends one request; hdr are name, value pairs.
func (h *harness) try(method, path, body string, hdr ...string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.front.URL+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{resp.StatusCode, resp.Header, string(b)}, nil
}

func (h *harness) infer(t testing.TB, endpoint string, hdr ...string) answer {
	t.Helper()
	return h.do(t, http.MethodPost, "/v2/models/"+endpoint+"/infer", inferBody, hdr...)
}

// serveDirect runs one request through the handler without a socket on
// the client side; for tests that send thousands of requests.
func serveDirect(g *gateway.Gateway, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, req)
	return rec
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func expectError(t testing.TB, a answer, status int, contains string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status = %d, want %d (body %q)", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	msg := a.errorText()
	if msg == "" || !strings.Contains(msg, contains) {
		t.Errorf("error body = %q, want an OIP error mentioning %q", a.body, contains)
	}
}

func route(endpoint string, versions ...gateway.VersionRoute) gateway.Route {
	return gateway.Route{Endpoint: endpoint, Versions: versions}
}

func vr(id string, weight int, backends ...string) gateway.VersionRoute {
	return gateway.VersionRoute{Version: id, Weight: weight, Backends: backends}
}

func fmtCounts(m map[string]int) string { return fmt.Sprint(m) }
