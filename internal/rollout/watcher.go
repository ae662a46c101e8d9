package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// watcher drives one deployment in its own goroutine. Only that goroutine
// touches d; the engine talks to it through ctl and cancel.
type watcher struct {
	e        *Engine
	id       string
	endpoint string
	created  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	ctl    chan request
	done   chan struct{}
	// finished is set once the watcher itself ended the deployment and
	// gave the endpoint back (Release).
	finished atomic.Bool

	d       *apitypes.Deployment
	p       apitypes.DeploymentPolicy
	plan    []stage
	resumed bool
	routed  string // the last Route made, to skip repeating it
}

// stage is one traffic level of the rollout.
type stage = apitypes.RolloutStage

func newWatcher(parent context.Context, e *Engine, d *apitypes.Deployment) *watcher {
	ctx, cancel := context.WithCancel(parent)
	w := &watcher{
		e: e, id: d.ID, endpoint: d.Endpoint, created: d.CreatedAt,
		ctx: ctx, cancel: cancel,
		ctl:  make(chan request),
		done: make(chan struct{}),
		d:    cloneDeployment(d),
	}
	w.p = policyOf(d)
	w.plan = w.p.Stages(!w.hasBaseline())
	w.resumed = d.Phase != apitypes.DeployPending
	return w
}

// policyOf is the deployment's policy snapshot with server defaults; no
// policy means all at once with automatic rollback.
func policyOf(d *apitypes.Deployment) apitypes.DeploymentPolicy {
	var p apitypes.DeploymentPolicy
	if d.Policy != nil {
		p = *d.Policy
	}
	p.Strategy = cmp.Or(p.Strategy, d.Strategy, "all_at_once")
	p.Normalize()
	return p
}

func (w *watcher) run() {
	defer close(w.done)
	err := w.drive()
	superseded := errors.Is(err, errSuperseded)
	switch {
	case err == nil, errors.Is(err, errStopped):
	case superseded:
		w.e.log.Info("rollout: deployment ended elsewhere; no longer driving it", "deployment", w.id, "endpoint", w.endpoint)
	default:
		w.e.log.Error("rollout: deployment watcher failed", "deployment", w.id, "endpoint", w.endpoint, "err", err)
	}
	w.e.exited(w, superseded)
}

// drive runs the deployment through its phases until it ends or the
// watcher is stopped.
func (w *watcher) drive() error {
	if w.resumed {
		if err := w.handleAbort(w.resume()); err != nil {
			return err
		}
	}
	for !apitypes.DeploymentTerminal(w.d.Phase) {
		var err error
		switch w.d.Phase {
		case apitypes.DeployPending, apitypes.DeployProvisioning:
			err = w.provision()
		case apitypes.DeploySmokeTesting:
			err = w.smoke()
		case apitypes.DeployShadowing:
			err = w.shadow()
		case apitypes.DeployProgressing:
			err = w.progress()
		case apitypes.DeployAwaitingApproval:
			err = w.await()
		default:
			err = w.finish(apitypes.DeployFailed, fmt.Sprintf("unknown deployment phase %q; %s", w.d.Phase, w.restoredWords()), "")
		}
		if err = w.handleAbort(err); err != nil {
			return err
		}
	}
	return nil
}

// abortRequest is returned by waits when an operator aborts.
type abortRequest struct{ req request }

func (a *abortRequest) Error() string { return "aborted by " + a.req.actor }

// handleAbort carries out an operator's abort that interrupted a phase.
func (w *watcher) handleAbort(err error) error {
	var ab *abortRequest
	if !errors.As(err, &ab) {
		return err
	}
	actor := cmp.Or(ab.req.actor, "an operator")
	ferr := w.finish(apitypes.DeployAborted, fmt.Sprintf("aborted by %s; %s", actor, w.restoredWords()), ab.req.actor)
	ab.req.reply <- w.replyError(ferr)
	return ferr
}

