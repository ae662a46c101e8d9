package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

func TestDeploymentsUsage(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		errPart string
	}{
		{[]string{"deployments"}, "which action?"},
		{[]string{"deployments", "frob"}, `unknown command "deployments frob"`},
		{[]string{"deployments", "get"}, "want 1 argument(s), got 0"},
		{[]string{"deployments", "watch", "a", "b"}, "want 1 argument(s), got 2"},
		{[]string{"deployments", "list", "--active=maybe"}, "invalid boolean value"},
		{[]string{"measures", "fraud"}, "want 0 argument(s), got 1"},
		{[]string{"measures", "--labels", "a=b"}, "flag provided but not defined: -labels"},
	} {
		if r := runWith(nil, tt.args...); r.code != 2 || !strings.Contains(r.stderr, tt.errPart) {
			t.Errorf("slipway %q = %d, stderr %q; want 2 containing %q", tt.args, r.code, r.stderr, tt.errPart)
		}
	}
	if r := runWith(nil, "help"); !strings.Contains(r.stdout, "deployments watch ID|ENDPOINT") || !strings.Contains(r.stdout, "measures [--endpoint E]") {
		t.Errorf("help lacks the deployment commands: %q", r.stdout)
	}
}

func TestDeploymentsAgainstServer(t *testing.T) {
	_, url := startServer(t)
	env := map[string]string{"SLIPWAY_ADDR": url, "SLIPWAY_TOKEN": adminSecret}
	r := runWith(env, "deployments", "list", "--endpoint", "fraud", "--active", "-o", "json")
	var list apitypes.DeploymentList
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || list.Items == nil || len(list.Items) != 0 {
		t.Errorf("deployments list = %d %q %q; want an empty JSON list", r.code, r.stdout, r.stderr)
	}
	if r := runWith(env, "measures", "--endpoint", "fraud"); r.code != 0 || !regexp.MustCompile(`(?m)^Deployments +0$`).MatchString(r.stdout) {
		t.Errorf("measures = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runWith(env, "deployments", "watch", "fraud"); r.code != 1 || !strings.Contains(r.stderr, `"fraud" is neither a deployment ID nor an endpoint with deployments`) {
		t.Errorf("watch of nothing = %d %q", r.code, r.stderr)
	}
	if r := runWith(env, "deployments", "promote", "dep-nope"); r.code != 1 || !strings.Contains(r.stderr, `deployment "dep-nope" does not exist`) {
		t.Errorf("promote of nothing = %d %q", r.code, r.stderr)
	}
}

// The exit status of watch is the deployment's outcome.
func TestDeploymentsWatchExitStatus(t *testing.T) {
	for _, tt := range []struct {
		phase, reason string
		code          int
		errPart       string
	}{
		{apitypes.DeploySucceeded, "", 0, ""},
		{apitypes.DeployRolledBack, "error rate 4.0% > 1.0% at step 1", 1, "slipway: deployment dep-1 of endpoint fraud rolled back: error rate 4.0% > 1.0% at step 1\n"},
		{apitypes.DeployFailed, "fraud/2 could not be served", 1, "failed: fraud/2 could not be served"},
		{apitypes.DeployAborted, "aborted by alice", 1, "aborted: aborted by alice"},
	} {
		d := apitypes.Deployment{ID: "dep-1", Endpoint: "fraud", ToVersion: "fraud/2", Phase: tt.phase, Reason: tt.reason}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(d)
		}))
		r := runWith(map[string]string{"SLIPWAY_ADDR": ts.URL, "SLIPWAY_TOKEN": "t"}, "deployments", "watch", "dep-1")
		ts.Close()
		if r.code != tt.code || !strings.Contains(r.stderr, tt.errPart) || !strings.Contains(r.stdout, "dep-1 fraud") {
			t.Errorf("watch of a deployment %s = %d, stdout %q, stderr %q; want %d, stderr containing %q", tt.phase, r.code, r.stdout, r.stderr, tt.code, tt.errPart)
		}
	}
}
