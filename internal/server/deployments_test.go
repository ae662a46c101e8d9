package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite"
)

var deploymentIDPattern = regexp.MustCompile(`^dep-[0-9a-f]{12}$`)

// deployments lists the ledger with the given query, newest first.
func (h *harness) deployments(query string) []apitypes.Deployment {
	h.t.Helper()
	var list apitypes.DeploymentList
	h.decode(h.must(http.MethodGet, "/v1/deployments"+query, h.reader, nil, http.StatusOK), &list)
	return list.Items
}

// putEndpoint reads the endpoint, applies change and writes it back as the
// deployer, through source.
func (h *harness) putEndpoint(name, source string, change func(*apitypes.Endpoint)) apitypes.Endpoint {
	h.t.Helper()
	var e apitypes.Endpoint
	h.decode(h.must(http.MethodGet, "/v1/endpoints/"+name, h.reader, nil, http.StatusOK), &e)
	change(&e)
	status, raw := h.do(http.MethodPut, "/v1/endpoints/"+name, h.deployer, e, apitypes.HeaderSource, source)
	if status != http.StatusOK {
		h.t.Fatalf("PUT /v1/endpoints/%s = %d %s", name, status, raw)
	}
	var out apitypes.Endpoint
	h.decode(raw, &out)
	return out
}

// createEndpoint creates an endpoint as the deployer, through source.
func (h *harness) createEndpoint(e apitypes.Endpoint, source string) {
	h.t.Helper()
	if status, raw := h.do(http.MethodPost, "/v1/endpoints", h.deployer, e, apitypes.HeaderSource, source); status != http.StatusCreated {
		h.t.Fatalf("POST /v1/endpoints = %d %s", status, raw)
	}
}

// store opens the server's own database beside it, as the rollout engine
// or an offline tool would write to it.
func (h *harness) store() store.Store {
	h.t.Helper()
	db, err := sqlite.Open(filepath.Join(h.dir, "slipway.db"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = db.Close() })
	return db
}