// resume re-establishes a defined state for a deployment found in progress
// after a restart: the split it last routed, and — before the candidate is
// judged again — its replicas back up.
func (w *watcher) resume() error {
	d := w.d
	switch d.Phase {
	case apitypes.DeployPending, apitypes.DeployProvisioning:
		return nil // provisioning starts its wait again
	case apitypes.DeployAwaitingApproval:
		weights := w.persistedWeights()
		if err := w.save(w.event("resumed after a restart; still awaiting approval with " + weightsString(weights))); err != nil {
			return err
		}
		w.route(weights, nil)
		return nil
	case apitypes.DeploySmokeTesting, apitypes.DeployShadowing, apitypes.DeployProgressing:
		weights := w.persistedWeights()
		msg := fmt.Sprintf("resumed after a restart with %s; waiting for a ready replica of %s before going on", weightsString(weights), d.ToVersion)
		if d.Phase == apitypes.DeployProgressing {
			msg += fmt.Sprintf("; step %d starts its bake again", d.Step)
		}
		if err := w.save(w.event(msg)); err != nil {
			return err
		}
		w.route(weights, nil)
		_, err := w.waitReady(1)
		return err
	}
	return nil
}

// persistedWeights is the split the record says is routed, or the baseline
// when it names none.
func (w *watcher) persistedWeights() map[string]int {
	if len(w.d.Traffic) == 0 {
		return w.baseline()
	}
	m := map[string]int{}
	for _, t := range w.d.Traffic {
		m[t.ModelVersion] = t.Percent
	}
	return m
}

// provision keeps traffic on the previous version until the candidate has
// ready replicas.
func (w *watcher) provision() error {
	d := w.d
	want := 1
	if w.p.Strategy == "blue_green" && w.hasBaseline() {
		if mr, ok := w.e.cfg.Traffic.(MinReplicas); ok {
			want = max(mr.MinReplicas(d.Endpoint), 1)
		}
	}
	d.Phase, d.Step = apitypes.DeployProvisioning, 0
	msg := fmt.Sprintf("provisioning %s: waiting for %d ready replica(s); traffic stays on %s", d.ToVersion, want, weightsString(w.baseline()))
	if err := w.transition(w.baseline(), nil, w.event(msg)); err != nil {
		return err
	}
	ok, err := w.waitReady(want)
	if err != nil || !ok {
		return err
	}
	return w.next(apitypes.DeployProvisioning)
}

// waitReady waits for want ready replicas of the candidate. ok is false
// when it could not be served, and the deployment then failed.
func (w *watcher) waitReady(want int) (ok bool, err error) {
	d, cfg := w.d, &w.e.cfg
	deadline := cfg.Clock.Now().Add(cfg.ProvisionTimeout)
	notifier, _ := cfg.Traffic.(ReadyNotifier)
	for {
		// Asked for before looking, so a change in between is not missed.
		var changed <-chan struct{}
		if notifier != nil {
			changed = notifier.Changed(d.Endpoint)
		}
		n := cfg.Traffic.Ready(d.Endpoint, d.ToVersion)
		if n >= want {
			return true, nil
		}
		if f, msg := cfg.Traffic.StartFailures(d.Endpoint, d.ToVersion); f >= cfg.MaxStartFailures {
			reason := fmt.Sprintf("model version %s could not be served: %s; %s", d.ToVersion, cmp.Or(msg, "its replicas never became ready"), w.restoredWords())
			return false, w.finish(apitypes.DeployFailed, reason, "")
		}
		left := deadline.Sub(cfg.Clock.Now())
		if left <= 0 {
			reason := fmt.Sprintf("model version %s had %d of %d ready replica(s) after %s; %s", d.ToVersion, n, want, cfg.ProvisionTimeout, w.restoredWords())
			return false, w.finish(apitypes.DeployFailed, reason, "")
		}
		if err := w.sleepOr(min(cfg.CheckInterval, left), changed); err != nil {
			return false, err
		}
	}
}

// next sets the phase that follows done.
func (w *watcher) next(done string) error {
	if done == apitypes.DeployProvisioning && w.smokeRequests() > 0 {
		w.d.Phase = apitypes.DeploySmokeTesting
		return nil
	}
	if done != apitypes.DeployShadowing && w.p.Shadow != nil && w.hasBaseline() {
		w.d.Phase = apitypes.DeployShadowing
		return nil
	}
	w.d.Step = 0
	return w.advance(false)
}

