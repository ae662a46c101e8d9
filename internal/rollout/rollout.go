// Package rollout is the deployment engine: it moves an endpoint from one
// model version to the next as its deployment policy says, gating every
// step on the candidate's live metrics and rolling back on its own when a
// gate fails.
//
// The shape follows nomad's deploymentwatcher. Run loads the active
// deployments and starts one goroutine (a watcher) per deployment; Notify
// and a periodic poll of the store start watchers for new deployments and
// stop those whose record someone else ended. A watcher owns its
// deployment record: it persists every transition (phase, step, traffic,
// and an event carrying the numbers behind the decision), so after a
// restart Run resumes each deployment from a defined point — the split it
// last routed — and never leaves a mix nobody decided.
//
// The engine talks to the rest of the server through narrow interfaces
// (Store, Traffic, Metrics, Prober, Clock), so tests drive it with fakes
// and a fake clock.
package rollout

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// Store is what the engine needs of the control plane's store.
type Store interface {
	// ActiveDeployments lists the deployments not in a terminal phase.
	ActiveDeployments(ctx context.Context) ([]apitypes.Deployment, error)
	GetDeployment(ctx context.Context, id string) (*apitypes.Deployment, error)
	// SaveDeployment persists d as a whole. It must fail with a conflict
	// (apitypes.IsConflict) when the stored record has meanwhile become
	// terminal by someone else's hand (superseded by a newer change, or
	// ended by an operator): the engine then stops driving it.
	SaveDeployment(ctx context.Context, d *apitypes.Deployment) error
	// Revert saves d, which has ended without success, as SaveDeployment
	// does (conflict included), and in the same transaction puts the
	// endpoint's desired state back to d.FromVersion with a ledger event,
	// unless the endpoint changed since d began.
	Revert(ctx context.Context, d *apitypes.Deployment, reason string) error
	// VersionCreated is when a model version was registered.
	VersionCreated(ctx context.Context, id string) (time.Time, error)
}

// Traffic is what the engine needs of the serving plane.
type Traffic interface {
	// Ready is the number of ready replicas of version.
	Ready(endpoint, version string) int
	// StartFailures is how many starts in a row of version failed, and the
	// last error.
	StartFailures(endpoint, version string) (int, string)
	// Route makes weights (and shadow, nil for none) the endpoint's split
	// until Release, overriding its desired state. Every version named
	// (weight 0 included) keeps replicas; a weight-0 version is reachable
	// only by requests pinned to it.
	Route(endpoint string, weights map[string]int, shadow *gateway.ShadowRoute)
	// Release ends the override: the endpoint goes back to its desired state.
	Release(endpoint string)
}

// MinReplicas is implemented by a Traffic that knows an endpoint's
// replicas.min; blue/green waits for that many ready candidate replicas
// before it switches (else for one).
type MinReplicas interface {
	MinReplicas(endpoint string) int
}

// ReadyNotifier is implemented by a Traffic that can say when an
// endpoint's replicas may have changed: Changed returns a channel closed at
// the next such change. Provisioning then waits on it rather than for the
// next CheckInterval, so a deployment goes on as soon as its candidate is
// ready.
type ReadyNotifier interface {
	Changed(endpoint string) <-chan struct{}
}

// Metrics gives the gateway's cumulative counters of one version.
type Metrics interface {
	Stats(endpoint, version string) gateway.Stats
}

// Prober sends one inference request pinned to a version, through the
// gateway, so its answer counts in that version's Stats.
type Prober interface {
	Infer(ctx context.Context, endpoint, version string, body []byte) (status int, resp []byte, err error)
}

// Config configures an Engine.
type Config struct {
	Store   Store
	Traffic Traffic
	Metrics Metrics
	Prober  Prober
	Clock   Clock        // nil = RealClock
	Logger  *slog.Logger // nil = discard
	// ProvisionTimeout bounds the wait for the candidate's replicas
	// (default 5m).
	ProvisionTimeout time.Duration
	// MaxStartFailures is how many failed starts in a row make the
	// candidate unservable (default 3).
	MaxStartFailures int
	// PollInterval is how often Run re-reads the active deployments, a
	// safety net behind Notify (default 1s).
	PollInterval time.Duration
	// CheckInterval is how often provisioning looks at the candidate's
	// replicas (default 200ms); with a Traffic that is a ReadyNotifier,
	// also whenever they change.
	CheckInterval time.Duration
	// SyntheticConcurrency bounds the synthetic requests in flight when
	// live traffic is too thin to judge (default 4).
	SyntheticConcurrency int
}

// Engine drives deployments. Start it with Run; Promote and Abort serve the
// API's operator actions.
type Engine struct {
	cfg Config
	log *slog.Logger

	kick chan struct{}

	// startMu serialises starting and stopping watchers, which may wait
	// for an old watcher to exit; mu guards the fields below and is never
	// held while waiting.
	startMu    sync.Mutex
	mu         sync.Mutex
	ctx        context.Context // Run's; nil before Run and after it returns
	queued     map[string]bool
	byID       map[string]*watcher
	byEndpoint map[string]*watcher
	wg         sync.WaitGroup
}

