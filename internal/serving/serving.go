// Package serving makes what endpoints serve match what the store says they
// should serve. For every endpoint it starts the replicas of each version
// that must take traffic, switches the gateway's route only once those
// replicas are ready (so a switch never sends a request to a replica that
// cannot answer), drains and stops versions that no longer take traffic,
// scales replicas between the endpoint's bounds, and writes the endpoint's
// status. When a new version cannot be served, the desired state is put back
// to what still serves, and the status says why.
//
// The reconciler is also the rollout engine's Traffic: while a deployment
// runs, the engine's split (Route) overrides the endpoint's desired split,
// replicas are kept for every version it names, and the status names the
// deployment. While an endpoint has a deployment that the engine has not
// taken up yet, the reconciler holds what serves rather than switching on
// its own. Without any deployment (or once it is over, Release) every
// change takes effect as soon as the new versions are ready (all at once),
// a fixed traffic_split is honoured as given, and a version that cannot
// start is reverted.
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
	// DeploymentWaiting, when set, is told (on every pass) of a deployment
	// that is active while the rollout engine routes nothing for its
	// endpoint: the engine's cue to take it up.
	DeploymentWaiting func(id string)
}

// Reconciler drives endpoints toward their desired state. Start it with Run.
type Reconciler struct {
	cfg Config
	log *slog.Logger

	kick  chan struct{}
	mu    sync.Mutex
	dirty map[string]bool
	// changed holds, per endpoint, a channel closed at its next Trigger
	// (Changed); mu guards it.
	changed map[string]chan struct{}
	state   map[string]*endpointState // owned by the Run goroutine

	// routeMu guards the rollout engine's overrides and serialises every
	// SetRoute of an overridden endpoint, so the last route published is
	// always the last override's.
	routeMu   sync.Mutex
	overrides map[string]*override
	released  map[string]map[string]int // an override's last split, until the next pass takes it as what serves
	timeouts  map[string]time.Duration  // request timeout per endpoint, as last read
}

// override is the rollout engine's split of one endpoint.
type override struct {
	weights map[string]int
	shadow  *gateway.ShadowRoute
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
	failedSaid     bool // failedReason already says what serves instead
	// ensured are the versions replicas were asked for and not yet stopped.
	ensured map[string]bool
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
		cfg:       cfg,
		log:       cfg.Logger,
		kick:      make(chan struct{}, 1),
		dirty:     map[string]bool{},
		changed:   map[string]chan struct{}{},
		state:     map[string]*endpointState{},
		overrides: map[string]*override{},
		released:  map[string]map[string]int{},
		timeouts:  map[string]time.Duration{},
	}
}