// unreadyModel is a model server that never becomes ready: deployments to
// versions it serves stay provisioning for as long as a test runs, whatever
// the rollout engine does meanwhile.
func unreadyModel(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// externalVersions registers model/version for each version, served by
// the external runtime at url.
func (h *harness) externalVersions(url, model string, versions ...string) {
	h.t.Helper()
	for _, v := range versions {
		h.must(http.MethodPost, "/v1/models/"+model+"/versions", h.deployer, apitypes.ModelVersion{
			Version: v, Format: "custom", Runtime: apitypes.Runtime{Kind: "external", URL: url},
		}, http.StatusCreated)
	}
}

func ids(items []apitypes.Deployment) []string {
	out := []string{}
	for _, d := range items {
		out = append(out, d.ID)
	}
	return out
}

func TestDeploymentRecordedOnTargetChange(t *testing.T) {
	h := newHarness(t)
	h.externalVersions(unreadyModel(t), "fraud", "1", "2")
	policy := h.policy("fast")

	h.createEndpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", DeploymentPolicy: "fast"}, "terraform")
	items := h.deployments("")
	if len(items) != 1 {
		t.Fatalf("after create: %d deployments, want 1", len(items))
	}
	first := items[0]
	if !deploymentIDPattern.MatchString(first.ID) {
		t.Errorf("ID %q does not match %s", first.ID, deploymentIDPattern)
	}
	want := apitypes.Deployment{
		ID: first.ID, Endpoint: "fraud", FromVersion: "", ToVersion: "fraud/1", Policy: &policy, Strategy: "all_at_once",
		Actor: "ci", Source: "terraform", EndpointRevision: 1, Phase: apitypes.DeployPending,
		Events: []apitypes.DeploymentEvent{{Time: clock, Phase: apitypes.DeployPending, Actor: "ci",
			Message: "deployment created by ci via terraform: nothing → fraud/1"}},
		CreatedAt: clock, UpdatedAt: clock,
	}
	// The rollout engine takes the record on from pending at once; what the
	// server wrote is the record up to that point.
	created := first
	created.Phase, created.UpdatedAt, created.Events = apitypes.DeployPending, clock, first.Events[:1]
	if !reflect.DeepEqual(created, want) {
		t.Errorf("first deployment as created = %+v\nwant %+v", created, want)
	}
	if apitypes.DeploymentTerminal(first.Phase) {
		t.Fatalf("first deployment is %s (%s); the test needs it running", first.Phase, first.Reason)
	}
	var got apitypes.Deployment
	h.decode(h.must(http.MethodGet, "/v1/deployments/"+first.ID, h.reader, nil, http.StatusOK), &got)
	if got.ID != first.ID || got.ToVersion != "fraud/1" || !reflect.DeepEqual(got.Events[0], first.Events[0]) {
		t.Errorf("GET /v1/deployments/%s = %+v\nwant the listed %+v", first.ID, got, first)
	}

	// Changes that leave the target alone deploy nothing.
	h.putEndpoint("fraud", "api", func(e *apitypes.Endpoint) {
		e.Replicas.Max = 3
		e.Labels = map[string]string{"team": "risk"}
		e.Description = "fraud scores"
	})
	if n := len(h.deployments("")); n != 1 {
		t.Fatalf("after changing replicas, labels and description: %d deployments, want still 1", n)
	}

	// A stale write fails as a whole: no deployment without its endpoint change.
	stale := first.EndpointRevision
	status, raw := h.do(http.MethodPut, "/v1/endpoints/fraud", h.deployer, apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/2", Revision: stale})
	if status != http.StatusConflict {
		t.Fatalf("stale PUT = %d %s, want 409", status, raw)
	}
	if n := len(h.deployments("")); n != 1 {
		t.Fatalf("after a refused PUT: %d deployments, want still 1", n)
	}

	// A new version deploys, and supersedes the one still running.
	e := h.putEndpoint("fraud", "cli", func(e *apitypes.Endpoint) { e.ModelVersion = "fraud/2" })
	items = h.deployments("")
	if got := ids(items); len(got) != 2 || got[1] != first.ID {
		t.Fatalf("after the new version: %v, want a new deployment before %s", got, first.ID)
	}
	second, old := items[0], items[1]
	if second.ToVersion != "fraud/2" || second.Source != "cli" || second.EndpointRevision != e.Revision || apitypes.DeploymentTerminal(second.Phase) {
		t.Errorf("second deployment = %+v; want to fraud/2 via cli at revision %d, running", second, e.Revision)
	}
	if old.Phase != apitypes.DeployAborted || old.Reason != "superseded by "+second.ID || old.FinishedAt == nil || !old.FinishedAt.Equal(clock) {
		t.Errorf("first deployment after the second = phase %s, reason %q, finished %v; want aborted, superseded by %s, finished now",
			old.Phase, old.Reason, old.FinishedAt, second.ID)
	}
	if last := old.Events[len(old.Events)-1]; last.Phase != apitypes.DeployAborted || last.Message != "superseded by "+second.ID || last.Actor != "ci" {
		t.Errorf("first deployment's last event = %+v; want the supersede, by ci", last)
	}

	// A split alone is a new target too; its order is not.
	h.putEndpoint("fraud", "api", func(e *apitypes.Endpoint) {
		e.TrafficSplit = []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 40}, {ModelVersion: "fraud/2", Percent: 60}}
	})
	items = h.deployments("")
	if len(items) != 3 || len(items[0].TargetSplit) != 2 || items[0].ToVersion != "fraud/2" {
		t.Fatalf("after setting a split: %d deployments, newest %+v; want 3, the newest with the split", len(items), items[0])
	}
	if msg := items[0].Events[0].Message; msg != "deployment created by ci via api: nothing → fraud/2 (split fraud/1 40%, fraud/2 60%)" {
		t.Errorf("split deployment's message = %q", msg)
	}
	h.putEndpoint("fraud", "api", func(e *apitypes.Endpoint) { slices.Reverse(e.TrafficSplit) })
	if n := len(h.deployments("")); n != 3 {
		t.Errorf("after reordering the split: %d deployments, want still 3", n)
	}

	// Deleting the endpoint ends what runs and keeps the history.
	h.must(http.MethodDelete, "/v1/endpoints/fraud", h.deployer, nil, http.StatusNoContent)
	items = h.deployments("?endpoint=fraud")
	if len(items) != 3 {
		t.Fatalf("after deleting the endpoint: %d deployments, want the 3 kept", len(items))
	}
	if items[0].Phase != apitypes.DeployAborted || items[0].Reason != "endpoint deleted by ci" {
		t.Errorf("running deployment after delete = %s %q; want aborted, endpoint deleted by ci", items[0].Phase, items[0].Reason)
	}
	// A new endpoint of the same name starts a new history; IDs never repeat.
	h.createEndpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}, "api")
	items = h.deployments("?endpoint=fraud")
	if len(items) != 4 || items[0].EndpointRevision != 1 || slices.Contains(ids(items[1:]), items[0].ID) {
		t.Errorf("after creating the endpoint again: %v; want a 4th, new ID at revision 1", ids(items))
	}
}

