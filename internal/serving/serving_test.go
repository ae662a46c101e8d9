package serving_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/serving"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite/sqlitetest"
	"github.com/slipwayhq/terraform-provider-slipway/internal/supervisor"
)

// fakeSupervisor stands in for replica processes: a test decides which
// versions are ready and which fail to start.
type fakeSupervisor struct {
	mu       sync.Mutex
	ensured  map[string]int // "endpoint|version" -> replicas
	ready    map[string]bool
	failures map[string]int
	stopped  []string
}

func newFakeSupervisor() *fakeSupervisor {
	return &fakeSupervisor{ensured: map[string]int{}, ready: map[string]bool{}, failures: map[string]int{}}
}

func (f *fakeSupervisor) Ensure(s supervisor.Spec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensured[s.Endpoint+"|"+s.Version.ID] = s.Replicas
}

func (f *fakeSupervisor) Stop(_ context.Context, e, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ensured, e+"|"+v)
	f.stopped = append(f.stopped, v)
}

func (f *fakeSupervisor) Ready(e, v string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ensured[e+"|"+v]; ok && f.ready[v] {
		return []string{"http://replica-of-" + v}
	}
	return nil
}

func (f *fakeSupervisor) Status(e, v string) (supervisor.SetStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.ensured[e+"|"+v]
	st := supervisor.SetStatus{Desired: n, StartFailures: f.failures[v]}
	if f.ready[v] {
		st.Ready = n
	}
	if f.failures[v] > 0 {
		st.LastError = "replica exited before it was ready: exit status 3; its last words: boom"
	}
	return st, ok
}

func (f *fakeSupervisor) Sets() [][2]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][2]string
	for k := range f.ensured {
		e, v, _ := strings.Cut(k, "|")
		out = append(out, [2]string{e, v})
	}
	return out
}

func (f *fakeSupervisor) set(v string, ready bool, failures int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready[v], f.failures[v] = ready, failures
}

func (f *fakeSupervisor) replicas(e, v string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ensured[e+"|"+v]
}

type fakeRouter struct {
	mu       sync.Mutex
	routes   map[string]gateway.Route
	inflight int
}

func (r *fakeRouter) SetRoute(rt gateway.Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes[rt.Endpoint] = rt
}

func (r *fakeRouter) DeleteRoute(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.routes, e)
}

func (r *fakeRouter) InFlight(string, string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight
}

// weights is the route's weight per version that has backends.
func (r *fakeRouter) weights(e string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := map[string]int{}
	for _, v := range r.routes[e].Versions {
		if len(v.Backends) > 0 {
			w[v.Version] = v.Weight
		}
	}
	return w
}

type fixture struct {
	t      *testing.T
	db     store.Store
	sup    *fakeSupervisor
	router *fakeRouter
	rec    *serving.Reconciler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, db: sqlitetest.MustOpen(t), sup: newFakeSupervisor(), router: &fakeRouter{routes: map[string]gateway.Route{}}}
	f.rec = serving.New(serving.Config{
		Store: f.db, Supervisor: f.sup, Router: f.router,
		ArtifactPath:   func(d string) string { return "/artifacts/" + d },
		Revert:         f.revert,
		Resync:         20 * time.Millisecond,
		ScaleDownDelay: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.rec.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, v := range []string{"1", "2"} {
		f.update(func(tx store.Tx) error {
			return tx.CreateModelVersion(context.Background(), &apitypes.ModelVersion{
				ID: "fraud/" + v, Model: "fraud", Version: v, Format: "onnx", SHA256: strings.Repeat(v, 64), Runtime: apitypes.Runtime{Kind: "builtin"},
			})
		})
	}
	return f
}

func (f *fixture) update(fn func(tx store.Tx) error) {
	f.t.Helper()
	if err := f.db.Update(context.Background(), fn); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) revert(ctx context.Context, e *apitypes.Endpoint, _ string) error {
	return f.db.Update(ctx, func(tx store.Tx) error { return tx.UpdateEndpoint(ctx, e, e.Revision) })
}

func (f *fixture) endpoint() *apitypes.Endpoint {
	f.t.Helper()
	var e *apitypes.Endpoint
	if err := f.db.View(context.Background(), func(tx store.Tx) (err error) {
		e, err = tx.GetEndpoint(context.Background(), "fraud")
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) create(version string, split ...apitypes.TrafficWeight) {
	e := &apitypes.Endpoint{Name: "fraud", ModelVersion: version, TrafficSplit: split, Replicas: apitypes.Replicas{Min: 1, Max: 3, TargetConcurrency: 2}, RequestTimeout: "5s"}
	f.update(func(tx store.Tx) error { return tx.CreateEndpoint(context.Background(), e) })
	f.rec.Trigger("fraud")
}

func (f *fixture) retarget(version string) {
	e := f.endpoint()
	prev := e.Revision
	e.ModelVersion = version
	f.update(func(tx store.Tx) error { return tx.UpdateEndpoint(context.Background(), e, prev) })
	f.rec.Trigger("fraud")
}

func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s; endpoint %+v, route %v", what, f.endpoint(), f.router.weights("fraud"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRoutesOnlyOnceReadyAndReportsStatus(t *testing.T) {
	f := newFixture(t)
	f.create("fraud/1")
	f.eventually("replicas asked for", func() bool { return f.sup.replicas("fraud", "fraud/1") == 1 })
	f.eventually("phase deploying", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseDeploying })
	if w := f.router.weights("fraud"); len(w) != 0 {
		t.Fatalf("routed %v before any replica was ready", w)
	}
	f.sup.set("fraud/1", true, 0)
	f.eventually("phase ready", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseReady })
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
		t.Fatalf("route = %v, want fraud/1 at 100", w)
	}
	want := []apitypes.TrafficStatus{{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}}
	if got := f.endpoint().Status.Traffic; !slices.Equal(got, want) {
		t.Fatalf("status traffic = %v, want %v", got, want)
	}
}