// smoke sends the policy's smoke requests to the candidate, pinned, before
// it takes any live traffic.
func (w *watcher) smoke() error {
	d := w.d
	d.Phase, d.Step = apitypes.DeploySmokeTesting, 0
	// The candidate is named at weight 0: reachable by pinned requests only.
	weights := w.baseline()
	weights[d.ToVersion] = 0
	reqs := w.p.SmokeTest.Requests
	if err := w.transition(weights, nil, w.event(fmt.Sprintf("smoke test: sending %d request(s) to %s", len(reqs), d.ToVersion))); err != nil {
		return err
	}
	for _, r := range reqs {
		status, body, err := w.probe([]byte(r.Body))
		if errors.Is(err, errStopped) || errors.As(err, new(*abortRequest)) {
			return err
		}
		if what := checkSmoke(r, status, body, err); what != "" {
			return w.gateFailed(fmt.Sprintf("smoke request %q %s", r.Name, what), nil)
		}
	}
	if err := w.save(w.event(fmt.Sprintf("smoke test passed: %d request(s) answered as expected", len(reqs)))); err != nil {
		return err
	}
	return w.next(apitypes.DeploySmokeTesting)
}

// shadow mirrors a share of live traffic to the candidate, whose answers
// are discarded, and judges the candidate on those copies.
func (w *watcher) shadow() error {
	d, s := w.d, w.p.Shadow
	d.Phase, d.Step = apitypes.DeployShadowing, 0
	dur := apitypes.PolicyDuration(s.Duration)
	msg := fmt.Sprintf("shadowing: mirroring %d%% of live traffic to %s for %s; answers are discarded", s.TrafficPercent, d.ToVersion, dur)
	if err := w.transition(w.baseline(), &gateway.ShadowRoute{Version: d.ToVersion, Percent: s.TrafficPercent}, w.event(msg)); err != nil {
		return err
	}
	ok, err := w.bake(dur, fmt.Sprintf("while shadowing %d%% of traffic", s.TrafficPercent))
	if err != nil || !ok {
		return err
	}
	return w.next(apitypes.DeployShadowing)
}

// progress routes the current stage's split and bakes it.
func (w *watcher) progress() error {
	d := w.d
	if d.Step < 1 || d.Step > len(w.plan) {
		d.Step = 0
		return w.advance(false)
	}
	s := w.plan[d.Step-1]
	weights := w.stageWeights(s)
	msg := fmt.Sprintf("step %d of %d: %d%% of traffic to %s", d.Step, len(w.plan), s.Percent, d.ToVersion)
	if s.Bake > 0 {
		if s.KeepPrevious {
			msg += fmt.Sprintf("; %s stays ready at weight 0 for %s", d.FromVersion, s.Bake)
		} else {
			msg += " for " + s.Bake.String()
		}
	}
	if err := w.transition(weights, nil, w.event(msg)); err != nil {
		return err
	}
	where := fmt.Sprintf("at step %d (%d%% traffic)", d.Step, s.Percent)
	ok, err := w.bake(s.Bake, where)
	if err != nil || !ok {
		return err
	}
	return w.advance(false)
}

// advance moves to the stage after the current one, stopping for approval
// before full promotion when the policy asks for it.
func (w *watcher) advance(approved bool) error {
	d := w.d
	next := d.Step + 1
	if next > len(w.plan) {
		return w.succeed()
	}
	if w.plan[next-1].Percent >= 100 && w.p.Approval != nil && w.p.Approval.Required && !approved {
		d.Phase, d.Reason = apitypes.DeployAwaitingApproval, ""
		return w.save(w.event(fmt.Sprintf("awaiting approval before 100%% of traffic goes to %s; promote to continue or abort to roll back", d.ToVersion)))
	}
	d.Phase, d.Step = apitypes.DeployProgressing, next
	return nil
}