// externalModel is a model server every external-runtime version can point
// at: it answers 200 to everything, so the reconciler serves it at once.
func externalModel(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// waitTraffic waits until the endpoint's status reports want as its live
// traffic.
func (h *harness) waitTraffic(name string, want map[string]int) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var e apitypes.Endpoint
		h.decode(h.must(http.MethodGet, "/v1/endpoints/"+name, h.reader, nil, http.StatusOK), &e)
		got := map[string]int{}
		for _, t := range e.Status.Traffic {
			got[t.ModelVersion] = t.Percent
		}
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("endpoint %s serves %v (phase %s, %q); want %v", name, got, e.Status.Phase, e.Status.Message, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDeploymentFromVersionIsWhatServed(t *testing.T) {
	h := newHarness(t)
	url := externalModel(t)
	for _, v := range []string{"1", "2", "3"} {
		h.must(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
			Version: v, Format: "custom", Runtime: apitypes.Runtime{Kind: "external", URL: url},
		}, http.StatusCreated)
	}
	h.createEndpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}, "api")
	h.waitTraffic("fraud", map[string]int{"fraud/1": 100})

	split := []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 30}, {ModelVersion: "fraud/2", Percent: 70}}
	h.putEndpoint("fraud", "api", func(e *apitypes.Endpoint) { e.ModelVersion, e.TrafficSplit = "fraud/2", split })
	d := h.deployments("?limit=1")[0]
	if d.FromVersion != "fraud/1" || !reflect.DeepEqual(d.TargetSplit, split) ||
		!reflect.DeepEqual(d.Traffic, []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 100}}) {
		t.Errorf("deployment = from %q, split %v, traffic %v; want from fraud/1 (what served), the split asked, traffic fraud/1 100%%",
			d.FromVersion, d.TargetSplit, d.Traffic)
	}
	h.waitTraffic("fraud", map[string]int{"fraud/1": 30, "fraud/2": 70})

	// With a split serving, "from" is the version with the most traffic.
	h.putEndpoint("fraud", "api", func(e *apitypes.Endpoint) { e.ModelVersion, e.TrafficSplit = "fraud/3", nil })
	d = h.deployments("?limit=1")[0]
	if d.FromVersion != "fraud/2" || d.ToVersion != "fraud/3" {
		t.Errorf("deployment = %s → %s; want fraud/2 (70%%) → fraud/3", d.FromVersion, d.ToVersion)
	}
	if msg := d.Events[0].Message; msg != "deployment created by ci via api: fraud/2 → fraud/3" {
		t.Errorf("message = %q", msg)
	}
}

