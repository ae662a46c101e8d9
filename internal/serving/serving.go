// Package serving makes what endpoints serve match what the store says they
// should serve. For every endpoint it starts the replicas of each version
// that must take traffic, switches the gateway's route only once those
// replicas are ready (so a switch never sends a request to a replica that
// cannot answer), drains and stops versions that no longer take traffic,
// scales replicas between the endpoint's bounds, and writes the endpoint's
// status. When a new version cannot be served, the desired state is put back
// to what still serves, and the status says why.
//
// Progressive strategies (canary, linear, blue/green) come with the rollout
// engine; here every change takes effect as soon as the new versions are
// ready (all_at_once), and a fixed traffic_split is honoured as given.
package serving

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/supervisor"
)

// Supervisor is what the reconciler needs of the replica supervisor.
type Supervisor interface {
	Ensure(spec supervisor.Spec)
	Stop(ctx context.Context, endpoint, version string)
	Ready(endpoint, version string) []string
	Status(endpoint, version string) (supervisor.SetStatus, bool)
	Sets() [][2]string
}

// Router is what the reconciler needs of the gateway.
type Router interface {
	SetRoute(r gateway.Route)
	DeleteRoute(endpoint string)
	InFlight(endpoint, version string) int
}

// Config configures a Reconciler.
type Config struct {
	Store      store.Store
	Supervisor Supervisor
	Router     Router
	// ArtifactPath is where the verified artifact with this digest lives.
	ArtifactPath func(digest string) string
	// Revert writes e (an endpoint whose target was put back to what still
	// serves) to the store with a ledger event, guarded by e.Revision.
	Revert func(ctx context.Context, e *apitypes.Endpoint, reason string) error
	Logger *slog.Logger
	// MaxStartFailures is how many failed starts in a row make a version
	// unservable (default 3).
	MaxStartFailures int
	// Resync is how often every endpoint is reconciled even without a
	// trigger, which also drives autoscaling (default 1s).
	Resync time.Duration
	// ScaleDownDelay is how long load must stay low before replicas are
	// removed (default 30s).
	ScaleDownDelay time.Duration
}

// Reconciler drives endpoints toward their desired state. Start it with Run.
type Reconciler struct {
	cfg Config
	log *slog.Logger

	kick  chan struct{}
	mu    sync.Mutex
	dirty map[string]bool
	state map[string]*endpointState // owned by the Run goroutine
}

// endpointState is what the reconciler remembers of one endpoint.
type endpointState struct {
	// serving is the weight per version the gateway routes now; after a
	// restart it starts from the stored status, the last known good state.
	serving map[string]int
	routed  bool
	// replicas is the autoscaled count per version and when load was last
	// high enough to need it.
	replicas map[string]int
	busyAt   map[string]time.Time
	// failed remembers a version that could not be served for a revision,
	// so it is not retried until the desired state changes.
	failed         string
	failedRevision int64
	failedReason   string
}

// New returns a Reconciler; nothing happens until Run.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxStartFailures <= 0 {
		cfg.MaxStartFailures = 3
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Second
	}
	if cfg.ScaleDownDelay <= 0 {
		cfg.ScaleDownDelay = 30 * time.Second
	}
	return &Reconciler{
		cfg:   cfg,
		log:   cfg.Logger,
		kick:  make(chan struct{}, 1),
		dirty: map[string]bool{},
		state: map[string]*endpointState{},
	}
}

// Trigger asks for the endpoint to be reconciled soon. Triggers coalesce:
// many calls before the loop wakes cost one reconciliation.
func (r *Reconciler) Trigger(endpoint string) {
	r.mu.Lock()
	r.dirty[endpoint] = true
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx is done. It starts by reconciling every stored
// endpoint, which after a restart brings their replicas back.
func (r *Reconciler) Run(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Resync)
	defer tick.Stop()
	r.resyncAll(ctx)
	for {
		// The first pass runs at once: after a restart the stored status
		// and the (empty) routes must not wait a Resync to be corrected.
		r.mu.Lock()
		names := slices.Sorted(maps.Keys(r.dirty))
		clear(r.dirty)
		r.mu.Unlock()
		for _, name := range names {
			r.reconcile(ctx, name)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-tick.C:
			r.resyncAll(ctx)
		}
	}
}

