package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

func TestMalformedBodies(t *testing.T) {
	h := newHarness(t)
	big := `{"name":"p","strategy":"all_at_once","description":"` + strings.Repeat("x", server.DefaultMaxBodyBytes) + `"}`
	for _, tt := range []struct {
		name, path, body string
		status           int
		code, field, msg string
	}{
		{"bad JSON", "/v1/policies", `{"name": "p",}`, 400, apitypes.CodeInvalid, "", "not valid JSON"},
		{"truncated", "/v1/policies", `{"name": "p"`, 400, apitypes.CodeInvalid, "", "ends in the middle"},
		{"empty", "/v1/policies", ``, 400, apitypes.CodeInvalid, "", "empty"},
		{"unknown field", "/v1/policies", `{"name":"p","strategy":"all_at_once","strategies":"x"}`, 400, apitypes.CodeInvalid, "strategies", "not a field"},
		{"wrong type", "/v1/policies", `{"name":1}`, 400, apitypes.CodeInvalid, "name", "is a JSON number; want a string"},
		{"nested wrong type", "/v1/policies", `{"name":"p","strategy":"canary","steps":[{"traffic_percent":"ten"}]}`, 400, apitypes.CodeInvalid, "steps.traffic_percent", "want a whole number"},
		{"endpoint wrong type", "/v1/endpoints", `{"name":"e","replicas":{"min":true}}`, 400, apitypes.CodeInvalid, "replicas.min", "is a JSON bool"},
		{"version bad time", "/v1/models/fraud/versions", `{"created_at":"yesterday"}`, 400, apitypes.CodeInvalid, "", "not valid"},
		{"not an object", "/v1/policies", `["p"]`, 400, apitypes.CodeInvalid, "", "is a JSON array; send a JSON object"},
		{"trailing data", "/v1/policies", `{"name":"p","strategy":"all_at_once"} {}`, 400, apitypes.CodeInvalid, "", "after the JSON object"},
		{"too large", "/v1/policies", big, 413, apitypes.CodeTooLarge, "", "larger than 1048576 bytes"},
		{"invalid value", "/v1/policies", `{"name":"P!","strategy":"all_at_once"}`, 400, apitypes.CodeInvalid, "name", "not allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.fails(http.MethodPost, tt.path, h.deployer, tt.body, tt.status, tt.code, tt.field, tt.msg)
		})
	}
	var list apitypes.PolicyList
	h.decode(h.must(http.MethodGet, "/v1/policies", h.reader, nil, http.StatusOK), &list)
	if len(list.Items) != 0 {
		t.Errorf("policies stored after malformed requests: %+v", list.Items)
	}
	if n := len(h.auditEvents()); n != 3 {
		t.Errorf("ledger has %d events, want only the 3 token creations", n)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	h := newHarness(t)
	h.fails(http.MethodGet, "/v1/nothing", h.admin, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "no such route: GET /v1/nothing")
	h.fails(http.MethodGet, "/v1/policies/a/b", h.admin, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "no such route")
	h.fails(http.MethodPatch, "/v1/policies", h.admin, `{}`, http.StatusMethodNotAllowed, apitypes.CodeMethodNotAllow, "", "use GET or POST")

	req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/endpoints/e", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, PUT, DELETE" {
		t.Errorf("POST /v1/endpoints/e = %d Allow %q, want 405 Allow GET, PUT, DELETE", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestPanicAnswered500(t *testing.T) {
	srv, err := server.New(context.Background(), server.Config{DataDir: t.TempDir(), AdminToken: adminSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal detail")
	})))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e apitypes.Error
	if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal(body, &e) != nil || e.Code != apitypes.CodeInternal {
		t.Fatalf("panic answered %d %s, want 500 internal", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "secret internal detail") {
		t.Errorf("the answer leaks the panic: %s", body)
	}
}

func TestHealthAndGateway(t *testing.T) {
	srv, err := server.New(context.Background(), server.Config{DataDir: t.TempDir(), AdminToken: adminSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	gw := httptest.NewServer(srv.GatewayHandler())
	defer gw.Close()
	for url, want := range map[string]string{
		api.URL + "/healthz":        `{"status":"ok"}`,
		gw.URL + "/v2/health/live":  ``, // OIP: 200, no body required
		gw.URL + "/v2/health/ready": ``,
		gw.URL + "/v2/nothing":      `{"error":`, // OIP error body
		api.URL + "/v2/health/live": `"code":"not_found"`,
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %s, want %s", url, resp.StatusCode, body, want)
		}
	}
}