// await parks until an operator promotes or aborts. While a candidate
// waiting for approval takes live traffic, the gates keep being checked
// every analysis interval: a failure rolls it back (with automatic
// rollback) rather than leave it serving until someone looks. Only a
// failing analysis is recorded then, so a long wait does not grow the
// record.
func (w *watcher) await() error {
	var (
		tick     <-chan time.Time
		timer    Timer
		prev     snapshot
		interval time.Duration
	)
	watch := w.d.Reason == "" && w.p.Analysis != nil && (w.p.Rollback == nil || w.p.Rollback.Automatic) && w.candidateShare() > 0
	if watch {
		interval = max(apitypes.PolicyDuration(w.p.Analysis.Interval), 100*time.Millisecond)
		prev = w.snapshot()
		timer = w.e.cfg.Clock.NewTimer(interval)
		tick = timer.C()
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-w.ctx.Done():
			return errStopped
		case <-tick:
			m, failure, cur := w.analyzeWindow(prev, interval, false)
			if m.Verdict == VerdictFail {
				where := fmt.Sprintf("while awaiting approval at step %d (%d%% traffic)", w.d.Step, w.candidateShare())
				ev := w.event(fmt.Sprintf("analysis %s: %s", where, describe(m, failure)))
				ev.Metrics = &m
				return w.gateFailed(failure+" "+where, &ev)
			}
			if m.Verdict != VerdictInconclusive {
				prev = cur
			}
			timer = w.e.cfg.Clock.NewTimer(interval)
			tick = timer.C()
		case req := <-w.ctl:
			if req.op == opAbort {
				return &abortRequest{req}
			}
			w.d.Reason = ""
			ev := w.event("promoted by " + cmp.Or(req.actor, "an operator"))
			ev.Actor = req.actor
			err := w.save(ev)
			req.reply <- w.replyError(err)
			if err != nil {
				return err
			}
			return w.advance(true)
		}
	}
}

// candidateShare is the candidate's percentage of live traffic now.
func (w *watcher) candidateShare() int {
	for _, t := range w.d.Traffic {
		if t.ModelVersion == w.d.ToVersion {
			return t.Percent
		}
	}
	return 0
}

// gateFailed rolls back, or with rollback.automatic false parks the
// deployment for an operator, after a failed gate.
func (w *watcher) gateFailed(failure string, failing *apitypes.DeploymentEvent) error {
	if failing != nil {
		w.d.Events = append(w.d.Events, *failing)
	}
	if w.p.Rollback == nil || w.p.Rollback.Automatic {
		return w.finish(apitypes.DeployRolledBack, failure+"; "+w.restoredWords(), "")
	}
	w.d.Phase = apitypes.DeployAwaitingApproval
	w.d.Reason = failure + "; rollback.automatic is false, so traffic stays as it is until an operator promotes or aborts"
	return w.save(w.event(w.d.Reason))
}

// finish ends the deployment without success: traffic goes back to the
// previous version first, then the record, the endpoint's desired state
// and the override follow.
func (w *watcher) finish(phase, reason, actor string) error {
	d, cfg := w.d, &w.e.cfg
	base := w.baseline()
	w.route(base, nil)
	now := cfg.Clock.Now()
	d.Phase, d.Reason, d.FinishedAt, d.Traffic = phase, reason, &now, split(base)
	ev := w.event(reason)
	ev.Actor = actor
	// The ended record and the endpoint put back go in one transaction: a
	// crash between the two would leave a rolled-back deployment whose
	// endpoint still targets the candidate, to be served after a restart.
	persist := cfg.Store.SaveDeployment
	if d.FromVersion != "" {
		persist = func(ctx context.Context, d *apitypes.Deployment) error { return cfg.Store.Revert(ctx, d, reason) }
	}
	if err := w.persist(persist, ev); err != nil {
		return err
	}
	w.e.log.Warn("rollout: deployment "+phase, "deployment", d.ID, "endpoint", d.Endpoint, "reason", reason)
	w.finished.Store(true)
	cfg.Traffic.Release(d.Endpoint)
	return nil
}

// succeed puts all traffic on the target and ends the deployment.
func (w *watcher) succeed() error {
	d, cfg := w.d, &w.e.cfg
	final := w.finalWeights()
	w.route(final, nil)
	now := cfg.Clock.Now()
	d.Phase, d.Reason, d.FinishedAt, d.Traffic = apitypes.DeploySucceeded, "", &now, split(final)
	msg := fmt.Sprintf("succeeded: %s", weightsString(final))
	if obj := apitypes.PolicyDuration(w.p.LeadTimeObjective); w.p.LeadTimeObjective != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 10*time.Second)
		created, err := cfg.Store.VersionCreated(ctx, d.ToVersion)
		cancel()
		if err != nil {
			w.e.log.Warn("rollout: reading the version's registration time", "deployment", d.ID, "version", d.ToVersion, "err", err)
		} else {
			lead := now.Sub(created)
			met := lead <= obj
			d.LeadTimeObjectiveMet = &met
			verdict := "met"
			if !met {
				verdict = "missed"
			}
			msg += fmt.Sprintf("; lead time %s from registration, objective %s %s", lead.Round(time.Second), obj, verdict)
		}
	}
	if err := w.save(w.event(msg)); err != nil {
		return err
	}
	w.e.log.Info("rollout: deployment succeeded", "deployment", d.ID, "endpoint", d.Endpoint, "version", d.ToVersion)
	w.finished.Store(true)
	cfg.Traffic.Release(d.Endpoint)
	return nil
}

