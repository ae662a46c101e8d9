package serving_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/rollout"
	"github.com/slipwayhq/terraform-provider-slipway/internal/serving"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

// The reconciler is the rollout engine's hand on the traffic.
var _ interface {
	rollout.Traffic
	rollout.MinReplicas
} = (*serving.Reconciler)(nil)

func (r *fakeRouter) route(e string) gateway.Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.routes[e]
}

// deploy records a deployment of the endpoint in the given phase, as the
// server does when the target changes.
func (f *fixture) deploy(id, from, to, phase string) {
	f.t.Helper()
	e := f.endpoint()
	d := &apitypes.Deployment{ID: id, Endpoint: "fraud", FromVersion: from, ToVersion: to, Strategy: "canary", Phase: phase,
		EndpointRevision: e.Revision, Reason: "", Events: []apitypes.DeploymentEvent{}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if apitypes.DeploymentTerminal(phase) {
		d.Reason = "p99 412ms > 250ms at step 2 (10% traffic); traffic restored to " + from
	}
	f.update(func(tx store.Tx) error {
		if _, err := tx.GetDeployment(context.Background(), id); err == nil {
			return tx.UpdateDeployment(context.Background(), d)
		}
		return tx.CreateDeployment(context.Background(), d)
	})
	f.rec.Trigger("fraud")
}

// retargetWithDeployment changes the target and records the deployment in
// one go, as the server's update does.
func (f *fixture) retargetWithDeployment(id, version string) {
	e := f.endpoint()
	from, prev := e.ModelVersion, e.Revision
	e.ModelVersion = version
	f.update(func(tx store.Tx) error {
		if err := tx.UpdateEndpoint(context.Background(), e, prev); err != nil {
			return err
		}
		return tx.CreateDeployment(context.Background(), &apitypes.Deployment{ID: id, Endpoint: "fraud", FromVersion: from, ToVersion: version,
			Strategy: "canary", Phase: apitypes.DeployPending, EndpointRevision: e.Revision, Events: []apitypes.DeploymentEvent{}, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	})
	f.rec.Trigger("fraud")
}

func (f *fixture) serveV1() {
	f.t.Helper()
	f.sup.set("fraud/1", true, 0)
	f.create("fraud/1")
	f.eventually("v1 ready", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseReady })
}

func statusWeights(e *apitypes.Endpoint) map[string]int {
	w := map[string]int{}
	for _, t := range e.Status.Traffic {
		w[t.ModelVersion] = t.Percent
	}
	return w
}

func TestPendingDeploymentHoldsWhatServes(t *testing.T) {
	f := newFixture(t)
	f.serveV1()
	f.sup.set("fraud/2", true, 0)
	f.retargetWithDeployment("dep-1", "fraud/2")
	f.eventually("v2 replicas started while v1 serves", func() bool { return f.sup.replicas("fraud", "fraud/2") == 1 })
	f.eventually("status names the deployment", func() bool { return f.endpoint().Status.CurrentDeployment == "dep-1" })
	time.Sleep(60 * time.Millisecond) // several passes
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
		t.Fatalf("route = %v; until the engine takes the deployment up, v1 keeps all traffic although v2 is ready", w)
	}
	if e := f.endpoint(); e.Status.Phase != apitypes.PhaseDeploying || e.Status.Message != "deployment dep-1 is pending" {
		t.Errorf("status = %s %q", e.Status.Phase, e.Status.Message)
	}
	// Once the deployment is over (here: succeeded without the engine
	// overriding), the ordinary path serves the desired state.
	f.deploy("dep-1", "fraud/1", "fraud/2", apitypes.DeploySucceeded)
	f.eventually("switched to v2", func() bool { return maps.Equal(f.router.weights("fraud"), map[string]int{"fraud/2": 100}) })
	f.eventually("v1 stopped", func() bool { return f.sup.replicas("fraud", "fraud/1") == 0 })
}

func TestOverrideRoutesTheEnginesSplit(t *testing.T) {
	f := newFixture(t)
	f.serveV1()
	f.sup.set("fraud/2", true, 0)
	f.retargetWithDeployment("dep-1", "fraud/2")
	f.eventually("v2 replicas", func() bool { return f.sup.replicas("fraud", "fraud/2") == 1 })

	f.rec.Route("fraud", map[string]int{"fraud/1": 90, "fraud/2": 10}, nil)
	// Published before Route returns: a rollback does not wait for a pass.
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 90, "fraud/2": 10}) {
		t.Fatalf("route right after Route = %v, want 90/10", w)
	}
	f.eventually("status reports the split and the deployment", func() bool {
		e := f.endpoint()
		return maps.Equal(statusWeights(e), map[string]int{"fraud/1": 90, "fraud/2": 10}) &&
			e.Status.Phase == apitypes.PhaseDeploying && e.Status.CurrentDeployment == "dep-1"
	})
	time.Sleep(60 * time.Millisecond)
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 90, "fraud/2": 10}) {
		t.Fatalf("route after several passes = %v; the override must stick although v2 is desired and ready", w)
	}

	// Blue/green's termination wait: the old version at weight 0 keeps its
	// replicas and stays reachable by pinning.
	f.rec.Route("fraud", map[string]int{"fraud/2": 100, "fraud/1": 0}, nil)
	time.Sleep(60 * time.Millisecond)
	rt := f.router.route("fraud")
	if len(rt.Versions) != 2 || rt.Versions[0].Version != "fraud/1" || rt.Versions[0].Weight != 0 || len(rt.Versions[0].Backends) != 1 {
		t.Fatalf("route = %+v; want fraud/1 at weight 0 with its replica", rt)
	}
	if n := f.sup.replicas("fraud", "fraud/1"); n != 1 {
		t.Fatalf("fraud/1 has %d replicas while named at weight 0", n)
	}

	f.rec.Route("fraud", map[string]int{"fraud/2": 100}, nil)
	f.deploy("dep-1", "fraud/1", "fraud/2", apitypes.DeploySucceeded)
	f.rec.Release("fraud")
	f.eventually("v1 stopped once released", func() bool { return f.sup.replicas("fraud", "fraud/1") == 0 })
	f.eventually("ready on v2", func() bool {
		e := f.endpoint()
		return e.Status.Phase == apitypes.PhaseReady && maps.Equal(statusWeights(e), map[string]int{"fraud/2": 100})
	})
	if e := f.endpoint(); e.Status.CurrentDeployment != "dep-1" || e.Status.Message != "" {
		t.Errorf("status after success: deployment %q, message %q", e.Status.CurrentDeployment, e.Status.Message)
	}
}