func TestListDeploymentsFilters(t *testing.T) {
	h := newHarness(t)
	h.externalVersions(unreadyModel(t), "fraud", "1", "2")
	h.createEndpoint(apitypes.Endpoint{Name: "a", ModelVersion: "fraud/1"}, "api")
	h.createEndpoint(apitypes.Endpoint{Name: "b", ModelVersion: "fraud/1"}, "api")
	h.putEndpoint("a", "api", func(e *apitypes.Endpoint) { e.ModelVersion = "fraud/2" })
	all := h.deployments("")
	if len(all) != 3 || all[0].Endpoint != "a" || all[1].Endpoint != "b" || all[2].Endpoint != "a" {
		t.Fatalf("all = %+v; want a (new), b, a (first), newest first", all)
	}
	a2, b1, a1 := all[0].ID, all[1].ID, all[2].ID
	for query, want := range map[string][]string{
		"?endpoint=a":             {a2, a1},
		"?active=true":            {a2, b1},
		"?active=false":           {a2, b1, a1},
		"?endpoint=a&active=true": {a2},
		"?limit=2":                {a2, b1},
		"?endpoint=c":             {},
	} {
		if got := ids(h.deployments(query)); !reflect.DeepEqual(got, want) {
			t.Errorf("GET /v1/deployments%s = %v, want %v", query, got, want)
		}
	}
	h.fails(http.MethodGet, "/v1/deployments?active=maybe", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "active", `"maybe" is not true or false`)
	h.fails(http.MethodGet, "/v1/deployments?limit=-1", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "limit", "not a whole number")
	h.fails(http.MethodGet, "/v1/deployments?endpoint=Not_A_Name", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "endpoint", "not an endpoint name")
	h.fails(http.MethodGet, "/v1/deployments/dep-000000000000", h.reader, nil, http.StatusNotFound, apitypes.CodeNotFound, "", `deployment "dep-000000000000" does not exist`)
}

// fakeControl stands in for the rollout engine.
type fakeControl struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeControl) Promote(_ context.Context, id, actor string) error {
	return f.call("promote", id, actor)
}

func (f *fakeControl) Abort(_ context.Context, id, actor string) error {
	return f.call("abort", id, actor)
}

func (f *fakeControl) call(what, id, actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, what+" "+id+" by "+actor)
	return f.err
}

func (f *fakeControl) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func TestPromoteAndAbort(t *testing.T) {
	h := newHarness(t)
	h.externalVersions(unreadyModel(t), "fraud", "1")
	h.createEndpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}, "api")
	running := h.deployments("")[0] // pending or provisioning, for the whole test

	// A deployment parked for approval and one long finished, as the
	// rollout engine would have left them. (The engine resumes a parked
	// deployment as parked, and leaves a finished one alone.)
	db := h.store()
	parked := apitypes.Deployment{ID: "dep-aaaaaaaaaaaa", Endpoint: "ghost", ToVersion: "fraud/1", Strategy: "canary", Phase: apitypes.DeployAwaitingApproval,
		Step: 2, Events: []apitypes.DeploymentEvent{}, CreatedAt: clock.Add(-time.Hour), UpdatedAt: clock}
	done := parked
	done.ID, done.Phase = "dep-bbbbbbbbbbbb", apitypes.DeploySucceeded
	if err := db.Update(context.Background(), func(tx store.Tx) error {
		return errors.Join(tx.CreateDeployment(context.Background(), &parked), tx.CreateDeployment(context.Background(), &done))
	}); err != nil {
		t.Fatal(err)
	}
	promote := func(id string) string { return "/v1/deployments/" + id + "/promote" }
	abort := func(id string) string { return "/v1/deployments/" + id + "/abort" }

	// Without an engine: the phase rules first, then 503.
	h.srv.SetDeploymentControl(nil)
	e := h.fails(http.MethodPost, promote(running.ID), h.deployer, nil, http.StatusConflict, apitypes.CodeConflict, "",
		"; only a deployment in phase awaiting_approval can be promoted")
	if !regexp.MustCompile(fmt.Sprintf(`^deployment %q is (pending|provisioning);`, running.ID)).MatchString(e.Message) {
		t.Errorf("refusal %q does not name the deployment and its phase", e.Message)
	}
	h.fails(http.MethodPost, abort(done.ID), h.deployer, nil, http.StatusConflict, apitypes.CodeConflict, "",
		`deployment "dep-bbbbbbbbbbbb" is succeeded; it has finished and cannot be aborted`)
	h.fails(http.MethodPost, abort(running.ID), h.deployer, nil, http.StatusServiceUnavailable, apitypes.CodeUnavailable, "", "no rollout engine")
	h.fails(http.MethodPost, promote("dep-nope"), h.deployer, nil, http.StatusNotFound, apitypes.CodeNotFound, "", `deployment "dep-nope" does not exist`)
	h.fails(http.MethodPost, promote(parked.ID), h.reader, nil, http.StatusForbidden, apitypes.CodeForbidden, "", "needs role deployer")
	if n := h.countAudit(apitypes.ObjectDeployment); n != 0 {
		t.Fatalf("%d deployment events in the ledger after refused calls, want 0", n)
	}

	fake := &fakeControl{}
	h.srv.SetDeploymentControl(fake)
	var got apitypes.Deployment
	h.decode(h.must(http.MethodPost, promote(parked.ID), h.deployer, nil, http.StatusAccepted), &got)
	if got.ID != parked.ID {
		t.Errorf("promote answered %+v, want the deployment", got)
	}
	h.decode(h.must(http.MethodPost, abort(running.ID), h.deployer, nil, http.StatusAccepted), &got)
	if want := []string{"promote " + parked.ID + " by ci", "abort " + running.ID + " by ci"}; !reflect.DeepEqual(fake.Calls(), want) {
		t.Errorf("engine calls = %q, want %q", fake.Calls(), want)
	}
	var events []apitypes.AuditEvent
	for _, e := range h.auditEvents() {
		if e.ObjectType == apitypes.ObjectDeployment {
			events = append(events, e)
		}
	}
	if len(events) != 2 || events[0].Action != "promote" || events[0].ObjectID != parked.ID || events[0].Actor != "ci" ||
		events[1].Action != "abort" || events[1].ObjectID != running.ID || !strings.Contains(string(events[1].Before), `"id":"`+running.ID+`"`) ||
		!strings.Contains(string(events[0].Before), `"phase":"awaiting_approval"`) {
		t.Errorf("ledger's deployment events = %+v; want promote of %s then abort of %s, by ci, with the deployment before", events, parked.ID, running.ID)
	}
	var verify apitypes.AuditVerify
	h.decode(h.must(http.MethodGet, "/v1/audit/verify", h.reader, nil, http.StatusOK), &verify)
	if !verify.OK {
		t.Errorf("ledger does not verify after promote and abort: %+v", verify)
	}

	// The engine's own refusal reaches the caller as it is, unrecorded.
	fake.err = apitypes.Errorf(apitypes.CodeConflict, "deployment moved on meanwhile")
	h.fails(http.MethodPost, abort(running.ID), h.deployer, nil, http.StatusConflict, apitypes.CodeConflict, "", "moved on meanwhile")
	if n := h.countAudit(apitypes.ObjectDeployment); n != 2 {
		t.Errorf("%d deployment events after the engine refused, want still 2", n)
	}
}