// transition persists a forward step, then routes it: a record never says
// less than what serves, and a superseded deployment routes nothing more.
func (w *watcher) transition(weights map[string]int, shadow *gateway.ShadowRoute, ev apitypes.DeploymentEvent) error {
	w.d.Traffic = split(weights)
	ev.Traffic = w.d.Traffic
	if err := w.save(ev); err != nil {
		return err
	}
	w.route(weights, shadow)
	return nil
}

// route sets the engine's split unless it is the one already set.
func (w *watcher) route(weights map[string]int, shadow *gateway.ShadowRoute) {
	key := weightsString(weights)
	if shadow != nil {
		key += fmt.Sprintf(" shadow %s %d%%", shadow.Version, shadow.Percent)
	}
	if key == w.routed {
		return
	}
	w.e.cfg.Traffic.Route(w.endpoint, weights, shadow)
	w.routed = key
}

// save appends events and persists the record. A conflict means the
// record was ended elsewhere. Any other failure (a full, read-only or
// failing disk) is retried with backoff, traffic staying as it is, until
// the record is saved: the engine never takes a step of traffic it has not
// recorded, so the ledger and a restart always know what was served. A
// rollback or an abort moves traffic back first and records it after, and
// an operator can abort while a save is being retried: safety comes before
// bookkeeping. The server stopping ends the wait; the deployment then
// resumes from the last record saved.
func (w *watcher) save(evs ...apitypes.DeploymentEvent) error {
	return w.persist(w.e.cfg.Store.SaveDeployment, evs...)
}

// persist is save with the store call that writes the record.
func (w *watcher) persist(write func(context.Context, *apitypes.Deployment) error, evs ...apitypes.DeploymentEvent) error {
	d := w.d
	for _, ev := range evs {
		if ev.Traffic == nil {
			ev.Traffic = d.Traffic
		}
		d.Events = append(d.Events, ev)
	}
	backoff := saveRetryMin
	for attempt := 1; ; attempt++ {
		d.UpdatedAt = w.e.cfg.Clock.Now()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 10*time.Second)
		err := write(ctx, cloneDeployment(d))
		cancel()
		switch {
		case err == nil:
			if attempt > 1 {
				w.e.log.Info("rollout: deployment saved after failures; going on", "deployment", d.ID, "attempts", attempt)
			}
			return nil
		case apitypes.IsConflict(err) || apitypes.IsNotFound(err):
			return errSuperseded
		}
		w.e.log.Error("rollout: saving deployment failed; traffic stays as it is until it is saved",
			"deployment", d.ID, "attempt", attempt, "retry_in", backoff, "err", err)
		if err := w.sleep(backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, saveRetryMax)
	}
}

// Backoff between attempts to save a deployment record.
const (
	saveRetryMin = 250 * time.Millisecond
	saveRetryMax = 5 * time.Second
)

// event is a new event stamped now, in the current phase and step.
func (w *watcher) event(msg string) apitypes.DeploymentEvent {
	return apitypes.DeploymentEvent{Time: w.e.cfg.Clock.Now(), Phase: w.d.Phase, Step: w.d.Step, Message: msg, Traffic: w.d.Traffic}
}

// replyError is what an operator is told when carrying out a request
// failed because the record was ended elsewhere meanwhile.
func (w *watcher) replyError(err error) error {
	if errors.Is(err, errSuperseded) {
		return apitypes.Errorf(apitypes.CodeConflict, "deployment %s was ended elsewhere meanwhile (superseded by a newer change or its endpoint deleted)", w.id)
	}
	return err
}

// sleep waits for d, answering promote requests (not applicable outside
// approval) and returning an abortRequest when an operator aborts.
func (w *watcher) sleep(d time.Duration) error { return w.sleepOr(d, nil) }

// sleepOr is sleep that also ends when wake is closed (nil: never).
func (w *watcher) sleepOr(d time.Duration, wake <-chan struct{}) error {
	t := w.e.cfg.Clock.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			return nil
		case <-wake:
			return nil
		case <-w.ctx.Done():
			return errStopped
		case req := <-w.ctl:
			if err := w.notNow(req); err != nil {
				return err
			}
		}
	}
}