func (r *Reconciler) resyncAll(ctx context.Context) {
	var names []string
	if err := r.cfg.Store.View(ctx, func(tx store.Tx) error {
		eps, err := tx.ListEndpoints(ctx, store.EndpointFilter{})
		for _, e := range eps {
			names = append(names, e.Name)
		}
		return err
	}); err != nil {
		if ctx.Err() == nil {
			r.log.Error("listing endpoints", "err", err)
		}
		return
	}
	// Endpoints that are gone still have replicas until torn down.
	for name := range r.state {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	r.mu.Lock()
	for _, n := range names {
		r.dirty[n] = true
	}
	r.mu.Unlock()
}

// reconcile moves one endpoint one step toward its desired state.
func (r *Reconciler) reconcile(ctx context.Context, name string) {
	var (
		e        *apitypes.Endpoint
		versions = map[string]*apitypes.ModelVersion{}
	)
	err := r.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if e, err = tx.GetEndpoint(ctx, name); err != nil {
			return err
		}
		ids := map[string]bool{e.ModelVersion: true}
		for _, w := range e.TrafficSplit {
			ids[w.ModelVersion] = true
		}
		for _, t := range e.Status.Traffic {
			ids[t.ModelVersion] = true
		}
		for id := range ids {
			v, err := tx.GetModelVersion(ctx, id)
			if apitypes.IsNotFound(err) {
				continue // only an old status can name a deleted version
			}
			if err != nil {
				return err
			}
			versions[id] = v
		}
		return nil
	})
	if apitypes.IsNotFound(err) {
		r.teardown(ctx, name)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("reading endpoint", "endpoint", name, "err", err)
		}
		return
	}

	st := r.state[name]
	if st == nil {
		st = &endpointState{serving: map[string]int{}, replicas: map[string]int{}, busyAt: map[string]time.Time{}}
		for _, t := range e.Status.Traffic {
			if t.Percent > 0 && versions[t.ModelVersion] != nil {
				st.serving[t.ModelVersion] = t.Percent
			}
		}
		r.state[name] = st
	}

	desired := desiredWeights(e)
	if st.failed != "" && st.failedRevision != e.Revision {
		st.failed = "" // the desired state changed: try again
	}

	// Every version that takes or is about to take traffic needs replicas.
	need := map[string]bool{}
	for v := range desired {
		need[v] = true
	}
	for v := range st.serving {
		need[v] = true
	}
	if st.failed != "" {
		delete(need, st.failed)
	}
	for v := range need {
		mv := versions[v]
		if mv == nil {
			continue
		}
		r.cfg.Supervisor.Ensure(supervisor.Spec{
			Endpoint:     name,
			Version:      *mv,
			ArtifactPath: r.artifactPath(mv),
			Replicas:     r.scale(st, e, v),
		})
	}

	ready := func(v string) []string { return r.cfg.Supervisor.Ready(name, v) }
	allReady := true
	for v := range desired {
		if len(ready(v)) == 0 {
			allReady = false
		}
	}

	status := apitypes.EndpointStatus{URL: e.Status.URL, Traffic: []apitypes.TrafficStatus{}}
	_, failedIsDesired := desired[st.failed]
	switch {
	case allReady && !failedIsDesired:
		// Also after a revert: the version that failed is no longer
		// desired, what is desired serves, and the message says why.
		if !maps.Equal(st.serving, desired) {
			r.log.Info("switching traffic", "endpoint", name, "from", weightsString(st.serving), "to", weightsString(desired))
		}
		retired := st.serving
		st.serving = desired
		// Publish the new route first: only then stop what it no longer
		// names, so no request is ever routed to a replica being drained.
		r.route(e, st, ready)
		for v := range retired {
			if _, keep := desired[v]; !keep {
				go r.cfg.Supervisor.Stop(context.WithoutCancel(ctx), name, v)
			}
		}
		status.Phase = apitypes.PhaseReady
		if st.failed != "" {
			// Keep saying why the last change did not take until the next one.
			status.Message = st.failedReason
		}
	case r.unservable(name, desired, st) != "":
		v := r.unservable(name, desired, st)
		set, _ := r.cfg.Supervisor.Status(name, v)
		reason := fmt.Sprintf("model version %s could not be served: %s", v, firstNonEmpty(set.LastError, "its replicas never became ready"))
		go r.cfg.Supervisor.Stop(context.WithoutCancel(ctx), name, v)
		st.failed, st.failedRevision, st.failedReason = v, e.Revision, reason
		if len(st.serving) == 0 {
			status.Phase, status.Message = apitypes.PhaseFailed, reason+"; nothing serves this endpoint"
			st.failedReason = reason
			r.route(e, st, ready)
			break
		}
		status.Phase = apitypes.PhaseReady
		status.Message = reason + "; traffic stays on " + weightsString(st.serving)
		st.failedReason = status.Message
		r.route(e, st, ready)
		r.revert(ctx, e, st.serving, status.Message)
	default:
		// New versions are starting; what served keeps serving meanwhile.
		r.route(e, st, ready)
		status.Phase = apitypes.PhaseDeploying
		if st.failed != "" {
			status.Phase = apitypes.PhaseFailed
			status.Message = st.failedReason + "; nothing serves this endpoint"
		}
	}
	for _, v := range slices.Sorted(maps.Keys(st.serving)) {
		status.Traffic = append(status.Traffic, apitypes.TrafficStatus{ModelVersion: v, Percent: st.serving[v], ReadyReplicas: len(ready(v))})
	}
	if status.Phase == apitypes.PhaseReady {
		for _, t := range status.Traffic {
			if t.ReadyReplicas < e.Replicas.Min {
				status.Phase = apitypes.PhaseDegraded
				status.Message = firstNonEmpty(status.Message, fmt.Sprintf("%s has %d of at least %d replicas ready", t.ModelVersion, t.ReadyReplicas, e.Replicas.Min))
			}
		}
	}
	if !statusEqual(status, e.Status) {
		if err := r.cfg.Store.Update(ctx, func(tx store.Tx) error { return tx.SetEndpointStatus(ctx, name, status) }); err != nil && ctx.Err() == nil && !apitypes.IsNotFound(err) {
			r.log.Error("writing endpoint status", "endpoint", name, "err", err)
		}
	}
}