func TestOverrideWithShadow(t *testing.T) {
	f := newFixture(t)
	f.serveV1()
	f.sup.set("fraud/2", true, 0)
	f.retargetWithDeployment("dep-1", "fraud/2")
	f.eventually("v2 replicas", func() bool { return f.sup.replicas("fraud", "fraud/2") == 1 })
	f.rec.Route("fraud", map[string]int{"fraud/1": 100}, &gateway.ShadowRoute{Version: "fraud/2", Percent: 20})
	rt := f.router.route("fraud")
	if rt.Shadow == nil || rt.Shadow.Version != "fraud/2" || rt.Shadow.Percent != 20 || len(rt.Shadow.Backends) != 1 {
		t.Fatalf("route shadow = %+v; want fraud/2 at 20%% with its replica", rt.Shadow)
	}
	time.Sleep(60 * time.Millisecond)
	if n := f.sup.replicas("fraud", "fraud/2"); n != 1 {
		t.Errorf("shadow version has %d replicas", n)
	}
}

func TestRollbackThroughTheOverrideStopsTheCandidate(t *testing.T) {
	f := newFixture(t)
	f.serveV1()
	f.sup.set("fraud/2", true, 0)
	f.retargetWithDeployment("dep-1", "fraud/2")
	f.rec.Route("fraud", map[string]int{"fraud/1": 90, "fraud/2": 10}, nil)
	f.eventually("v2 replicas", func() bool { return f.sup.replicas("fraud", "fraud/2") == 1 })

	// What the engine does on a failed gate: route back, end the record,
	// put the desired state back, release.
	f.rec.Route("fraud", map[string]int{"fraud/1": 100}, nil)
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
		t.Fatalf("route right after the rollback Route = %v", w)
	}
	f.deploy("dep-1", "fraud/1", "fraud/2", apitypes.DeployRolledBack)
	e := f.endpoint()
	prev := e.Revision
	e.ModelVersion = "fraud/1"
	f.update(func(tx store.Tx) error { return tx.UpdateEndpoint(context.Background(), e, prev) })
	f.rec.Release("fraud")
	f.eventually("v2 stopped", func() bool { return f.sup.replicas("fraud", "fraud/2") == 0 })
	f.eventually("ready on v1 with the reason", func() bool {
		e := f.endpoint()
		return e.Status.Phase == apitypes.PhaseReady && maps.Equal(statusWeights(e), map[string]int{"fraud/1": 100}) &&
			strings.HasPrefix(e.Status.Message, "p99 412ms > 250ms")
	})
	if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
		t.Errorf("route = %v", w)
	}
}

