package server_test

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// Every /v1 route against every kind of caller. Calls that pass the role
// check target objects that do not exist or send invalid bodies, so they
// change nothing and the matrix stays independent of order.
//
// The matrix cannot fall behind the router: a route the server registers
// without a row here fails the test, as does a row for a route that no
// longer exists, and so does a /v1 pattern anywhere in the package's source
// that was registered around the authenticating wrapper.
func TestAuthMatrix(t *testing.T) {
	h := newHarness(t)
	type level int
	const (
		reader level = iota
		deployer
		admin
	)
	routes := []struct {
		pattern string // as registered
		path    string // a concrete request to it
		body    any
		need    level
	}{
		{"POST /v1/models/{model}/versions", "/v1/models/fraud/versions", `{}`, deployer},
		// A process runtime runs a command on the server's host: admin only.
		// (Its artifact does not exist, so even an admin's call stores nothing.)
		{"POST /v1/models/{model}/versions", "/v1/models/fraud/versions", `{"version":"1","format":"custom","runtime":{"kind":"process","command":["serve","{port}"]},` +
			`"artifact_uri":"file:///nonexistent/model.bin","sha256":"` + strings.Repeat("0", 64) + `"}`, admin},
		{"GET /v1/models/{model}/versions", "/v1/models/fraud/versions", nil, reader},
		{"GET /v1/versions", "/v1/versions", nil, reader},
		{"GET /v1/models/{model}/versions/{version}", "/v1/models/fraud/versions/1", nil, reader},
		{"PATCH /v1/models/{model}/versions/{version}", "/v1/models/fraud/versions/1", `{"revision":1}`, deployer},
		{"DELETE /v1/models/{model}/versions/{version}", "/v1/models/fraud/versions/1", nil, deployer},
		{"POST /v1/policies", "/v1/policies", `{}`, deployer},
		{"GET /v1/policies", "/v1/policies", nil, reader},
		{"GET /v1/policies/{name}", "/v1/policies/p", nil, reader},
		{"PUT /v1/policies/{name}", "/v1/policies/p", `{"strategy":"all_at_once","revision":1}`, deployer},
		{"DELETE /v1/policies/{name}", "/v1/policies/p", nil, deployer},
		{"POST /v1/endpoints", "/v1/endpoints", `{}`, deployer},
		{"GET /v1/endpoints", "/v1/endpoints", nil, reader},
		{"GET /v1/endpoints/{name}", "/v1/endpoints/e", nil, reader},
		{"PUT /v1/endpoints/{name}", "/v1/endpoints/e", `{"model_version":"fraud/1","revision":1}`, deployer},
		{"DELETE /v1/endpoints/{name}", "/v1/endpoints/e", nil, deployer},
		{"GET /v1/deployments", "/v1/deployments", nil, reader},
		{"GET /v1/deployments/{id}", "/v1/deployments/dep-000000000000", nil, reader},
		{"POST /v1/deployments/{id}/promote", "/v1/deployments/dep-000000000000/promote", nil, deployer},
		{"POST /v1/deployments/{id}/abort", "/v1/deployments/dep-000000000000/abort", nil, deployer},
		{"GET /v1/measures", "/v1/measures", nil, reader},
		{"GET /v1/audit", "/v1/audit", nil, reader},
		{"GET /v1/audit/verify", "/v1/audit/verify", nil, reader},
		{"POST /v1/tokens", "/v1/tokens", `{}`, admin},
		{"GET /v1/tokens", "/v1/tokens", nil, admin},
		{"DELETE /v1/tokens/{id}", "/v1/tokens/tok_nope", nil, admin},
	}

	registered := map[string]server.Route{}
	for _, r := range h.srv.Routes() {
		registered[r.Pattern] = r
	}
	rows := map[string]bool{}
	for _, rt := range routes {
		rows[rt.pattern] = true
		if _, ok := registered[rt.pattern]; !ok {
			t.Errorf("matrix row %q: the server registers no such route; remove or fix the row", rt.pattern)
		}
	}
	for _, r := range h.srv.Routes() {
		if !rows[r.Pattern] {
			t.Errorf("route %q (role %s) is registered but has no row in TestAuthMatrix: add one", r.Pattern, r.Role)
		}
	}
	for _, p := range sourcePatterns(t) {
		if _, ok := registered[p]; !ok && strings.Contains(p, " /v1") {
			t.Errorf("pattern %q appears in the server's source but is not registered through handle, so no token is checked", p)
		}
	}

	callers := []struct {
		name  string
		token string
		level level
	}{
		{"no token", "", -1},
		{"unknown token", "slw_not-a-token", -1},
		{"reader", h.reader, reader},
		{"deployer", h.deployer, deployer},
		{"admin", h.admin, admin},
	}
	for _, rt := range routes {
		method, _, _ := strings.Cut(rt.pattern, " ")
		for _, c := range callers {
			status, raw := h.do(method, rt.path, c.token, rt.body)
			var want []int
			switch {
			case c.level < 0:
				want = []int{http.StatusUnauthorized}
			case c.level < rt.need:
				want = []int{http.StatusForbidden}
			default:
				want = []int{http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity}
			}
			if !contains(want, status) {
				t.Errorf("%s %s as %s = %d %s, want one of %v", method, rt.path, c.name, status, raw, want)
			}
			// A refusal is the error object, never a handler's answer.
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				var e apitypes.Error
				if err := json.Unmarshal(raw, &e); err != nil || e.Message == "" {
					t.Errorf("%s %s as %s: refusal %s is not an error object with a message", method, rt.path, c.name, raw)
				}
			}
		}
	}
	if n := len(h.auditEvents()); n != 3 {
		t.Errorf("ledger has %d events, want 3 (bootstrap and two tokens): the matrix must change nothing", n)
	}
}