// probe sends one request to the candidate through the Prober while
// still answering operator requests: an abort does not wait for a
// candidate that hangs.
func (w *watcher) probe(body []byte) (int, []byte, error) {
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	type answer struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		status, resp, err := w.e.cfg.Prober.Infer(ctx, w.endpoint, w.d.ToVersion, body)
		done <- answer{status, resp, err}
	}()
	for {
		select {
		case a := <-done:
			if w.ctx.Err() != nil {
				return 0, nil, errStopped
			}
			return a.status, a.body, a.err
		case <-w.ctx.Done():
			return 0, nil, errStopped
		case req := <-w.ctl:
			if err := w.notNow(req); err != nil {
				return 0, nil, err
			}
		}
	}
}

func (w *watcher) notNow(req request) error {
	if req.op == opAbort {
		return &abortRequest{req}
	}
	req.reply <- apitypes.Errorf(apitypes.CodeConflict, "deployment %s is %s; only a deployment awaiting approval can be promoted", w.id, w.d.Phase)
	return nil
}

// hasBaseline says whether another version served before: a first
// deployment, or a change of the split alone, has nothing to move traffic
// away from gradually and nothing to compare the candidate with.
func (w *watcher) hasBaseline() bool {
	return w.d.FromVersion != "" && w.d.FromVersion != w.d.ToVersion
}

// baseline is the split that serves the previous version alone.
func (w *watcher) baseline() map[string]int {
	if w.d.FromVersion == "" {
		return map[string]int{}
	}
	return map[string]int{w.d.FromVersion: 100}
}

// finalWeights is the split the change asks for once done.
func (w *watcher) finalWeights() map[string]int {
	if len(w.d.TargetSplit) > 0 {
		m := map[string]int{}
		for _, t := range w.d.TargetSplit {
			m[t.ModelVersion] = t.Percent
		}
		return m
	}
	return map[string]int{w.d.ToVersion: 100}
}

func (w *watcher) stageWeights(s stage) map[string]int {
	d := w.d
	switch {
	case !w.hasBaseline():
		return w.finalWeights()
	case s.Percent >= 100 && s.KeepPrevious:
		return map[string]int{d.ToVersion: 100, d.FromVersion: 0}
	case s.Percent >= 100:
		return w.finalWeights()
	}
	return map[string]int{d.FromVersion: 100 - s.Percent, d.ToVersion: s.Percent}
}

// restoredWords says where traffic is once the deployment stops.
func (w *watcher) restoredWords() string {
	d := w.d
	if d.FromVersion == "" {
		return fmt.Sprintf("nothing else serves endpoint %q", d.Endpoint)
	}
	for _, t := range d.Traffic {
		if t.ModelVersion == d.ToVersion && t.Percent > 0 {
			return "traffic restored to " + d.FromVersion
		}
	}
	return "traffic stays on " + d.FromVersion
}

func (w *watcher) smokeRequests() int {
	if w.p.SmokeTest == nil {
		return 0
	}
	return len(w.p.SmokeTest.Requests)
}

// split is weights as a sorted list.
func split(weights map[string]int) []apitypes.TrafficWeight {
	out := make([]apitypes.TrafficWeight, 0, len(weights))
	for _, v := range slices.Sorted(maps.Keys(weights)) {
		out = append(out, apitypes.TrafficWeight{ModelVersion: v, Percent: weights[v]})
	}
	return out
}

func weightsString(w map[string]int) string {
	if len(w) == 0 {
		return "nothing"
	}
	parts := make([]string, 0, len(w))
	for _, v := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s %d%%", v, w[v]))
	}
	return strings.Join(parts, ", ")
}

func cloneDeployment(d *apitypes.Deployment) *apitypes.Deployment {
	c := *d
	c.TargetSplit = slices.Clone(d.TargetSplit)
	c.Traffic = slices.Clone(d.Traffic)
	c.Events = slices.Clone(d.Events)
	if d.FinishedAt != nil {
		t := *d.FinishedAt
		c.FinishedAt = &t
	}
	if d.LeadTimeObjectiveMet != nil {
		b := *d.LeadTimeObjectiveMet
		c.LeadTimeObjectiveMet = &b
	}
	return &c
}