// unservable names a desired version that failed to start too often.
func (r *Reconciler) unservable(name string, desired map[string]int, st *endpointState) string {
	if st.failed != "" {
		return ""
	}
	for _, v := range slices.Sorted(maps.Keys(desired)) {
		if _, serving := st.serving[v]; serving {
			continue
		}
		if set, ok := r.cfg.Supervisor.Status(name, v); ok && set.Ready == 0 && set.StartFailures >= r.cfg.MaxStartFailures {
			return v
		}
	}
	return ""
}

// revert puts the endpoint's desired state back to what serves.
func (r *Reconciler) revert(ctx context.Context, e *apitypes.Endpoint, serving map[string]int, reason string) {
	back := *e
	back.TrafficSplit = nil
	top, topW := "", -1
	for _, v := range slices.Sorted(maps.Keys(serving)) {
		if serving[v] > topW {
			top, topW = v, serving[v]
		}
	}
	back.ModelVersion = top
	if len(serving) > 1 {
		for _, v := range slices.Sorted(maps.Keys(serving)) {
			back.TrafficSplit = append(back.TrafficSplit, apitypes.TrafficWeight{ModelVersion: v, Percent: serving[v]})
		}
	}
	if err := r.cfg.Revert(ctx, &back, reason); err != nil {
		// A conflict means someone changed the endpoint meanwhile; the
		// next pass sees their change.
		r.log.Warn("reverting endpoint", "endpoint", e.Name, "err", err)
		return
	}
	r.log.Warn("deployment failed; desired state reverted", "endpoint", e.Name, "reason", reason)
	if st := r.state[e.Name]; st != nil {
		st.failedRevision = back.Revision
	}
}

