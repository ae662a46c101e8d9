package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Unit tests of waitEndpointSettled against a fake API that answers each
// GET of the endpoint with the next read of a script (repeating the last).

func waitTestClient(t *testing.T, reads ...apitypes.Endpoint) *client.Client {
	t.Helper()
	var (
		mu sync.Mutex
		n  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/endpoints/fraud" {
			http.Error(w, `{"error":"unexpected call"}`, http.StatusTeapot)
			return
		}
		mu.Lock()
		e := reads[min(n, len(reads)-1)]
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Address: srv.URL, Token: "t", Source: "terraform"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitTestEndpoint(target string, revision int64, phase, message string, traffic ...apitypes.TrafficStatus) apitypes.Endpoint {
	return apitypes.Endpoint{
		Name: "fraud", ModelVersion: target, Revision: revision,
		Status: apitypes.EndpointStatus{Phase: phase, Message: message, Traffic: traffic},
	}
}

func TestUnitModelEndpointWait(t *testing.T) {
	t.Parallel()
	v1 := apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}
	v2 := apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1}
	const reason = "model version fraud/2 could not be served: replica fraud/fraud/2#1 exited before it was ready: exit status 3; " +
		"its last words: weights corrupt; traffic stays on fraud/1"
	want := waitTestEndpoint("fraud/2", 2, apitypes.PhasePending, "")
	for name, tc := range map[string]struct {
		reads    []apitypes.Endpoint
		wantRev  int64  // revision of the endpoint returned
		wantErr  string // "" for success; else words the error must hold, in order
		notInErr string
	}{
		"switches once the new version is ready": {
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseDeploying, "", v1),
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseReady, "", v2),
			},
			wantRev: 2,
		},
		"ready but still on the old version is not done": {
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseReady, "", v1), // status not yet rewritten
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseReady, "", v2),
			},
			wantRev: 2,
		},
		"the server put it back": {
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseDeploying, "", v1),
				waitTestEndpoint("fraud/1", 3, apitypes.PhaseReady, reason, v1),
			},
			wantRev: 3,
			wantErr: `Model endpoint "fraud" did not switch to fraud/2: ` + reason + ".\n\n" +
				"The server put the endpoint back to what still serves, fraud/1 (revision 3), and state records that",
			notInErr: "another client",
		},
		"another client changed it": {
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/3", 3, apitypes.PhaseDeploying, "", v1),
			},
			wantRev:  3,
			wantErr:  `Model endpoint "fraud" was changed by another client while the deployment ran and now asks for fraud/3 (revision 3)`,
			notInErr: "put the endpoint back",
		},
		"another client put it back by hand": {
			// Asks for what serves, but no reason names the dropped version.
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/1", 3, apitypes.PhaseReady, "", v1),
			},
			wantRev: 3,
			wantErr: `was changed by another client while the deployment ran and now asks for fraud/1 (revision 3)`,
		},
		"a change elsewhere that keeps the target is waited through": {
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 3, apitypes.PhaseDeploying, "", v1),
				waitTestEndpoint("fraud/2", 3, apitypes.PhaseReady, "", v2),
			},
			wantRev: 3,
		},
		"the first version fails": {
			reads: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseFailed, "model version fraud/2 could not be served: boom; nothing serves this endpoint"),
			},
			wantRev: 2,
			wantErr: `Model endpoint "fraud" failed: model version fraud/2 could not be served: boom; nothing serves this endpoint`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := waitEndpointSettled(ctx, waitTestClient(t, tc.reads...), &want)
			if got == nil || got.Revision != tc.wantRev {
				t.Fatalf("returned endpoint %+v, want revision %d", got, tc.wantRev)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.wantErr)
			}
			if tc.notInErr != "" && strings.Contains(err.Error(), tc.notInErr) {
				t.Errorf("error = %v\nwant it not to say %q", err, tc.notInErr)
			}
			if !errors.Is(err, errNotServed) {
				t.Errorf("error %v does not wrap errNotServed", err)
			}
			if strings.Contains(err.Error(), errNotServed.Error()) {
				t.Errorf("error %q repeats the sentinel's text", err)
			}
		})
	}
}

func TestUnitModelEndpointWaitTimeout(t *testing.T) {
	t.Parallel()
	c := waitTestClient(t, waitTestEndpoint("fraud/2", 2, apitypes.PhaseDeploying, "",
		apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	want := waitTestEndpoint("fraud/2", 2, apitypes.PhasePending, "")
	_, err := waitEndpointSettled(ctx, c, &want)
	const words = `Timed out waiting for model endpoint "fraud" to serve fraud/2; it is deploying, serving fraud/1. Raise the timeouts block's value`
	if err == nil || !strings.Contains(err.Error(), words) {
		t.Fatalf("error = %v\nwant it to contain %q", err, words)
	}
}

func TestUnitModelEndpointTrafficString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   map[string]int
		want string
	}{
		{nil, "nothing"},
		{map[string]int{"fraud/1": 100}, "fraud/1"},
		{map[string]int{"fraud/2": 90, "fraud/1": 10}, "fraud/1 at 10%, fraud/2 at 90%"},
		{map[string]int{"fraud/1": 50}, "fraud/1 at 50%"},
	} {
		if got := trafficString(tc.in); got != tc.want {
			t.Errorf("trafficString(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnitModelEndpointMentionsVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg, v string
		want   bool
	}{
		{"model version fraud/2 could not be served", "fraud/2", true},
		{"traffic stays on fraud/2", "fraud/2", true},
		{"traffic stays on fraud/2.", "fraud/2", true},
		{"model version fraud/20 could not be served", "fraud/2", false},
		{"model version xfraud/2 could not be served", "fraud/2", false},
		{"fraud/2.1 could not be served; fraud/2: boom", "fraud/2", true},
		{"fraud/2.1 could not be served", "fraud/2", false},
		{"", "fraud/2", false},
	} {
		if got := mentionsVersion(tc.msg, tc.v); got != tc.want {
			t.Errorf("mentionsVersion(%q, %q) = %v, want %v", tc.msg, tc.v, got, tc.want)
		}
	}
}
