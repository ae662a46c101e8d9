package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

const adminSecret = "main-test-admin"

type result struct {
	code           int
	stdout, stderr string
}

func runWith(env map[string]string, args ...string) result {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

// startServer returns a server's data directory and URL.
func startServer(t *testing.T) (dir, url string) {
	t.Helper()
	dir = t.TempDir()
	srv, err := server.New(context.Background(), server.Config{DataDir: dir, AdminToken: adminSecret})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return dir, ts.URL
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		code    int
		errPart string
	}{
		{nil, 2, "Usage: slipway"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"versions"}, 2, "which action?"},
		{[]string{"versions", "delete", "x/1"}, 2, `unknown command "versions delete"`},
		{[]string{"versions", "get"}, 2, "want 1 argument(s), got 0"},
		{[]string{"policies", "list", "extra"}, 2, "want 0 argument(s), got 1"},
		{[]string{"policies", "list", "-o", "yaml"}, 2, `-o "yaml": use table or json`},
		{[]string{"policies", "list", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"versions", "list", "--labels", "stage"}, 2, `--labels: "stage" is not key=value`},
	} {
		r := runWith(nil, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.errPart) {
			t.Errorf("slipway %q = %d, stderr %q; want %d containing %q", tt.args, r.code, r.stderr, tt.code, tt.errPart)
		}
	}
	if r := runWith(nil, "help"); r.code != 0 || !strings.Contains(r.stdout, "tokens create --name N") {
		t.Errorf("help = %d %q", r.code, r.stdout)
	}
}

func TestOperatorFlagsAndEnv(t *testing.T) {
	_, url := startServer(t)
	// Flags may follow the positional argument.
	r := runWith(nil, "tokens", "create", "--name", "ci", "--role", "deployer", "-o", "json", "--addr", url, "--token", adminSecret)
	if r.code != 0 {
		t.Fatalf("tokens create = %d %s", r.code, r.stderr)
	}
	var tok apitypes.Token
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.Secret == "" {
		t.Fatalf("tokens create output %q (%v)", r.stdout, err)
	}

	env := map[string]string{"SLIPWAY_ADDR": url, "SLIPWAY_TOKEN": tok.Secret}
	if r := runWith(env, "policies", "get", "nope", "-o", "json"); r.code != 1 || !strings.Contains(r.stderr, `deployment policy "nope" does not exist`) {
		t.Errorf("policies get nope = %d %q, want 1 naming the policy", r.code, r.stderr)
	}
	if r := runWith(env, "audit", "list"); r.code != 0 || !strings.Contains(r.stdout, "bootstrap-admin  cli") {
		t.Errorf("audit list = %d %q", r.code, r.stdout)
	}
	// The deployer may not list tokens: exit 1 with the server's reason.
	if r := runWith(env, "tokens", "list"); r.code != 1 || !strings.Contains(r.stderr, "needs role admin") {
		t.Errorf("tokens list as deployer = %d %q", r.code, r.stderr)
	}
	// No token at all: the hint says where to get one.
	if r := runWith(map[string]string{"SLIPWAY_ADDR": url}, "endpoints", "list"); r.code != 1 || !strings.Contains(r.stderr, "SLIPWAY_TOKEN") {
		t.Errorf("no token = %d %q", r.code, r.stderr)
	}
}

func TestAuditVerifyExitStatus(t *testing.T) {
	dir, url := startServer(t)
	env := map[string]string{"SLIPWAY_ADDR": url, "SLIPWAY_TOKEN": adminSecret}
	if r := runWith(env, "tokens", "create", "--name", "ci", "--role", "reader"); r.code != 0 {
		t.Fatalf("tokens create = %d %s", r.code, r.stderr)
	}
	if r := runWith(env, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "2 events") {
		t.Fatalf("audit verify = %d %q %q", r.code, r.stdout, r.stderr)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "slipway.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_events_no_delete`, `DELETE FROM audit_events WHERE seq = 1`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r := runWith(env, "audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "does not verify at event 2: event 2 is the first event; event 1 is missing") {
		t.Errorf("audit verify after tampering = %d %q", r.code, r.stderr)
	}
}

func TestTokensCreateOffline(t *testing.T) {
	dir, url := startServer(t)
	r := runWith(nil, "tokens", "create", "--data-dir", dir, "--name", "first", "--role", "admin")
	if r.code != 0 || !strings.Contains(r.stdout, "secret: slw_") {
		t.Fatalf("offline tokens create = %d %q %q", r.code, r.stdout, r.stderr)
	}
	secret := strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, "secret: ", 2)[1], "\n", 2)[0])
	if r := runWith(map[string]string{"SLIPWAY_ADDR": url, "SLIPWAY_TOKEN": secret}, "tokens", "list"); r.code != 0 || !strings.Contains(r.stdout, "first") {
		t.Errorf("tokens list with the offline token = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runWith(nil, "tokens", "create", "--data-dir", t.TempDir(), "--name", "x", "--role", "admin"); r.code != 1 || !strings.Contains(r.stderr, "no Slipway store") {
		t.Errorf("offline into an empty dir = %d %q", r.code, r.stderr)
	}
}