func TestSwitchWaitsForTheNewVersionThenStopsTheOld(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	f.create("fraud/1")
	f.eventually("v1 ready", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseReady })
	f.retarget("fraud/2")
	f.eventually("v2 starting", func() bool { return f.sup.replicas("fraud", "fraud/2") == 1 })
	time.Sleep(60 * time.Millisecond) // several passes
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
		t.Fatalf("while v2 starts the route is %v; v1 must keep all traffic", w)
	}
	if p := f.endpoint().Status.Phase; p != apitypes.PhaseDeploying {
		t.Fatalf("phase while v2 starts = %s, want deploying", p)
	}
	f.sup.set("fraud/2", true, 0)
	f.eventually("switched to v2", func() bool { return maps.Equal(f.router.weights("fraud"), map[string]int{"fraud/2": 100}) })
	f.eventually("v1 stopped", func() bool { return f.sup.replicas("fraud", "fraud/1") == 0 })
}

func TestUnservableVersionIsRevertedWithTheReason(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	f.create("fraud/1")
	f.eventually("v1 ready", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseReady })
	f.sup.set("fraud/2", false, 3)
	f.retarget("fraud/2")
	// The revert commits before the pass that made it writes the status.
	f.eventually("desired state reverted to v1, with the reason", func() bool {
		e := f.endpoint()
		return e.ModelVersion == "fraud/1" && e.Status.Message != ""
	})
	e := f.endpoint()
	if !strings.Contains(e.Status.Message, "fraud/2 could not be served") || !strings.Contains(e.Status.Message, "boom") || !strings.Contains(e.Status.Message, "traffic stays on fraud/1") {
		t.Errorf("status message = %q; want the version, the replica's own words and what still serves", e.Status.Message)
	}
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
		t.Errorf("route after the failure = %v; want fraud/1 at 100", w)
	}
	if e.Revision != 3 {
		t.Errorf("revision = %d; the revert is a change of its own (want 3)", e.Revision)
	}
}

func TestFirstVersionThatCannotServeFailsTheEndpoint(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", false, 3)
	f.create("fraud/1")
	f.eventually("phase failed", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseFailed })
	if msg := f.endpoint().Status.Message; !strings.Contains(msg, "nothing serves") {
		t.Errorf("message = %q", msg)
	}
}

func TestFixedSplitRoutesBothVersions(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	f.sup.set("fraud/2", true, 0)
	f.create("fraud/2", apitypes.TrafficWeight{ModelVersion: "fraud/2", Percent: 90}, apitypes.TrafficWeight{ModelVersion: "fraud/1", Percent: 10})
	f.eventually("90/10 routed", func() bool {
		return maps.Equal(f.router.weights("fraud"), map[string]int{"fraud/2": 90, "fraud/1": 10})
	})
}

func TestAutoscalesWithinBounds(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	f.create("fraud/1")
	f.eventually("1 replica", func() bool { return f.sup.replicas("fraud", "fraud/1") == 1 })
	f.router.mu.Lock()
	f.router.inflight = 100 // far above max × target concurrency
	f.router.mu.Unlock()
	f.eventually("scaled to max 3", func() bool { return f.sup.replicas("fraud", "fraud/1") == 3 })
	f.router.mu.Lock()
	f.router.inflight = 0
	f.router.mu.Unlock()
	f.eventually("back to min 1 after the delay", func() bool { return f.sup.replicas("fraud", "fraud/1") == 1 })
}

func TestDeletedEndpointIsTornDown(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	f.create("fraud/1")
	f.eventually("ready", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseReady })
	f.update(func(tx store.Tx) error { return tx.DeleteEndpoint(context.Background(), "fraud") })
	f.rec.Trigger("fraud")
	f.eventually("route removed and replicas stopped", func() bool {
		return len(f.router.weights("fraud")) == 0 && f.sup.replicas("fraud", "fraud/1") == 0
	})
}