func TestDeploymentRoutesNeedToken(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/v1/deployments", "/v1/deployments/dep-x", "/v1/measures"} {
		h.fails(http.MethodGet, path, "", nil, http.StatusUnauthorized, apitypes.CodeUnauthorized, "", "needs a token")
	}
	h.fails(http.MethodPost, "/v1/deployments/dep-x/abort", "", nil, http.StatusUnauthorized, apitypes.CodeUnauthorized, "", "needs a token")
	h.fails(http.MethodPost, "/v1/deployments/dep-x/abort", h.reader, nil, http.StatusForbidden, apitypes.CodeForbidden, "", "needs role deployer")
	h.fails(http.MethodGet, "/v1/deployments/dep-x/abort", h.deployer, nil, http.StatusMethodNotAllowed, apitypes.CodeMethodNotAllow, "", "use POST")
}

func TestKeyMeasures(t *testing.T) {
	h := newHarness(t)
	h.externalVersions(unreadyModel(t), "fraud", "1", "2") // registered at clock
	// Through the API: a create via terraform, superseded (aborted) by a
	// change via the CLI that is still running.
	h.createEndpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}, "terraform")
	h.putEndpoint("fraud", "cli", func(e *apitypes.Endpoint) { e.ModelVersion = "fraud/2" })
	h.createEndpoint(apitypes.Endpoint{Name: "other", ModelVersion: "fraud/1"}, "api")

	// History the engine finished, written to the store.
	at := func(d time.Duration) *time.Time { t := clock.Add(d); return &t }
	history := []apitypes.Deployment{
		// Lead time: finished an hour after fraud/1's registration: 3600 s.
		{ID: "dep-000000000001", Endpoint: "fraud", ToVersion: "fraud/1", Source: "terraform", Phase: apitypes.DeploySucceeded, CreatedAt: clock.Add(-time.Hour), FinishedAt: at(time.Hour)},
		// Restore: 30 min = 1800 s.
		{ID: "dep-000000000002", Endpoint: "fraud", ToVersion: "fraud/2", Source: "terraform", Phase: apitypes.DeployRolledBack, CreatedAt: clock.Add(-time.Hour), FinishedAt: at(-30 * time.Minute)},
		// Before the 90-day window: not counted.
		{ID: "dep-000000000003", Endpoint: "fraud", ToVersion: "fraud/1", Source: "api", Phase: apitypes.DeployFailed, CreatedAt: clock.Add(-91 * 24 * time.Hour), FinishedAt: at(-90 * 24 * time.Hour)},
	}
	db := h.store()
	if err := db.Update(context.Background(), func(tx store.Tx) error {
		for i := range history {
			if err := tx.CreateDeployment(context.Background(), &history[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// fraud: 4 in the window (2 API, 2 history); 3 via terraform; finished:
	// aborted, succeeded, rolled back, of which 1 succeeded.
	wantFraud := apitypes.KeyMeasures{Endpoint: "fraud", WindowDays: 90, Deployments: 4, PipelineShare: 0.75, SuccessRate: 1.0 / 3,
		MeanLeadTimeSeconds: 3600, MeanTimeToRestoreSeconds: 1800, DeploymentsPerDay: 4.0 / 90}
	// Overall adds other's running API deployment.
	wantAll := apitypes.KeyMeasures{WindowDays: 90, Deployments: 5, PipelineShare: 0.6, SuccessRate: 1.0 / 3,
		MeanLeadTimeSeconds: 3600, MeanTimeToRestoreSeconds: 1800, DeploymentsPerDay: 5.0 / 90}
	for query, want := range map[string]apitypes.KeyMeasures{"?endpoint=fraud": wantFraud, "": wantAll} {
		var got apitypes.KeyMeasures
		h.decode(h.must(http.MethodGet, "/v1/measures"+query, h.reader, nil, http.StatusOK), &got)
		if !measuresNear(got, want) {
			t.Errorf("GET /v1/measures%s = %+v\nwant %+v", query, got, want)
		}
	}
	h.fails(http.MethodGet, "/v1/measures?endpoint=-bad", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "endpoint", "not an endpoint name")

	// The same numbers on /metrics, computed at scrape time.
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d (%v)", resp.StatusCode, err)
	}
	metrics := string(raw)
	// The running deployments, in whichever phase the engine has them.
	for _, endpoint := range []string{"fraud", "other"} {
		re := `(?m)^slipway_deployments_total\{endpoint="` + endpoint + `",phase="(pending|provisioning)"\} 1$`
		if !regexp.MustCompile(re).MatchString(metrics) {
			t.Errorf("/metrics lacks a match for %s", re)
		}
	}
	for _, line := range []string{
		`slipway_deployments_total{endpoint="fraud",phase="aborted"} 1`,
		`slipway_deployments_total{endpoint="fraud",phase="succeeded"} 1`,
		`slipway_deployments_total{endpoint="fraud",phase="rolled_back"} 1`,
		`slipway_pipeline_share{endpoint="fraud"} 0.75`,
		`slipway_pipeline_share{endpoint=""} 0.6`,
		`slipway_pipeline_share{endpoint="other"} 0`,
		`slipway_mean_lead_time_seconds{endpoint="fraud"} 3600`,
		`slipway_mean_time_to_restore_seconds{endpoint=""} 1800`,
		fmt.Sprintf(`slipway_deployment_frequency_per_day{endpoint="fraud"} %v`, 4.0/90),
		fmt.Sprintf(`slipway_deployment_success_rate{endpoint=""} %v`, 1.0/3),
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if strings.Contains(metrics, `phase="failed"`) {
		t.Errorf("/metrics counts the deployment from before the window")
	}
}

func measuresNear(a, b apitypes.KeyMeasures) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return a.Endpoint == b.Endpoint && a.WindowDays == b.WindowDays && a.Deployments == b.Deployments &&
		eq(a.PipelineShare, b.PipelineShare) && eq(a.SuccessRate, b.SuccessRate) &&
		eq(a.MeanLeadTimeSeconds, b.MeanLeadTimeSeconds) && eq(a.MeanTimeToRestoreSeconds, b.MeanTimeToRestoreSeconds) &&
		eq(a.DeploymentsPerDay, b.DeploymentsPerDay)
}
