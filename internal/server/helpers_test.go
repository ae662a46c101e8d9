package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// Secrets of the tokens every harness has.
const (
	adminSecret = "admin-secret-for-tests"
	gatewayURL  = "http://gateway.test:8471"
)

// clock is the harness's fake time: it has nanoseconds, to prove they
// survive the store.
var clock = time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)

type harness struct {
	t        *testing.T
	srv      *server.Server
	url      string
	dir      string
	admin    string
	deployer string
	reader   string
}

// newHarness starts a server on a fresh data directory with an admin, a
// deployer and a reader token.
func newHarness(t *testing.T) *harness { return newHarnessWith(t, nil) }

// newHarnessWith is newHarness with configure applied to the server's
// configuration first.
func newHarnessWith(t *testing.T, configure func(*server.Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{
		DataDir:    dir,
		AdminToken: adminSecret,
		GatewayURL: gatewayURL + "/",
		Now:        func() time.Time { return clock },
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	h := &harness{t: t, srv: srv, url: ts.URL, dir: dir, admin: adminSecret}
	h.deployer = h.mintToken("ci", "deployer")
	h.reader = h.mintToken("viewer", "reader")
	return h
}

func (h *harness) mintToken(name, role string) string {
	h.t.Helper()
	var tok apitypes.Token
	h.decode(h.must(http.MethodPost, "/v1/tokens", h.admin, apitypes.TokenCreate{Name: name, Role: role}, http.StatusCreated), &tok)
	return tok.Secret
}

// do sends a request. body is sent as is when it is a string, else as JSON.
func (h *harness) do(method, path, token string, body any, headers ...string) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNoContent && resp.Header.Get("Content-Type") != "application/json" {
		h.t.Errorf("%s %s: Content-Type %q, want application/json (body %s)", method, path, resp.Header.Get("Content-Type"), out)
	}
	return resp.StatusCode, out
}

// must sends a request and fails the test unless it gets want.
func (h *harness) must(method, path, token string, body any, want int) []byte {
	h.t.Helper()
	status, out := h.do(method, path, token, body)
	if status != want {
		h.t.Fatalf("%s %s = %d %s, want %d", method, path, status, out, want)
	}
	return out
}

// fails sends a request that must fail with status and an apitypes.Error
// with code, field and a message containing msgPart, and returns that error.
func (h *harness) fails(method, path, token string, body any, status int, code, field, msgPart string) apitypes.Error {
	h.t.Helper()
	got, out := h.do(method, path, token, body)
	var e apitypes.Error
	if err := json.Unmarshal(out, &e); err != nil {
		h.t.Fatalf("%s %s = %d %s: not an error object: %v", method, path, got, out, err)
	}
	if got != status || e.Code != code || e.Field != field || !strings.Contains(e.Message, msgPart) {
		h.t.Fatalf("%s %s = %d %s\nwant %d code %q field %q message containing %q", method, path, got, out, status, code, field, msgPart)
	}
	return e
}

func (h *harness) decode(raw []byte, v any) {
	h.t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		h.t.Fatalf("decoding %s: %v", raw, err)
	}
}

// onnxBytes is a real ONNX model (the builtin runtime checks artifacts at
// registration) whose bytes, and so digest, differ with content.
func onnxBytes(t *testing.T, content string) []byte {
	t.Helper()
	m := onnxmodel.NewLinear([]float32{1, 2, 3, 4}, 0.5)
	m.Doc = content
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// artifact writes an ONNX artifact file and returns its file:// URI and digest.
func artifact(t *testing.T, content string) (uri, digest string) {
	t.Helper()
	return rawArtifact(t, onnxBytes(t, content))
}

// rawArtifact writes b as an artifact file and returns its URI and digest.
func rawArtifact(t *testing.T, b []byte) (uri, digest string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "file://" + path, hex.EncodeToString(sum[:])
}

// version registers model/version with a fresh artifact and returns it.
func (h *harness) version(model, version string, labels map[string]string) apitypes.ModelVersion {
	h.t.Helper()
	uri, digest := artifact(h.t, "weights of "+model+"/"+version)
	var m apitypes.ModelVersion
	h.decode(h.must(http.MethodPost, "/v1/models/"+model+"/versions", h.deployer, apitypes.ModelVersion{
		Version: version, ArtifactURI: uri, SHA256: digest, Format: "onnx",
		Runtime: apitypes.Runtime{Kind: "builtin"}, Labels: labels,
	}, http.StatusCreated), &m)
	return m
}

func (h *harness) policy(name string) apitypes.DeploymentPolicy {
	h.t.Helper()
	var p apitypes.DeploymentPolicy
	h.decode(h.must(http.MethodPost, "/v1/policies", h.deployer, apitypes.DeploymentPolicy{Name: name, Strategy: "all_at_once"}, http.StatusCreated), &p)
	return p
}

func (h *harness) endpoint(e apitypes.Endpoint) apitypes.Endpoint {
	h.t.Helper()
	var out apitypes.Endpoint
	h.decode(h.must(http.MethodPost, "/v1/endpoints", h.deployer, e, http.StatusCreated), &out)
	return out
}

// auditEvents lists the whole ledger.
func (h *harness) auditEvents() []apitypes.AuditEvent {
	h.t.Helper()
	var list apitypes.AuditList
	h.decode(h.must(http.MethodGet, "/v1/audit", h.reader, nil, http.StatusOK), &list)
	return list.Items
}

// countAudit counts ledger events about one object type.
func (h *harness) countAudit(objectType string) int {
	h.t.Helper()
	n := 0
	for _, e := range h.auditEvents() {
		if e.ObjectType == objectType {
			n++
		}
	}
	return n
}

// startServer serves srv's API on a test listener and returns its URL.
func startServer(t *testing.T, srv *server.Server) string {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}
