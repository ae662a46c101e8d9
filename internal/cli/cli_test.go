package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/cli"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

const adminSecret = "cli-test-admin"

// fixture is a running server with one of each object.
type fixture struct {
	dir string
	api *client.Client
	url string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Config{DataDir: dir, AdminToken: adminSecret, GatewayURL: "http://gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	c, err := client.New(client.Config{Address: ts.URL, Token: adminSecret, Source: "cli", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	content, err := onnxmodel.NewLinear([]float32{1, 2, 3, 4}, 0.5).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fraud.onnx")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	if _, err := c.CreateModelVersion(ctx, &apitypes.ModelVersion{
		Model: "fraud", Version: "1", ArtifactURI: "file://" + path, SHA256: hex.EncodeToString(sum[:]),
		Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"}, Labels: map[string]string{"stage": "prod"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "canary", Strategy: "canary",
		Steps: []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "1m"}}, Rollback: &apitypes.Rollback{Automatic: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEndpoint(ctx, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", DeploymentPolicy: "canary",
		Labels: map[string]string{"team": "risk"}}); err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, api: c, url: ts.URL}
}

func (f *fixture) operator(jsonOut bool) (*cli.Operator, *bytes.Buffer) {
	var out bytes.Buffer
	return &cli.Operator{Client: f.api, Out: &out, JSON: jsonOut}, &out
}

// lines splits output into lines of whitespace-separated fields.
func lines(s string) [][]string {
	var out [][]string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.Fields(l))
	}
	return out
}