func TestRejectedFirstVersionIsNeverServed(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	e := &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", Replicas: apitypes.Replicas{Min: 1, Max: 1, TargetConcurrency: 2}, RequestTimeout: "5s"}
	f.update(func(tx store.Tx) error {
		if err := tx.CreateEndpoint(context.Background(), e); err != nil {
			return err
		}
		return tx.CreateDeployment(context.Background(), &apitypes.Deployment{ID: "dep-1", Endpoint: "fraud", ToVersion: "fraud/1", Strategy: "all_at_once",
			Phase: apitypes.DeployRolledBack, Reason: `smoke request "typical" answered status 500, want 200; nothing else serves endpoint "fraud"`,
			EndpointRevision: e.Revision, Events: []apitypes.DeploymentEvent{}, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	})
	f.rec.Trigger("fraud")
	f.eventually("phase failed", func() bool { return f.endpoint().Status.Phase == apitypes.PhaseFailed })
	time.Sleep(60 * time.Millisecond)
	if w := f.router.weights("fraud"); len(w) != 0 {
		t.Errorf("route = %v; a version the engine rejected must not serve", w)
	}
	if n := f.sup.replicas("fraud", "fraud/1"); n != 0 {
		t.Errorf("the rejected version has %d replicas", n)
	}
	if st := f.endpoint().Status; st.Message != `smoke request "typical" answered status 500, want 200; nothing else serves endpoint "fraud"` || st.CurrentDeployment != "dep-1" {
		t.Errorf("status = %+v", st)
	}
}

func TestTrafficQueries(t *testing.T) {
	f := newFixture(t)
	f.sup.set("fraud/1", true, 0)
	f.sup.set("fraud/2", false, 2)
	e := &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", TrafficSplit: []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 50}, {ModelVersion: "fraud/2", Percent: 50}},
		Replicas: apitypes.Replicas{Min: 2, Max: 3, TargetConcurrency: 2}, RequestTimeout: "5s"}
	f.update(func(tx store.Tx) error { return tx.CreateEndpoint(context.Background(), e) })
	f.rec.Trigger("fraud")
	f.eventually("replicas asked for", func() bool { return f.sup.replicas("fraud", "fraud/2") == 2 })
	if n := f.rec.Ready("fraud", "fraud/1"); n != 1 {
		t.Errorf("Ready(fraud/1) = %d", n)
	}
	if n, msg := f.rec.StartFailures("fraud", "fraud/2"); n != 2 || !strings.Contains(msg, "boom") {
		t.Errorf("StartFailures(fraud/2) = %d %q", n, msg)
	}
	if n := f.rec.MinReplicas("fraud"); n != 2 {
		t.Errorf("MinReplicas = %d, want 2", n)
	}
}

// After Release the reconciler goes on from the engine's last split, also
// when it cannot switch to the desired state yet: a rollback is never
// undone by a pass that still remembers the canary.
func TestReleaseKeepsTheEnginesLastSplit(t *testing.T) {
	f := newFixture(t)
	f.update(func(tx store.Tx) error {
		return tx.CreateModelVersion(context.Background(), &apitypes.ModelVersion{
			ID: "fraud/3", Model: "fraud", Version: "3", Format: "onnx", SHA256: strings.Repeat("3", 64), Runtime: apitypes.Runtime{Kind: "builtin"},
		})
	})
	f.serveV1()
	f.sup.set("fraud/2", true, 0)
	f.retargetWithDeployment("dep-1", "fraud/2")
	f.rec.Route("fraud", map[string]int{"fraud/1": 90, "fraud/2": 10}, nil)
	f.eventually("the canary in the status", func() bool {
		return maps.Equal(statusWeights(f.endpoint()), map[string]int{"fraud/1": 90, "fraud/2": 10})
	})
	// The canary fails while someone retargets the endpoint to fraud/3
	// (not ready): the engine's revert loses to that change.
	f.retargetWithDeployment("dep-2", "fraud/3")
	f.rec.Route("fraud", map[string]int{"fraud/1": 100}, nil)
	f.rec.Release("fraud")
	for range 5 {
		time.Sleep(25 * time.Millisecond)
		if w := f.router.weights("fraud"); !maps.Equal(w, map[string]int{"fraud/1": 100}) {
			t.Fatalf("route after the rollback's Release = %v; want fraud/1 alone", w)
		}
	}
	f.eventually("status holds fraud/1 for dep-2", func() bool {
		e := f.endpoint()
		return maps.Equal(statusWeights(e), map[string]int{"fraud/1": 100}) && e.Status.CurrentDeployment == "dep-2"
	})
	f.eventually("the failed candidate stopped", func() bool { return f.sup.replicas("fraud", "fraud/2") == 0 })
}