// Trigger asks for the endpoint to be reconciled soon. Triggers coalesce:
// many calls before the loop wakes cost one reconciliation.
func (r *Reconciler) Trigger(endpoint string) {
	r.mu.Lock()
	r.dirty[endpoint] = true
	if ch := r.changed[endpoint]; ch != nil {
		close(ch)
		delete(r.changed, endpoint)
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Changed returns a channel closed at the endpoint's next Trigger, which
// the supervisor fires whenever a replica of the endpoint becomes ready or
// fails to start: the rollout engine waits on it for a candidate's
// replicas instead of polling, so a deployment goes on the moment its
// candidate is ready.
func (r *Reconciler) Changed(endpoint string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.changed[endpoint]
	if ch == nil {
		ch = make(chan struct{})
		r.changed[endpoint] = ch
	}
	return ch
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
	ov := r.override(name) // to read the versions it names
	var (
		e        *apitypes.Endpoint
		dep      *apitypes.Deployment // the endpoint's latest deployment, if any
		versions = map[string]*apitypes.ModelVersion{}
	)
	err := r.cfg.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if e, err = tx.GetEndpoint(ctx, name); err != nil {
			return err
		}
		// Every endpoint, about once a second: without the events, which
		// grow with every analysis of a long rollout.
		deps, err := tx.ListDeployments(ctx, store.DeploymentFilter{Endpoint: name, Limit: 1, WithoutEvents: true})
		if err != nil {
			return err
		}
		if len(deps) > 0 {
			dep = &deps[0]
		}
		ids := map[string]bool{e.ModelVersion: true}
		for _, w := range e.TrafficSplit {
			ids[w.ModelVersion] = true
		}
		for _, t := range e.Status.Traffic {
			ids[t.ModelVersion] = true
		}
		if ov != nil {
			for v := range ov.weights {
				ids[v] = true
			}
			if ov.shadow != nil {
				ids[ov.shadow.Version] = true
			}
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
	timeout, _ := time.ParseDuration(e.RequestTimeout)
	// The override and its release are read together: a Release between
	// two separate reads would be lost.
	r.routeMu.Lock()
	r.timeouts[name] = timeout
	ov = r.overrides[name]
	released, wasReleased := r.released[name]
	delete(r.released, name)
	r.routeMu.Unlock()

	st := r.state[name]
	if st == nil {
		st = &endpointState{serving: map[string]int{}, replicas: map[string]int{}, busyAt: map[string]time.Time{}, ensured: map[string]bool{}}
		for _, t := range e.Status.Traffic {
			if t.Percent > 0 && versions[t.ModelVersion] != nil {
				st.serving[t.ModelVersion] = t.Percent
			}
		}
		r.state[name] = st
	}
	if wasReleased {
		// What the engine routed last is what serves now, whatever this
		// pass's predecessors saw: never fall back to an older split.
		st.serving = map[string]int{}
		for v, w := range released {
			if w > 0 {
				st.serving[v] = w
			}
		}
	}
	if ov != nil {
		r.reconcileOverride(ctx, e, dep, ov, st, versions)
		return
	}
	if rejected(e, dep) && (st.failed != e.ModelVersion || st.failedRevision != e.Revision) {
		// The rollout engine gave up on this target and could not put the
		// endpoint back (it had nothing to go back to): never serve it.
		st.failed, st.failedRevision, st.failedReason, st.failedSaid = e.ModelVersion, e.Revision, dep.Reason, true
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
	r.ensure(e, st, need, versions)

	ready := func(v string) []string { return r.cfg.Supervisor.Ready(name, v) }
	if dep != nil && !apitypes.DeploymentTerminal(dep.Phase) {
		// A deployment the rollout engine has not taken up yet: hold what
		// serves (the new target's replicas start meanwhile) rather than
		// switch on our own.
		if r.cfg.DeploymentWaiting != nil {
			r.cfg.DeploymentWaiting(dep.ID)
		}
		r.route(e, st, ready)
		r.sweep(ctx, st, name, need)
		r.writeStatus(ctx, e, st, dep, apitypes.EndpointStatus{
			URL: e.Status.URL, Phase: apitypes.PhaseDeploying,
			Message: fmt.Sprintf("deployment %s is %s", dep.ID, dep.Phase),
		}, ready)
		return
	}
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
				r.stop(ctx, st, name, v)
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
		r.stop(ctx, st, name, v)
		st.failed, st.failedRevision, st.failedReason, st.failedSaid = v, e.Revision, reason, false
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
			status.Message = st.failedReason
			if !st.failedSaid {
				status.Message += "; nothing serves this endpoint"
			}
			if len(st.serving) > 0 {
				status.Phase, status.Message = apitypes.PhaseReady, st.failedReason
			}
		}
	}
	if dep != nil && dep.Phase != apitypes.DeploySucceeded {
		// Say why the last deployment did not take, until the next one.
		status.Message = firstNonEmpty(status.Message, dep.Reason)
	}
	// Replicas of versions neither routed nor wanted any more (a candidate
	// the rollout engine rolled back, blue/green's old version) go.
	keep := map[string]bool{}
	for v := range desired {
		keep[v] = true
	}
	for v := range st.serving {
		keep[v] = true
	}
	delete(keep, st.failed)
	r.sweep(ctx, st, name, keep)
	r.writeStatus(ctx, e, st, dep, status, ready)
}

// sweep stops the replicas of every version started for the endpoint that
// is not in keep.
func (r *Reconciler) sweep(ctx context.Context, st *endpointState, endpoint string, keep map[string]bool) {
	for v := range st.ensured {
		if !keep[v] {
			r.stop(ctx, st, endpoint, v)
		}
	}
}

// writeStatus completes status with the traffic that serves and the
// deployment, and stores it when it changed.
func (r *Reconciler) writeStatus(ctx context.Context, e *apitypes.Endpoint, st *endpointState, dep *apitypes.Deployment, status apitypes.EndpointStatus, ready func(string) []string) {
	status.Traffic = []apitypes.TrafficStatus{}
	if dep != nil {
		status.CurrentDeployment = dep.ID
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
		if err := r.cfg.Store.Update(ctx, func(tx store.Tx) error { return tx.SetEndpointStatus(ctx, e.Name, status) }); err != nil && ctx.Err() == nil && !apitypes.IsNotFound(err) {
			r.log.Error("writing endpoint status", "endpoint", e.Name, "err", err)
		}
	}
}

// rejected reports whether the endpoint's latest deployment ended without
// success while the endpoint still asks for that deployment's target.
func rejected(e *apitypes.Endpoint, dep *apitypes.Deployment) bool {
	return dep != nil && apitypes.DeploymentTerminal(dep.Phase) && dep.Phase != apitypes.DeploySucceeded &&
		dep.ToVersion == e.ModelVersion && dep.ToVersion != dep.FromVersion && dep.EndpointRevision == e.Revision
}

// ensure asks the supervisor for the replicas of every version in need.
func (r *Reconciler) ensure(e *apitypes.Endpoint, st *endpointState, need map[string]bool, versions map[string]*apitypes.ModelVersion) {
	for v := range need {
		mv := versions[v]
		if mv == nil {
			continue
		}
		r.cfg.Supervisor.Ensure(supervisor.Spec{
			Endpoint:     e.Name,
			Version:      *mv,
			ArtifactPath: r.artifactPath(mv),
			Replicas:     r.scale(st, e, v),
		})
		st.ensured[v] = true
	}
}

// stop drains and stops the replicas of version v in the background.
func (r *Reconciler) stop(ctx context.Context, st *endpointState, endpoint, v string) {
	delete(st.ensured, v)
	delete(st.replicas, v)
	go r.cfg.Supervisor.Stop(context.WithoutCancel(ctx), endpoint, v)
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

// route publishes the serving weights with the ready replicas of each
// version, unless the rollout engine's split overrides them.
func (r *Reconciler) route(e *apitypes.Endpoint, st *endpointState, ready func(string) []string) {
	r.routeMu.Lock()
	defer r.routeMu.Unlock()
	if r.overrides[e.Name] != nil {
		return // the engine's split wins; the pass its Route triggered follows
	}
	timeout, _ := time.ParseDuration(e.RequestTimeout)
	rt := gateway.Route{Endpoint: e.Name, RequestTimeout: timeout}
	for _, v := range slices.Sorted(maps.Keys(st.serving)) {
		rt.Versions = append(rt.Versions, gateway.VersionRoute{Version: v, Weight: st.serving[v], Backends: ready(v)})
	}
	r.cfg.Router.SetRoute(rt)
	st.routed = true
}

// reconcileOverride serves the rollout engine's split: replicas for every
// version it names (and for the desired ones, so they are ready when the
// deployment ends), its route with the ready replicas of now, and a status
// naming the deployment.
func (r *Reconciler) reconcileOverride(ctx context.Context, e *apitypes.Endpoint, dep *apitypes.Deployment, ov *override, st *endpointState, versions map[string]*apitypes.ModelVersion) {
	need := map[string]bool{}
	for v := range ov.weights {
		need[v] = true
	}
	if ov.shadow != nil {
		need[ov.shadow.Version] = true
	}
	for v := range desiredWeights(e) {
		need[v] = true
	}
	r.ensure(e, st, need, versions)
	r.routeMu.Lock()
	if cur := r.overrides[e.Name]; cur != nil {
		r.publishLocked(e.Name, cur)
	}
	r.routeMu.Unlock()
	// What the engine routes is what serves: after Release the ordinary
	// path starts from it.
	st.serving, st.routed = maps.Clone(ov.weights), true
	r.sweep(ctx, st, e.Name, need)
	status := apitypes.EndpointStatus{URL: e.Status.URL, Phase: apitypes.PhaseDeploying}
	if dep != nil {
		status.Message = fmt.Sprintf("deployment %s is %s", dep.ID, dep.Phase)
		if dep.Phase == apitypes.DeployProgressing {
			status.Message += fmt.Sprintf(" (step %d)", dep.Step)
		}
	}
	ready := func(v string) []string { return r.cfg.Supervisor.Ready(e.Name, v) }
	r.writeStatus(ctx, e, st, dep, status, ready)
}

// override is the engine's split of the endpoint, or nil.
func (r *Reconciler) override(endpoint string) *override {
	r.routeMu.Lock()
	defer r.routeMu.Unlock()
	return r.overrides[endpoint]
}

// publishLocked sets the gateway route of an overridden endpoint; routeMu held.
func (r *Reconciler) publishLocked(endpoint string, ov *override) {
	rt := gateway.Route{Endpoint: endpoint, RequestTimeout: r.timeouts[endpoint]}
	for _, v := range slices.Sorted(maps.Keys(ov.weights)) {
		rt.Versions = append(rt.Versions, gateway.VersionRoute{Version: v, Weight: ov.weights[v], Backends: r.cfg.Supervisor.Ready(endpoint, v)})
	}
	if ov.shadow != nil {
		sh := *ov.shadow
		sh.Backends = r.cfg.Supervisor.Ready(endpoint, sh.Version)
		rt.Shadow = &sh
	}
	r.cfg.Router.SetRoute(rt)
}

// Route makes weights (and shadow) the endpoint's split until Release, in
// place of its desired one: the rollout engine's hand on the traffic. The
// gateway routes it before Route returns, with the replicas ready now; the
// reconciliation it triggers starts replicas for every version named.
func (r *Reconciler) Route(endpoint string, weights map[string]int, shadow *gateway.ShadowRoute) {
	ov := &override{weights: maps.Clone(weights)}
	if ov.weights == nil {
		ov.weights = map[string]int{}
	}
	if shadow != nil {
		sh := *shadow
		ov.shadow = &sh
	}
	r.routeMu.Lock()
	r.overrides[endpoint] = ov
	r.publishLocked(endpoint, ov)
	r.routeMu.Unlock()
	r.Trigger(endpoint)
}

// Release ends the engine's override: the endpoint goes back to its
// desired state.
func (r *Reconciler) Release(endpoint string) {
	r.routeMu.Lock()
	if ov := r.overrides[endpoint]; ov != nil {
		r.released[endpoint] = ov.weights
		delete(r.overrides, endpoint)
	}
	r.routeMu.Unlock()
	r.Trigger(endpoint)
}

// Ready is the number of ready replicas of version.
func (r *Reconciler) Ready(endpoint, version string) int {
	return len(r.cfg.Supervisor.Ready(endpoint, version))
}

// StartFailures is how many starts in a row of version failed, and why
// the last one did.
func (r *Reconciler) StartFailures(endpoint, version string) (int, string) {
	set, ok := r.cfg.Supervisor.Status(endpoint, version)
	if !ok {
		return 0, ""
	}
	return set.StartFailures, set.LastError
}

// MinReplicas is the endpoint's replicas.min (1 when it cannot be read).
func (r *Reconciler) MinReplicas(endpoint string) int {
	var e *apitypes.Endpoint
	err := r.cfg.Store.View(context.Background(), func(tx store.Tx) (err error) {
		e, err = tx.GetEndpoint(context.Background(), endpoint)
		return err
	})
	if err != nil {
		return 1
	}
	return max(e.Replicas.Min, 1)
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
	r.routeMu.Lock()
	delete(r.overrides, name)
	delete(r.released, name)
	delete(r.timeouts, name)
	r.cfg.Router.DeleteRoute(name)
	r.routeMu.Unlock()
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