// route publishes the serving weights with the ready replicas of each version.
func (r *Reconciler) route(e *apitypes.Endpoint, st *endpointState, ready func(string) []string) {
	timeout, _ := time.ParseDuration(e.RequestTimeout)
	rt := gateway.Route{Endpoint: e.Name, RequestTimeout: timeout}
	for _, v := range slices.Sorted(maps.Keys(st.serving)) {
		rt.Versions = append(rt.Versions, gateway.VersionRoute{Version: v, Weight: st.serving[v], Backends: ready(v)})
	}
	r.cfg.Router.SetRoute(rt)
	st.routed = true
}

// scale is the replica count for version v: enough that each replica sees
// about target_concurrency requests in flight, within the endpoint's bounds.
// It grows at once and shrinks only after load stayed low for a while.
func (r *Reconciler) scale(st *endpointState, e *apitypes.Endpoint, v string) int {
	cur := st.replicas[v]
	if cur == 0 {
		cur = e.Replicas.Min
	}
	tc := max(e.Replicas.TargetConcurrency, 1)
	want := (r.cfg.Router.InFlight(e.Name, v) + tc - 1) / tc
	want = min(max(want, e.Replicas.Min), e.Replicas.Max)
	now := time.Now()
	switch {
	case want >= cur:
		st.busyAt[v] = now
		cur = want
	case now.Sub(st.busyAt[v]) >= r.cfg.ScaleDownDelay:
		cur = want
	}
	cur = min(max(cur, e.Replicas.Min), e.Replicas.Max)
	st.replicas[v] = cur
	return cur
}

func (r *Reconciler) teardown(ctx context.Context, name string) {
	r.cfg.Router.DeleteRoute(name)
	for _, k := range r.cfg.Supervisor.Sets() {
		if k[0] == name {
			go r.cfg.Supervisor.Stop(context.WithoutCancel(ctx), name, k[1])
		}
	}
	delete(r.state, name)
}

func (r *Reconciler) artifactPath(v *apitypes.ModelVersion) string {
	if v.SHA256 == "" || r.cfg.ArtifactPath == nil {
		return ""
	}
	return r.cfg.ArtifactPath(v.SHA256)
}

// desiredWeights is the traffic split the endpoint asks for.
func desiredWeights(e *apitypes.Endpoint) map[string]int {
	if len(e.TrafficSplit) == 0 {
		return map[string]int{e.ModelVersion: 100}
	}
	w := map[string]int{}
	for _, t := range e.TrafficSplit {
		w[t.ModelVersion] = t.Percent
	}
	return w
}

func weightsString(w map[string]int) string {
	if len(w) == 0 {
		return "nothing"
	}
	if len(w) == 1 {
		for v := range w {
			return v
		}
	}
	parts := make([]string, 0, len(w))
	for _, v := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s %d%%", v, w[v]))
	}
	return strings.Join(parts, ", ")
}

func statusEqual(a, b apitypes.EndpointStatus) bool {
	if a.Phase != b.Phase || a.URL != b.URL || a.Message != b.Message || a.CurrentDeployment != b.CurrentDeployment || len(a.Traffic) != len(b.Traffic) {
		return false
	}
	sort.Slice(b.Traffic, func(i, j int) bool { return b.Traffic[i].ModelVersion < b.Traffic[j].ModelVersion })
	return slices.Equal(a.Traffic, b.Traffic)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
