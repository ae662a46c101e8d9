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

// Unit tests of the deployment-aware wait against a fake API: the list of
// deployments is fixed, and each GET of the deployment and of the endpoint
// answers the next read of its script (repeating the last).

type deployTestAPI struct {
	list      []apitypes.Deployment
	deploys   []apitypes.Deployment
	endpoints []apitypes.Endpoint

	mu         sync.Mutex
	nd, ne     int
	listCalled int
}

func (a *deployTestAPI) client(t *testing.T) *client.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var body any
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/deployments":
			if r.URL.Query().Get("endpoint") != "fraud" || r.URL.Query().Get("limit") != "5" {
				http.Error(w, `{"code":"invalid","message":"unexpected query `+r.URL.RawQuery+`"}`, http.StatusBadRequest)
				return
			}
			a.listCalled++
			body = apitypes.DeploymentList{Items: a.list}
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/deployments/") && len(a.deploys) > 0:
			body = a.deploys[min(a.nd, len(a.deploys)-1)]
			a.nd++
		case r.Method == http.MethodGet && r.URL.Path == "/v1/endpoints/fraud" && len(a.endpoints) > 0:
			body = a.endpoints[min(a.ne, len(a.endpoints)-1)]
			a.ne++
		default:
			http.Error(w, `{"code":"invalid","message":"unexpected call"}`, http.StatusTeapot)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Address: srv.URL, Token: "t", Source: "terraform", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var deployTestT0 = time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)

func deployTestDeployment(phase string, step int, reason string, traffic ...apitypes.TrafficWeight) apitypes.Deployment {
	return apitypes.Deployment{
		ID: "dep-0a1b2c3d4e5f", Endpoint: "fraud", FromVersion: "fraud/1", ToVersion: "fraud/2",
		Policy: rolloutTestSafe, Strategy: "canary", EndpointRevision: 2, Phase: phase, Step: step, Reason: reason,
		Traffic: traffic, CreatedAt: deployTestT0.Add(time.Minute),
		Events: []apitypes.DeploymentEvent{{Phase: apitypes.DeployPending, Message: "deployment created"}},
	}
}