// sourcePatterns returns every string literal in the package's non-test
// source that looks like a ServeMux pattern with a method ("GET /...").
func sourcePatterns(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	method := regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /`)
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if v, err := strconv.Unquote(lit.Value); err == nil && method.MatchString(v) {
				out = append(out, v)
			}
			return true
		})
	}
	if len(out) < 20 {
		t.Fatalf("found only %d route patterns in the source (%v): the scan is broken", len(out), out)
	}
	return out
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestAuthErrors(t *testing.T) {
	h := newHarness(t)
	status, raw := h.do(http.MethodGet, "/v1/policies", "", nil)
	if status != http.StatusUnauthorized || !strings.Contains(string(raw), "Authorization: Bearer") {
		t.Errorf("no token = %d %s", status, raw)
	}
	h.fails(http.MethodGet, "/v1/policies", "slw_unknown", nil, http.StatusUnauthorized, apitypes.CodeUnauthorized, "", "not known")
	h.fails(http.MethodPost, "/v1/policies", h.reader, `{}`, http.StatusForbidden, apitypes.CodeForbidden, "", `token "viewer" has role reader; this call needs role deployer or higher`)
	h.fails(http.MethodGet, "/v1/tokens", h.deployer, nil, http.StatusForbidden, apitypes.CodeForbidden, "", "needs role admin")
	// The scheme is case-insensitive, as RFC 9110 says.
	if status, raw := h.do(http.MethodGet, "/v1/policies", "", nil, "Authorization", "bearer "+h.reader); status != http.StatusOK {
		t.Errorf("lower-case scheme = %d %s", status, raw)
	}
	if status, _ := h.do(http.MethodGet, "/healthz", "", nil); status != http.StatusOK {
		t.Errorf("/healthz without a token = %d, want 200", status)
	}
}

func TestSourceHeader(t *testing.T) {
	h := newHarness(t)
	status, raw := h.do(http.MethodPost, "/v1/policies", h.deployer, apitypes.DeploymentPolicy{Name: "p", Strategy: "all_at_once"}, apitypes.HeaderSource, "jenkins")
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "terraform, cli, api") {
		t.Errorf("unknown source = %d %s, want 400 listing the sources", status, raw)
	}
	h.must(http.MethodGet, "/v1/policies/p", h.reader, nil, http.StatusNotFound)

	for _, source := range []string{"terraform", ""} {
		name := "p" + source
		if status, raw := h.do(http.MethodPost, "/v1/policies", h.deployer, apitypes.DeploymentPolicy{Name: name, Strategy: "all_at_once"}, apitypes.HeaderSource, source); status != http.StatusCreated {
			t.Fatalf("create = %d %s", status, raw)
		}
		events := h.auditEvents()
		last := events[len(events)-1]
		want := source
		if want == "" {
			want = "api"
		}
		if last.ObjectID != name || last.Actor != "ci" || last.Source != want {
			t.Errorf("event = %s by %s via %s; want %s by ci via %s", last.ObjectID, last.Actor, last.Source, name, want)
		}
	}
}

func TestTokens(t *testing.T) {
	h := newHarness(t)
	var tok apitypes.Token
	h.decode(h.must(http.MethodPost, "/v1/tokens", h.admin, apitypes.TokenCreate{Name: "ops", Role: "admin"}, http.StatusCreated), &tok)
	if !strings.HasPrefix(tok.Secret, "slw_") || len(tok.Secret) < 40 || tok.ID == "" || tok.Role != "admin" {
		t.Fatalf("created %+v", tok)
	}
	h.must(http.MethodGet, "/v1/tokens", tok.Secret, nil, http.StatusOK)
	h.fails(http.MethodPost, "/v1/tokens", h.admin, apitypes.TokenCreate{Name: "x", Role: "root"}, http.StatusBadRequest, apitypes.CodeInvalid, "role", "reader, deployer, admin")

	raw := h.must(http.MethodGet, "/v1/tokens", h.admin, nil, http.StatusOK)
	var list apitypes.TokenList
	h.decode(raw, &list)
	names := map[string]string{}
	for _, t := range list.Items {
		names[t.Name] = t.Role
	}
	if len(list.Items) != 4 || names["ops"] != "admin" || names["bootstrap-admin"] != "admin" || names["ci"] != "deployer" || names["viewer"] != "reader" {
		t.Errorf("tokens = %+v", list.Items)
	}
	// Secrets appear once, in the create answer: never in a list or the ledger.
	audit := h.must(http.MethodGet, "/v1/audit?object_type=token", h.admin, nil, http.StatusOK)
	for what, body := range map[string][]byte{"list": raw, "ledger": audit} {
		if strings.Contains(string(body), tok.Secret) || strings.Contains(string(body), `"secret"`) {
			t.Errorf("the %s shows a secret: %s", what, body)
		}
	}

	h.must(http.MethodDelete, "/v1/tokens/"+tok.ID, h.admin, nil, http.StatusNoContent)
	h.fails(http.MethodGet, "/v1/policies", tok.Secret, nil, http.StatusUnauthorized, apitypes.CodeUnauthorized, "", "not known")
	h.fails(http.MethodDelete, "/v1/tokens/"+tok.ID, h.admin, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")

	// The last admin token cannot go: nobody could mint another over the API.
	for _, t := range list.Items {
		if t.Name == "bootstrap-admin" {
			h.fails(http.MethodDelete, "/v1/tokens/"+t.ID, h.admin, nil, http.StatusConflict, apitypes.CodeConflict, "", "last admin token")
		}
	}
}

func TestBootstrapTokenFile(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := srv.BootstrapTokenPath()
	if path != filepath.Join(dir, "admin.token") {
		t.Fatalf("BootstrapTokenPath = %q, want %s", path, filepath.Join(dir, "admin.token"))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode = %v, want 0600", fi.Mode().Perm())
	}
	secret, _ := os.ReadFile(path)
	h := &harness{t: t, srv: srv}
	ts := startServer(t, srv)
	h.url = ts
	h.must(http.MethodGet, "/v1/tokens", strings.TrimSpace(string(secret)), nil, http.StatusOK)
	srv.Close()

	// With a token stored, a restart mints nothing.
	srv2, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if p := srv2.BootstrapTokenPath(); p != "" {
		t.Errorf("second start BootstrapTokenPath = %q, want none", p)
	}
}

// Changing the configured admin token rotates it: the old one stops working.
func TestAdminTokenRotation(t *testing.T) {
	dir := t.TempDir()
	for _, secret := range []string{"first-secret", "second-secret"} {
		srv, err := server.New(context.Background(), server.Config{DataDir: dir, AdminToken: secret})
		if err != nil {
			t.Fatal(err)
		}
		if p := srv.BootstrapTokenPath(); p != "" {
			t.Errorf("BootstrapTokenPath = %q with AdminToken set, want none", p)
		}
		srv.Close()
	}
	srv, err := server.New(context.Background(), server.Config{DataDir: dir, AdminToken: "second-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := &harness{t: t, srv: srv, url: startServer(t, srv)}
	h.fails(http.MethodGet, "/v1/tokens", "first-secret", nil, http.StatusUnauthorized, apitypes.CodeUnauthorized, "", "not known")
	var list apitypes.TokenList
	h.decode(h.must(http.MethodGet, "/v1/tokens", "second-secret", nil, http.StatusOK), &list)
	if len(list.Items) != 1 || list.Items[0].Name != "bootstrap-admin" {
		t.Errorf("tokens = %+v, want the one bootstrap-admin", list.Items)
	}
	var verify apitypes.AuditVerify
	h.decode(h.must(http.MethodGet, "/v1/audit/verify", "second-secret", nil, http.StatusOK), &verify)
	if !verify.OK || verify.Events != 3 {
		t.Errorf("verify = %+v, want ok with 3 events (create, delete, create)", verify)
	}
}

// MintToken works on the data directory of a running server.
func TestMintTokenOffline(t *testing.T) {
	h := newHarness(t)
	tok, err := server.MintToken(context.Background(), h.dir, apitypes.TokenCreate{Name: "rescue", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	h.must(http.MethodGet, "/v1/tokens", tok.Secret, nil, http.StatusOK)
	events := h.auditEvents()
	last := events[len(events)-1]
	if last.ObjectID != tok.ID || last.Source != "cli" || !strings.HasPrefix(last.Actor, "local") {
		t.Errorf("ledger event = %+v, want the token's creation by local via cli", last)
	}

	if _, err := server.MintToken(context.Background(), h.dir, apitypes.TokenCreate{Name: "x", Role: "boss"}); apitypes.ErrorCode(err) != apitypes.CodeInvalid {
		t.Errorf("bad role: err = %v, want invalid", err)
	}
	if _, err := server.MintToken(context.Background(), t.TempDir(), apitypes.TokenCreate{Name: "x", Role: "admin"}); err == nil || !strings.Contains(err.Error(), "no Slipway store") {
		t.Errorf("empty dir: err = %v, want no store", err)
	}
}