// New returns an Engine; nothing happens until Run.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProvisionTimeout <= 0 {
		cfg.ProvisionTimeout = 5 * time.Minute
	}
	if cfg.MaxStartFailures <= 0 {
		cfg.MaxStartFailures = 3
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 200 * time.Millisecond
	}
	if cfg.SyntheticConcurrency <= 0 {
		cfg.SyntheticConcurrency = 4
	}
	return &Engine{
		cfg:        cfg,
		log:        cfg.Logger,
		kick:       make(chan struct{}, 1),
		queued:     map[string]bool{},
		byID:       map[string]*watcher{},
		byEndpoint: map[string]*watcher{},
	}
}

// Run drives deployments until ctx is done: it resumes every active
// deployment, then starts watchers for new ones as Notify or the periodic
// poll finds them. When ctx ends, watchers stop where they are, leaving
// traffic and records as last persisted, for the next Run to resume.
func (e *Engine) Run(ctx context.Context) {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.ctx = nil
		e.mu.Unlock()
		e.wg.Wait()
	}()
	e.sync(ctx)
	for {
		t := e.cfg.Clock.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.kick:
			t.Stop()
			e.mu.Lock()
			ids := slices.Sorted(maps.Keys(e.queued))
			clear(e.queued)
			e.mu.Unlock()
			for _, id := range ids {
				e.check(ctx, id)
			}
		case <-t.C():
			e.sync(ctx)
		}
	}
}

// Notify says deployment id was created or changed. Notifications
// coalesce; Run looks at the record soon.
func (e *Engine) Notify(id string) {
	e.mu.Lock()
	e.queued[id] = true
	e.mu.Unlock()
	e.wake()
}

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Promote lets a deployment awaiting approval continue; actor is recorded.
// It returns once the decision is persisted.
func (e *Engine) Promote(ctx context.Context, id, actor string) error {
	return e.control(ctx, id, opPromote, actor)
}

// Abort stops a deployment and puts traffic back on the previous version;
// actor is recorded. It returns once traffic is restored and persisted.
func (e *Engine) Abort(ctx context.Context, id, actor string) error {
	return e.control(ctx, id, opAbort, actor)
}

func (e *Engine) control(ctx context.Context, id, op, actor string) error {
	w, err := e.ensure(id)
	if err != nil {
		return err
	}
	req := request{op: op, actor: actor, reply: make(chan error, 1)}
	select {
	case w.ctl <- req:
	case <-w.done:
		return e.endedMeanwhile(ctx, id)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) endedMeanwhile(ctx context.Context, id string) error {
	if d, err := e.cfg.Store.GetDeployment(ctx, id); err == nil {
		return apitypes.Errorf(apitypes.CodeConflict, "deployment %s has already ended (%s)", id, d.Phase)
	}
	return apitypes.Errorf(apitypes.CodeConflict, "deployment %s has already ended", id)
}

// ensure returns the watcher of deployment id, starting one when the record
// is active and nobody drives it yet.
func (e *Engine) ensure(id string) (*watcher, error) {
	e.mu.Lock()
	ctx := e.ctx
	w := e.byID[id]
	e.mu.Unlock()
	if w != nil {
		return w, nil
	}
	if ctx == nil {
		return nil, apitypes.Errorf(apitypes.CodeUnavailable, "the rollout engine is not running; try again shortly")
	}
	return e.start(ctx, &apitypes.Deployment{ID: id})
}

// sync starts watchers for active deployments nobody drives and stops those
// whose record was ended elsewhere.
func (e *Engine) sync(ctx context.Context) {
	ds, err := e.cfg.Store.ActiveDeployments(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("rollout: listing active deployments", "err", err)
		}
		return
	}
	// Oldest first, so that a newer deployment of an endpoint supersedes
	// an older one still listed.
	slices.SortStableFunc(ds, func(a, b apitypes.Deployment) int { return a.CreatedAt.Compare(b.CreatedAt) })
	active := map[string]bool{}
	for i := range ds {
		active[ds[i].ID] = true
		if _, err := e.start(ctx, &ds[i]); err != nil && !apitypes.IsConflict(err) && ctx.Err() == nil {
			e.log.Error("rollout: starting deployment", "deployment", ds[i].ID, "err", err)
		}
	}
	e.mu.Lock()
	var gone []string
	for id := range e.byID {
		if !active[id] {
			gone = append(gone, id)
		}
	}
	e.mu.Unlock()
	for _, id := range gone {
		e.check(ctx, id)
	}
}

// check looks at one record: a new active deployment gets a watcher; a
// watched one that ended elsewhere loses it.
func (e *Engine) check(ctx context.Context, id string) {
	d, err := e.cfg.Store.GetDeployment(ctx, id)
	switch {
	case apitypes.IsNotFound(err):
		e.stopExternal(id, "its record is gone")
	case err != nil:
		if ctx.Err() == nil {
			e.log.Error("rollout: reading deployment", "deployment", id, "err", err)
		}
	case apitypes.DeploymentTerminal(d.Phase):
		e.stopExternal(id, "it was ended elsewhere ("+d.Phase+")")
	default:
		if _, err := e.start(ctx, d); err != nil && !apitypes.IsConflict(err) && ctx.Err() == nil {
			e.log.Error("rollout: starting deployment", "deployment", id, "err", err)
		}
	}
}