func TestTables(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		run  func(*cli.Operator) error
		want []string // substrings, in order
	}{
		{"versions list", func(o *cli.Operator) error { return o.VersionsList(ctx, "", nil) },
			[]string{"ID", "FORMAT", "RUNTIME", "SIZE", "LABELS", "CREATED", "\nfraud/1", "onnx", "builtin", " B", "stage=prod"}},
		{"versions get", func(o *cli.Operator) error { return o.VersionsGet(ctx, "fraud/1") },
			[]string{"ID", "fraud/1", "Artifact", "file://", "SHA-256", "Revision", "1"}},
		{"policies list", func(o *cli.Operator) error { return o.PoliciesList(ctx) },
			[]string{"NAME", "STRATEGY", "RISK", "\ncanary", "canary", "medium", "1"}},
		{"policies get", func(o *cli.Operator) error { return o.PoliciesGet(ctx, "canary") },
			[]string{"Strategy", "canary", "Steps", "10% for 1m", "Automatic rollback", "true", "Approval required", "false"}},
		{"endpoints list", func(o *cli.Operator) error { return o.EndpointsList(ctx, map[string]string{"team": "risk"}) },
			[]string{"NAME", "MODEL VERSION", "POLICY", "PHASE", "\nfraud", "fraud/1", "canary", "http://gw.test/v2/models/fraud"}},
		{"endpoints get", func(o *cli.Operator) error { return o.EndpointsGet(ctx, "fraud") },
			[]string{"Model version", "fraud/1", "Replicas", "1-1 (target concurrency 4)", "Phase", "URL", "http://gw.test/v2/models/fraud"}},
		{"audit list", func(o *cli.Operator) error {
			return o.AuditList(ctx, client.AuditListOptions{ObjectType: apitypes.ObjectEndpoint})
		}, []string{"SEQ", "ACTOR", "SOURCE", "ACTION", "OBJECT", "\n4", "bootstrap-admin", "cli", "create", "endpoint fraud"}},
		{"tokens list", func(o *cli.Operator) error { return o.TokensList(ctx) },
			[]string{"ID", "NAME", "ROLE", "\ntok_", "bootstrap-admin", "admin"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, out := f.operator(false)
			if err := tt.run(o); err != nil {
				t.Fatal(err)
			}
			rest := out.String()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q after the earlier parts:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestEmptyListIsHeaderOnly(t *testing.T) {
	f := newFixture(t)
	o, out := f.operator(false)
	if err := o.EndpointsList(context.Background(), map[string]string{"team": "nobody"}); err != nil {
		t.Fatal(err)
	}
	if got := lines(out.String()); len(got) != 1 || got[0][0] != "NAME" {
		t.Errorf("output = %q, want the header alone", out)
	}
}

func TestJSONOutput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o, out := f.operator(true)
	if err := o.VersionsList(ctx, "fraud", nil); err != nil {
		t.Fatal(err)
	}
	var list apitypes.ModelVersionList
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list.Items) != 1 || list.Items[0].ID != "fraud/1" {
		t.Fatalf("JSON = %s (%v), want the version list", out, err)
	}

	out.Reset()
	if err := o.EndpointsGet(ctx, "fraud"); err != nil {
		t.Fatal(err)
	}
	var e apitypes.Endpoint
	if err := json.Unmarshal(out.Bytes(), &e); err != nil || e.Name != "fraud" || e.Status.URL != "http://gw.test/v2/models/fraud" {
		t.Fatalf("JSON = %s (%v), want the endpoint", out, err)
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	o, _ := f.operator(false)
	err := o.PoliciesGet(context.Background(), "nope")
	if !apitypes.IsNotFound(err) || !strings.Contains(err.Error(), `deployment policy "nope" does not exist`) {
		t.Errorf("err = %v, want not found naming the policy", err)
	}
}

func TestTokensCreateAndDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o, out := f.operator(true)
	if err := o.TokensCreate(ctx, "ci", "deployer"); err != nil {
		t.Fatal(err)
	}
	var tok apitypes.Token
	if err := json.Unmarshal(out.Bytes(), &tok); err != nil || tok.Secret == "" {
		t.Fatalf("JSON = %s (%v), want a token with its secret", out, err)
	}
	ci, _ := client.New(client.Config{Address: f.url, Token: tok.Secret, MaxRetries: -1})
	if _, err := ci.ListPolicies(ctx); err != nil {
		t.Fatalf("the new token does not work: %v", err)
	}

	o, out = f.operator(false)
	if err := o.TokensDelete(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "deleted token "+tok.ID) {
		t.Errorf("output = %q", out)
	}
	if _, err := ci.ListPolicies(ctx); apitypes.ErrorCode(err) != apitypes.CodeUnauthorized {
		t.Errorf("deleted token still works: %v", err)
	}
}

// With --data-dir the token goes straight into the store: no server call.
func TestTokensCreateOffline(t *testing.T) {
	f := newFixture(t)
	o, out := f.operator(false)
	o.Client = nil // prove no API call is made
	if err := o.TokensCreateOffline(context.Background(), f.dir, "rescue", "admin"); err != nil {
		t.Fatal(err)
	}
	var secret string
	for _, l := range lines(out.String()) {
		if len(l) == 2 && l[0] == "secret:" {
			secret = l[1]
		}
	}
	if !strings.Contains(out.String(), `created admin token "rescue"`) || secret == "" {
		t.Fatalf("output = %q, want the token and its secret", out)
	}
	c, _ := client.New(client.Config{Address: f.url, Token: secret, MaxRetries: -1})
	if _, err := c.ListTokens(context.Background()); err != nil {
		t.Errorf("the offline token does not work against the running server: %v", err)
	}
}

func TestAuditVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o, out := f.operator(false)
	if err := o.AuditVerify(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "audit ledger verified: 4 events") {
		t.Errorf("output = %q", out)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "slipway.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	err = o.AuditVerify(ctx)
	var broken *cli.BrokenLedgerError
	if !errors.As(err, &broken) || broken.Result.BrokenSeq != 2 || !strings.Contains(err.Error(), "does not verify at event 2: event 2 was changed") {
		t.Errorf("err = %v, want a broken ledger at event 2", err)
	}
}

func TestParseLabels(t *testing.T) {
	got, err := cli.ParseLabels("a=1,b=")
	if err != nil || len(got) != 2 || got["a"] != "1" || got["b"] != "" {
		t.Errorf("ParseLabels = %v, %v", got, err)
	}
	if _, err := cli.ParseLabels("a"); err == nil {
		t.Error("ParseLabels(a) succeeded, want an error")
	}
}

func TestExplain(t *testing.T) {
	unauth := &apitypes.Error{Code: apitypes.CodeUnauthorized, Message: "needs a token"}
	if err := cli.Explain(unauth, "http://x", false); !strings.Contains(err.Error(), "SLIPWAY_TOKEN") || !errors.Is(err, unauth) {
		t.Errorf("no token: %v", err)
	}
	if err := cli.Explain(unauth, "http://x", true); err.Error() != unauth.Error() {
		t.Errorf("with a token: %v, want the error unchanged", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	c, _ := client.New(client.Config{Address: addr, MaxRetries: -1})
	_, err = c.ListPolicies(context.Background())
	if err = cli.Explain(err, addr, true); !strings.Contains(err.Error(), "is `slipway server` running at "+addr) {
		t.Errorf("refused: %v", err)
	}
}

// syncBuffer lets a test read what Serve prints while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Serve(ctx, cli.ServeConfig{DataDir: dir, Listen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0"}, &out)
	}()

	// Poll for the listen addresses rather than sleeping a fixed time.
	var apiURL, gwURL string
	for deadline := time.Now().Add(10 * time.Second); apiURL == "" || gwURL == ""; {
		for _, l := range strings.Split(out.String(), "\n") {
			if u, ok := strings.CutPrefix(l, "slipway API listening on "); ok {
				apiURL = u
			}
			if u, ok := strings.CutPrefix(l, "slipway gateway listening on "); ok {
				gwURL = u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve printed no addresses: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tokenPath := filepath.Join(dir, "admin.token")
	if !strings.Contains(out.String(), "admin token written to "+tokenPath) {
		t.Errorf("output does not say where the admin token is: %q", out.String())
	}
	secret, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.New(client.Config{Address: apiURL, Token: strings.TrimSpace(string(secret)), MaxRetries: -1})
	if _, err := c.ListTokens(context.Background()); err != nil {
		t.Errorf("API with the written token: %v", err)
	}
	resp, err := http.Get(gwURL + "/v2/health/live")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("gateway live = %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v after cancel, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not stop after its context ended")
	}
	if _, err := http.Get(apiURL + "/healthz"); err == nil {
		t.Error("the API still answers after Serve returned")
	}
}

func TestServeTLSFlagsGoTogether(t *testing.T) {
	err := cli.Serve(context.Background(), cli.ServeConfig{DataDir: t.TempDir(), TLSCert: "cert.pem"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "give both or neither") {
		t.Errorf("err = %v", err)
	}
}