func TestUnitModelEndpointWaitDeployment(t *testing.T) {
	t.Parallel()
	v1 := apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}
	v2 := apitypes.TrafficStatus{ModelVersion: "fraud/2", Percent: 100, ReadyReplicas: 1}
	half := []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 50}, {ModelVersion: "fraud/2", Percent: 50}}
	const reason = "p99 412ms > 250ms at step 2 (50% traffic); traffic restored to fraud/1"
	rolledBack := deployTestDeployment(apitypes.DeployRolledBack, 2, reason, apitypes.TrafficWeight{ModelVersion: "fraud/1", Percent: 100})
	rolledBack.Events = append(rolledBack.Events,
		apitypes.DeploymentEvent{Phase: apitypes.DeployProgressing, Step: 2, Message: "analysis at step 2 (50% traffic): fail",
			Metrics: &apitypes.GateMetrics{Requests: 57, Errors: 2, ErrorRate: 2.0 / 57, LatencyP99: "412ms",
				BaselineRequests: 60, BaselineErrorRate: 0, BaselineP99: "80ms", Verdict: "fail"}},
		apitypes.DeploymentEvent{Phase: apitypes.DeployRolledBack, Step: 2, Message: reason},
	)
	firstFailed := deployTestDeployment(apitypes.DeployFailed, 0, "model version fraud/2 could not be served: exit status 3; nothing else serves endpoint \"fraud\"")
	firstFailed.FromVersion = ""
	superseded := deployTestDeployment(apitypes.DeployAborted, 1, "superseded by dep-ffffffffffff")

	for name, tc := range map[string]struct {
		deploys   []apitypes.Deployment
		endpoints []apitypes.Endpoint
		wantRev   int64
		wantErr   []string // words the error holds, in order; none for success
		notInErr  string
	}{
		"succeeds, then waits for the endpoint to serve": {
			deploys: []apitypes.Deployment{
				deployTestDeployment(apitypes.DeployProvisioning, 0, ""),
				deployTestDeployment(apitypes.DeployProgressing, 1, "", apitypes.TrafficWeight{ModelVersion: "fraud/1", Percent: 90}, apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 10}),
				deployTestDeployment(apitypes.DeploySucceeded, 3, "", apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 100}),
			},
			endpoints: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseDeploying, "", v1), // status not yet rewritten
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseReady, "", v2),
			},
			wantRev: 2,
		},
		"rolled back: the reason, the gate's numbers and what serves": {
			deploys: []apitypes.Deployment{
				deployTestDeployment(apitypes.DeployProgressing, 2, "", half...),
				rolledBack,
			},
			endpoints: []apitypes.Endpoint{
				// The engine ends the record before it puts the endpoint back.
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseDeploying, "", apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}),
				waitTestEndpoint("fraud/1", 3, apitypes.PhaseReady, reason, v1),
			},
			wantRev: 3,
			wantErr: []string{
				`Model endpoint "fraud" did not switch to fraud/2: deployment dep-0a1b2c3d4e5f was rolled back: ` + reason + ".\n\n" +
					"Last analysis: fail: 57 requests, error rate 3.5%, p99 412ms; baseline 60 requests, error rate 0.0%, p99 80ms.\n\n" +
					"Now serving: fraud/1. The server put the endpoint back to it (revision 3) and state records that, so the next plan proposes the change again. " +
					"Fix the model version, or revert the configuration to what serves. The deployment's events: `slipway deployments get dep-0a1b2c3d4e5f`.",
			},
		},
		"the first deployment failed": {
			deploys: []apitypes.Deployment{firstFailed},
			endpoints: []apitypes.Endpoint{
				waitTestEndpoint("fraud/2", 2, apitypes.PhaseFailed, firstFailed.Reason),
			},
			wantRev: 2,
			wantErr: []string{
				"deployment dep-0a1b2c3d4e5f failed: model version fraud/2 could not be served: exit status 3",
				"Now serving: nothing. The endpoint still asks for fraud/2, and state records that.",
			},
			notInErr: "Last analysis",
		},
		"superseded by another client's change": {
			deploys:   []apitypes.Deployment{superseded},
			endpoints: []apitypes.Endpoint{waitTestEndpoint("fraud/3", 3, apitypes.PhaseDeploying, "", v1)},
			wantRev:   3,
			wantErr: []string{
				"deployment dep-0a1b2c3d4e5f was aborted: superseded by dep-ffffffffffff.",
				"Now serving: fraud/1. The endpoint was changed since by another client and asks for fraud/3 (revision 3)",
			},
			notInErr: "put the endpoint back",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := &deployTestAPI{deploys: tc.deploys, endpoints: tc.endpoints}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			want := waitTestEndpoint("fraud/2", 2, apitypes.PhasePending, "")
			d := deployTestDeployment(apitypes.DeployPending, 0, "")
			got, err := waitDeployment(ctx, api.client(t), &want, &d)
			if got == nil || got.Revision != tc.wantRev {
				t.Fatalf("returned endpoint %+v, want revision %d", got, tc.wantRev)
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error saying %q", tc.wantErr)
			}
			if !endpointAccWords(tc.wantErr...).MatchString(err.Error()) {
				t.Errorf("error:\n%s\n\nwant it to say, in order:\n%s", err, strings.Join(tc.wantErr, "\n...\n"))
			}
			if tc.notInErr != "" && strings.Contains(err.Error(), tc.notInErr) {
				t.Errorf("error %q says %q", err, tc.notInErr)
			}
			if !errors.Is(err, errNotServed) {
				t.Errorf("error %v does not wrap errNotServed", err)
			}
		})
	}
}