// start starts a watcher for deployment d unless one runs. An older
// deployment of the same endpoint still being driven is stopped first (it
// was superseded). The record is read again here: d may predate a watcher
// that has just ended it.
func (e *Engine) start(ctx context.Context, d *apitypes.Deployment) (*watcher, error) {
	e.startMu.Lock()
	defer e.startMu.Unlock()
	e.mu.Lock()
	w := e.byID[d.ID]
	e.mu.Unlock()
	if w != nil {
		return w, nil
	}
	d, err := e.cfg.Store.GetDeployment(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if apitypes.DeploymentTerminal(d.Phase) {
		return nil, apitypes.Errorf(apitypes.CodeConflict, "deployment %s has already ended (%s)", d.ID, d.Phase)
	}
	e.mu.Lock()
	old := e.byEndpoint[d.Endpoint]
	if old != nil && old.created.After(d.CreatedAt) {
		e.mu.Unlock()
		return nil, apitypes.Errorf(apitypes.CodeConflict, "deployment %s was superseded by deployment %s of endpoint %q", d.ID, old.id, d.Endpoint)
	}
	if old != nil {
		e.detach(old)
	}
	e.mu.Unlock()
	if old != nil {
		e.log.Info("rollout: deployment superseded", "deployment", old.id, "by", d.ID, "endpoint", d.Endpoint)
		old.cancel()
		<-old.done
	}
	if ctx.Err() != nil {
		return nil, apitypes.Errorf(apitypes.CodeUnavailable, "the rollout engine is stopping")
	}
	w = newWatcher(ctx, e, d)
	e.mu.Lock()
	e.byID[d.ID], e.byEndpoint[d.Endpoint] = w, w
	e.wg.Add(1)
	e.mu.Unlock()
	go w.run()
	return w, nil
}

// stopExternal stops the watcher of a deployment someone else ended. Once
// it has stopped, and unless a newer deployment drives the endpoint, the
// endpoint goes back to its desired state.
func (e *Engine) stopExternal(id, why string) {
	e.startMu.Lock()
	defer e.startMu.Unlock()
	e.mu.Lock()
	w := e.byID[id]
	if w != nil {
		e.detach(w)
	}
	e.mu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
	if w.finished.Load() {
		return // it ended the deployment itself and released the endpoint
	}
	e.log.Info("rollout: no longer driving deployment: "+why, "deployment", id, "endpoint", w.endpoint)
	e.releaseIfIdle(w.endpoint)
}

// releaseIfIdle gives the endpoint back to its desired state unless a
// watcher drives it.
func (e *Engine) releaseIfIdle(endpoint string) {
	e.mu.Lock()
	busy := e.byEndpoint[endpoint] != nil
	e.mu.Unlock()
	if !busy {
		e.cfg.Traffic.Release(endpoint)
	}
}

// detach forgets w; e.mu held.
func (e *Engine) detach(w *watcher) {
	if e.byID[w.id] == w {
		delete(e.byID, w.id)
	}
	if e.byEndpoint[w.endpoint] == w {
		delete(e.byEndpoint, w.endpoint)
	}
}

// exited is called by a watcher's goroutine as it ends.
func (e *Engine) exited(w *watcher, superseded bool) {
	e.mu.Lock()
	// Detached already means whoever detached it (stopExternal, or start
	// for a newer deployment) looks after the endpoint.
	attached := e.byID[w.id] == w
	e.detach(w)
	e.mu.Unlock()
	if superseded && attached {
		// It found its record ended elsewhere: unless a newer deployment
		// drives the endpoint, it goes back to its desired state.
		e.releaseIfIdle(w.endpoint)
	}
	e.wg.Done()
}

// Operator requests to a watcher.
const (
	opPromote = "promote"
	opAbort   = "abort"
)

type request struct {
	op, actor string
	reply     chan error
}

var (
	// errStopped ends a watcher without touching traffic: the engine is
	// shutting down or the deployment was superseded.
	errStopped = errors.New("watcher stopped")
	// errSuperseded ends a watcher whose record someone else ended.
	errSuperseded = errors.New("deployment record ended elsewhere")
)

// RollbackLatency is, for a deployment rolled back by a failed analysis,
// the time from that analysis to traffic being back on the previous
// version, read from its events (the engine stamps the failing analysis
// before it reroutes and the rollback event right after). ok is false for
// any other deployment.
func RollbackLatency(d *apitypes.Deployment) (latency time.Duration, ok bool) {
	if d.Phase != apitypes.DeployRolledBack || len(d.Events) < 2 {
		return 0, false
	}
	last := d.Events[len(d.Events)-1]
	for i := len(d.Events) - 2; i >= 0; i-- {
		if m := d.Events[i].Metrics; m != nil && m.Verdict == VerdictFail {
			return max(last.Time.Sub(d.Events[i].Time), 0), true
		}
	}
	return 0, false
}