func TestUnitModelEndpointWaitDeploymentTimeout(t *testing.T) {
	t.Parallel()
	approval := deployTestDeployment(apitypes.DeployAwaitingApproval, 2, "",
		apitypes.TrafficWeight{ModelVersion: "fraud/1", Percent: 50}, apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 50})
	parked := approval
	parked.Reason = "error rate 5.0% > 1.0% at step 2 (50% traffic); rollback.automatic is false, so traffic stays as it is until an operator promotes or aborts"
	for name, tc := range map[string]struct {
		d    apitypes.Deployment
		want []string
	}{
		"progressing": {
			d: deployTestDeployment(apitypes.DeployProgressing, 2, "",
				apitypes.TrafficWeight{ModelVersion: "fraud/1", Percent: 50}, apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 50}),
			want: []string{
				`Timed out waiting for deployment dep-0a1b2c3d4e5f of model endpoint "fraud" to fraud/2; ` +
					"it is progressing at step 2 of 3 (50% of traffic to fraud/2), routing fraud/1 at 50%, fraud/2 at 50%. " +
					"The server carries on with the deployment: follow it with `slipway deployments watch dep-0a1b2c3d4e5f`",
				"Raise the timeouts block's value", "or set wait_for_rollout = false",
			},
		},
		"awaiting approval": {
			d: approval,
			want: []string{
				"it is awaiting approval before all traffic goes to fraud/2, routing fraud/1 at 50%, fraud/2 at 50%. " +
					"Promote it with `slipway deployments promote dep-0a1b2c3d4e5f` (or roll it back with `slipway deployments abort dep-0a1b2c3d4e5f`)",
			},
		},
		"parked after a failed gate": {
			d:    parked,
			want: []string{"it is awaiting an operator: error rate 5.0% > 1.0% at step 2 (50% traffic); rollback.automatic is false", "slipway deployments promote dep-0a1b2c3d4e5f"},
		},
		"provisioning": {
			d:    deployTestDeployment(apitypes.DeployProvisioning, 0, "", apitypes.TrafficWeight{ModelVersion: "fraud/1", Percent: 100}),
			want: []string{"it is provisioning: waiting for ready replicas of fraud/2, routing fraud/1."},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := &deployTestAPI{
				deploys:   []apitypes.Deployment{tc.d},
				endpoints: []apitypes.Endpoint{waitTestEndpoint("fraud/2", 2, apitypes.PhaseDeploying, "", apitypes.TrafficStatus{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1})},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			want := waitTestEndpoint("fraud/2", 2, apitypes.PhasePending, "")
			d := deployTestDeployment(apitypes.DeployPending, 0, "")
			got, err := waitDeployment(ctx, api.client(t), &want, &d)
			if err == nil || !endpointAccWords(tc.want...).MatchString(err.Error()) {
				t.Fatalf("error:\n%v\n\nwant it to say, in order:\n%s", err, strings.Join(tc.want, "\n...\n"))
			}
			// Read again after the deadline, for state.
			if got == nil || got.Revision != 2 {
				t.Errorf("returned endpoint %+v, want the endpoint read after the timeout", got)
			}
		})
	}
}

func TestUnitModelEndpointFindDeployment(t *testing.T) {
	t.Parallel()
	e := waitTestEndpoint("fraud/2", 2, apitypes.PhasePending, "")
	e.CreatedAt = deployTestT0
	mine := deployTestDeployment(apitypes.DeployPending, 0, "")
	older := mine
	older.ID, older.EndpointRevision = "dep-older", 1
	// Of an endpoint "fraud" deleted before this one was created.
	gone := mine
	gone.ID, gone.CreatedAt = "dep-gone", deployTestT0.Add(-time.Hour)
	for name, tc := range map[string]struct {
		list []apitypes.Deployment
		want string
	}{
		"the change's own":          {[]apitypes.Deployment{mine, older}, mine.ID},
		"none: the target was kept": {[]apitypes.Deployment{older}, ""},
		"not a former namesake's":   {[]apitypes.Deployment{gone, older}, ""},
		"none at all":               {nil, ""},
	} {
		api := &deployTestAPI{list: tc.list}
		d, err := findDeployment(context.Background(), api.client(t), &e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ""; d != nil {
			got = d.ID
			if got != tc.want {
				t.Errorf("%s: found %q, want %q", name, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: found none, want %q", name, tc.want)
		}
	}
}
