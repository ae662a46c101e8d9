package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/rollout"
)

const (
	routeBase  = "route fraud fraud/7 100%"
	route10    = "route fraud fraud/7 90%, fraud/8 10%"
	route50    = "route fraud fraud/7 50%, fraud/8 50%"
	routeFull  = "route fraud fraud/8 100%"
	routeSmoke = "route fraud fraud/7 100%, fraud/8 0%"
	release    = "release fraud"
)

// gates is an analysis every 30s: at least 10 requests, under 1 % errors,
// p99 under 250ms.
func gates() *apitypes.Analysis {
	return &apitypes.Analysis{Interval: "30s", MinRequests: 10, MaxErrorRate: ptr(0.01), MaxLatencyP99: "250ms"}
}

// canary is 10 % then 50 %, each baked for a minute.
func canary(a *apitypes.Analysis) *apitypes.DeploymentPolicy {
	return &apitypes.DeploymentPolicy{
		Name: "safe", Strategy: "canary",
		Steps:             []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "1m"}, {TrafficPercent: 50, Bake: "1m"}},
		Analysis:          a,
		LeadTimeObjective: "2h",
	}
}

func smokeTest() *apitypes.SmokeTest {
	return &apitypes.SmokeTest{Requests: []apitypes.SmokeRequest{{
		Name:          "typical",
		Body:          `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`,
		ExpectOutputs: []float64{0.1}, Tolerance: 0.01,
	}}}
}

func TestCanaryPassesEveryGateAndSucceeds(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	for range 4 { // two windows per step
		h.window(30*time.Second, h.healthy)
	}
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, route50, routeFull, release)

	if got, want := phases(d), []string{apitypes.DeployProvisioning, apitypes.DeployProgressing, apitypes.DeploySucceeded}; !slices.Equal(got, want) {
		t.Errorf("phases = %v, want %v", got, want)
	}
	as := analysisEvents(d)
	if len(as) != 4 {
		t.Fatalf("%d analysis events, want 4 (two per step): %+v", len(as), d.Events)
	}
	for i, e := range as {
		m := e.Metrics
		if m.Verdict != rollout.VerdictPass || m.Requests != 20 || m.BaselineRequests != 180 || m.Synthetic || m.LatencyP99 != "15ms" {
			t.Errorf("analysis %d = %+v; want a pass on 20 live requests against 180 baseline, p99 15ms", i, m)
		}
		if wantStep := i/2 + 1; e.Step != wantStep {
			t.Errorf("analysis %d at step %d, want %d", i, e.Step, wantStep)
		}
	}
	if d.Step != 3 || d.Reason != "" || len(d.Traffic) != 1 || d.Traffic[0] != (apitypes.TrafficWeight{ModelVersion: "fraud/8", Percent: 100}) {
		t.Errorf("final record step %d, reason %q, traffic %v", d.Step, d.Reason, d.Traffic)
	}
	if d.FinishedAt == nil || !d.FinishedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("finished at %v, want %v", d.FinishedAt, t0.Add(2*time.Minute))
	}
	if d.LeadTimeObjectiveMet == nil || !*d.LeadTimeObjectiveMet {
		t.Errorf("lead time objective met = %v; the version was registered an hour before and the objective is 2h", d.LeadTimeObjectiveMet)
	}
	if !strings.Contains(lastEvent(d).Message, "objective 2h0m0s met") {
		t.Errorf("last event %q does not report the lead time", lastEvent(d).Message)
	}
	if r := h.store.revertLog(); len(r) != 0 {
		t.Errorf("reverted %v after a success", r)
	}
}

// While the record cannot be saved (a full disk), the engine holds traffic
// where it is rather than take a step it has not recorded; once saves work
// again it goes on, and the record has every step once.
func TestTrafficHoldsWhileTheRecordCannotBeSaved(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.window(30*time.Second, h.healthy)
	h.store.fail(errors.New("disk full"))
	h.window(30*time.Second, h.healthy) // step 1's bake ends; step 2 cannot be recorded
	for range 5 {                       // retries: 250ms, 500ms, 1s, 2s, 4s
		h.waitTimers(2)
		h.clock.Advance(5 * time.Second)
	}
	h.waitTimers(2)
	if refused := h.store.fail(nil); refused < 5 {
		t.Fatalf("%d saves refused; want the engine to keep retrying", refused)
	}
	if got := h.traffic.log(); slices.Contains(got, route50) {
		t.Fatalf("traffic moved to 50%% while the step could not be recorded: %q", got)
	}
	if d := h.store.get("d1"); d.Step != 1 {
		t.Fatalf("record at step %d while saves failed, want 1", d.Step)
	}
	h.clock.Advance(5 * time.Second) // the next retry succeeds
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, h.healthy)
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, route50, routeFull, release)
	if got, want := stepsRecorded(d), []int{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("steps recorded %v, want %v", got, want)
	}
}

// A rollback whose endpoint cannot be put back moves traffic back at once;
// the ended record and the endpoint's revert are written together, once the
// store works again, so a crash can never leave a rolled-back record whose
// endpoint still targets the candidate.
func TestRollbackRecordAndRevertAreWrittenTogether(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.waitTimers(2)
	h.store.failReverts(errors.New("disk full"))
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 180, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 15, 5, 12*time.Millisecond)
	})
	h.waitTimers(2) // the first retry of the ended record
	if got := h.traffic.log(); len(got) < 3 || got[2] != routeBase {
		t.Fatalf("traffic calls %q; want traffic back on fraud/7 before the record is saved", got)
	}
	if d := h.store.get("d1"); apitypes.DeploymentTerminal(d.Phase) || len(h.store.revertLog()) != 0 {
		t.Fatalf("record %s, reverts %q while the revert fails; want neither written", d.Phase, h.store.revertLog())
	}
	h.store.failReverts(nil)
	h.clock.Advance(5 * time.Second)
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	if got := h.store.revertLog(); len(got) != 1 || !strings.HasPrefix(got[0], "d1: error rate") {
		t.Errorf("reverts = %q; want one, with the ended record", got)
	}
	if d.FinishedAt == nil {
		t.Errorf("ended record has no finish time: %+v", d)
	}
}

// stepsRecorded lists the distinct steps of d's events in order.
func stepsRecorded(d *apitypes.Deployment) []int {
	var out []int
	for _, e := range d.Events {
		if e.Step > 0 && (len(out) == 0 || out[len(out)-1] != e.Step) {
			out = append(out, e.Step)
		}
	}
	return out
}

func TestLeadTimeObjectiveMissed(t *testing.T) {
	h := newHarness(t)
	h.store.created["fraud/8"] = t0.Add(-3 * time.Hour)
	h.run()
	h.start(deployment("d1", canary(nil)))
	h.window(time.Minute, nil)
	h.window(time.Minute, nil)
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	if d.LeadTimeObjectiveMet == nil || *d.LeadTimeObjectiveMet {
		t.Errorf("lead time objective met = %v; 3h2m is over the 2h objective", d.LeadTimeObjectiveMet)
	}
	// Without analysis a bake is a plain wait: no analysis events.
	if as := analysisEvents(d); len(as) != 0 {
		t.Errorf("analysis events without an analysis block: %+v", as)
	}
}

func TestErrorRateGateRollsBack(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 180, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 15, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 5, 5, 12*time.Millisecond)
	})
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	h.wantCalls(routeBase, route10, routeBase, release)

	const reason = "error rate 25.0% > 1.0% at step 1 (10% traffic); traffic restored to fraud/7"
	if d.Reason != reason {
		t.Errorf("reason = %q\n want %q", d.Reason, reason)
	}
	if got := h.store.revertLog(); !slices.Equal(got, []string{"d1: " + reason}) {
		t.Errorf("reverts = %q", got)
	}
	as := analysisEvents(d)
	if len(as) != 1 || as[0].Metrics.Verdict != rollout.VerdictFail || as[0].Metrics.Errors != 5 || as[0].Metrics.ErrorRate != 0.25 {
		t.Fatalf("analysis events = %+v; want one failing window with 5 errors", as)
	}
	if last := lastEvent(d); last.Phase != apitypes.DeployRolledBack || last.Message != reason || len(last.Traffic) != 1 || last.Traffic[0].ModelVersion != "fraud/7" {
		t.Errorf("last event = %+v", last)
	}
	if d.FinishedAt == nil || len(d.Traffic) != 1 || d.Traffic[0] != (apitypes.TrafficWeight{ModelVersion: "fraud/7", Percent: 100}) {
		t.Errorf("record after rollback: finished %v, traffic %v", d.FinishedAt, d.Traffic)
	}
	if lat, ok := rollout.RollbackLatency(d); !ok || lat != 0 {
		t.Errorf("RollbackLatency = %v, %v; with a fake clock the rollback takes no time", lat, ok)
	}
}

func TestLatencyGateRollsBackAtStep2(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 100, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 100, 0, 400*time.Millisecond)
	})
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	h.wantCalls(routeBase, route10, route50, routeBase, release)
	const reason = "p99 399ms > 250ms at step 2 (50% traffic); traffic restored to fraud/7"
	if d.Reason != reason {
		t.Errorf("reason = %q\n want %q", d.Reason, reason)
	}
	as := analysisEvents(d)
	if len(as) != 3 || as[2].Metrics.LatencyP99 != "399ms" || as[2].Metrics.BaselineP99 != "15ms" || as[2].Step != 2 {
		t.Errorf("analysis events = %+v", as)
	}
}

func TestRegressionGateRollsBack(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(&apitypes.Analysis{Interval: "30s", MinRequests: 10, MaxRegression: ptr(0.2)})))
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 180, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 20, 0, 100*time.Millisecond)
	})
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	h.wantCalls(routeBase, route10, routeBase, release)
	const reason = "p99 100ms is 567.2% above the baseline's 15ms (max_regression 20.0%) at step 1 (10% traffic); traffic restored to fraud/7"
	if d.Reason != reason {
		t.Errorf("reason = %q\n want %q", d.Reason, reason)
	}
}

func TestThinTrafficIsMadeUpWithSyntheticRequests(t *testing.T) {
	h := newHarness(t)
	h.run()
	p := canary(&apitypes.Analysis{Interval: "30s", MinRequests: 20, MaxErrorRate: ptr(0.01), MaxLatencyP99: "250ms"})
	p.SmokeTest = smokeTest()
	h.start(deployment("d1", p))
	for range 4 {
		h.window(30*time.Second, func() { h.metrics.serve("fraud/8", 5, 0, 10*time.Millisecond) })
	}
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, routeSmoke, route10, route50, routeFull, release)
	// One smoke request, then 15 synthetic ones per window to reach 20.
	if n := h.prober.count(); n != 1+4*15 {
		t.Errorf("prober sent %d requests, want 61", n)
	}
	for _, e := range analysisEvents(d) {
		if m := e.Metrics; !m.Synthetic || m.Requests != 20 || m.Verdict != rollout.VerdictPass {
			t.Errorf("analysis = %+v; want a pass on 20 requests, synthetic", m)
		}
	}
}

func TestSyntheticTrafficCatchesAFailingCandidate(t *testing.T) {
	h := newHarness(t)
	h.run()
	p := canary(&apitypes.Analysis{Interval: "30s", MinRequests: 20, MaxErrorRate: ptr(0.01)})
	p.SmokeTest = smokeTest()
	h.start(deployment("d1", p))
	h.window(30*time.Second, func() { h.prober.answer(503, `{"error":"overloaded"}`, time.Millisecond) })
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	if !strings.HasPrefix(d.Reason, "error rate 100.0% > 1.0% at step 1") {
		t.Errorf("reason = %q", d.Reason)
	}
	if m := analysisEvents(d)[0].Metrics; !m.Synthetic || m.Requests != 20 || m.Errors != 20 {
		t.Errorf("metrics = %+v", m)
	}
}

func TestInconclusiveWindowsPassWithAWarning(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates()))) // no smoke test: nothing to make traffic from
	for range 4 {
		h.window(30*time.Second, func() { h.metrics.serve("fraud/8", 3, 0, 10*time.Millisecond) })
	}
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, route50, routeFull, release)
	as := analysisEvents(d)
	if len(as) != 4 {
		t.Fatalf("%d analysis events, want 4", len(as))
	}
	for i, e := range as {
		// The second window of each bake carries the first one's requests.
		want := fmt.Sprintf("%d of the 10 requests needed to judge; the window carries over", 3*(i%2+1))
		if e.Metrics.Verdict != rollout.VerdictInconclusive || e.Metrics.Synthetic || !strings.Contains(e.Message, want) {
			t.Errorf("analysis %d = %q %+v; want %q", i, e.Message, e.Metrics, want)
		}
		if warned := strings.Contains(e.Message, "passes with a warning"); warned != (i%2 == 1) {
			t.Errorf("analysis %d warned=%v; only the last window of a bake passes with a warning: %q", i, warned, e.Message)
		}
	}
}

// A slow candidate holds its callers up, so each window sees few of its
// requests; windows too thin to judge add up until they can be judged.
func TestThinWindowsAddUpToAVerdict(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.window(30*time.Second, func() { h.metrics.serve("fraud/8", 6, 0, 400*time.Millisecond) })
	h.window(30*time.Second, func() { h.metrics.serve("fraud/8", 6, 0, 400*time.Millisecond) })
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	if want := "p99 399ms > 250ms at step 1 (10% traffic); traffic restored to fraud/7"; d.Reason != want {
		t.Errorf("reason = %q\n want %q", d.Reason, want)
	}
	if as := analysisEvents(d); len(as) != 2 || as[0].Metrics.Verdict != rollout.VerdictInconclusive || as[1].Metrics.Requests != 12 {
		t.Errorf("analyses = %+v; want an inconclusive window of 6, then a failing one of 12", as)
	}
}

func TestTooManyErrorsFailEvenBelowMinRequests(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.window(30*time.Second, func() { h.metrics.serve("fraud/8", 3, 3, 10*time.Millisecond) })
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	const reason = "3 errors in 3 requests already exceed the 1.0% error rate allowed over min_requests 10 at step 1 (10% traffic); traffic restored to fraud/7"
	if d.Reason != reason {
		t.Errorf("reason = %q\n want %q", d.Reason, reason)
	}
}

func approvalPolicy() *apitypes.DeploymentPolicy {
	p := canary(gates())
	p.Steps = p.Steps[:1]
	p.Approval = &apitypes.Approval{Required: true}
	return p
}

func TestApprovalPromote(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", approvalPolicy()))
	h.waitTimers(2)
	if err := h.eng.Promote(context.Background(), "d1", "alice"); !apitypes.IsConflict(err) {
		t.Errorf("promote while progressing = %v, want a conflict", err)
	}
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, h.healthy)
	d := h.waitPhase("d1", apitypes.DeployAwaitingApproval)
	if !strings.Contains(lastEvent(d).Message, "awaiting approval before 100% of traffic goes to fraud/8") {
		t.Errorf("last event = %q", lastEvent(d).Message)
	}
	if err := h.eng.Promote(context.Background(), "nope", "alice"); !apitypes.IsNotFound(err) {
		t.Errorf("promote of an unknown deployment = %v, want not found", err)
	}
	if err := h.eng.Promote(context.Background(), "d1", "alice"); err != nil {
		t.Fatalf("promote: %v", err)
	}
	d = h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, routeFull, release)
	var promoted bool
	for _, e := range d.Events {
		if e.Actor == "alice" && e.Message == "promoted by alice" {
			promoted = true
		}
	}
	if !promoted {
		t.Errorf("no event records alice's promotion: %+v", d.Events)
	}
	if err := h.eng.Promote(context.Background(), "d1", "alice"); !apitypes.IsConflict(err) {
		t.Errorf("promote after success = %v, want a conflict", err)
	}
}

func TestApprovalAbort(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", approvalPolicy()))
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, h.healthy)
	h.waitPhase("d1", apitypes.DeployAwaitingApproval)
	if err := h.eng.Abort(context.Background(), "d1", "bob"); err != nil {
		t.Fatalf("abort: %v", err)
	}
	d := h.store.get("d1") // Abort returns once persisted
	if d.Phase != apitypes.DeployAborted || d.Reason != "aborted by bob; traffic restored to fraud/7" || lastEvent(d).Actor != "bob" {
		t.Errorf("after abort: phase %s, reason %q, last event %+v", d.Phase, d.Reason, lastEvent(d))
	}
	h.wantCalls(routeBase, route10, routeBase, release)
	if r := h.store.revertLog(); len(r) != 1 {
		t.Errorf("reverts = %q, want one", r)
	}
}

// A candidate waiting for approval keeps being judged on its live traffic.
func TestFailingGateWhileAwaitingApprovalRollsBack(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", approvalPolicy()))
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, h.healthy)
	h.waitPhase("d1", apitypes.DeployAwaitingApproval)
	h.window(30*time.Second, h.healthy) // passing windows leave no trace
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 180, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 20, 5, 12*time.Millisecond)
	})
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	if want := "error rate 25.0% > 1.0% while awaiting approval at step 1 (10% traffic); traffic restored to fraud/7"; d.Reason != want {
		t.Errorf("reason = %q\n want %q", d.Reason, want)
	}
	h.wantCalls(routeBase, route10, routeBase, release)
	if as := analysisEvents(d); len(as) != 3 {
		t.Errorf("%d analysis events, want the 2 of the bake and the failing one", len(as))
	}
}

func TestAbortDuringABake(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.waitTimers(2)
	if err := h.eng.Abort(context.Background(), "d1", "bob"); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if d := h.store.get("d1"); d.Phase != apitypes.DeployAborted {
		t.Errorf("phase = %s", d.Phase)
	}
	h.wantCalls(routeBase, route10, routeBase, release)
}

func TestManualRollbackParksForAnOperator(t *testing.T) {
	h := newHarness(t)
	h.run()
	p := canary(gates())
	p.Rollback = &apitypes.Rollback{Automatic: false}
	h.start(deployment("d1", p))
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 180, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 20, 5, 12*time.Millisecond)
	})
	d := h.waitPhase("d1", apitypes.DeployAwaitingApproval)
	if !strings.HasPrefix(d.Reason, "error rate 25.0% > 1.0% at step 1 (10% traffic); rollback.automatic is false") {
		t.Errorf("reason = %q", d.Reason)
	}
	h.wantCalls(routeBase, route10) // traffic stays where it was
	if r := h.store.revertLog(); len(r) != 0 {
		t.Errorf("reverted %q while parked", r)
	}
	if err := h.eng.Promote(context.Background(), "d1", "carol"); err != nil {
		t.Fatal(err)
	}
	h.window(30*time.Second, h.healthy)
	h.window(30*time.Second, h.healthy)
	d = h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, route50, routeFull, release)
	if d.Reason != "" {
		t.Errorf("reason after success = %q", d.Reason)
	}
}

func TestProvisioningFailureFails(t *testing.T) {
	h := newHarness(t)
	h.traffic.set("fraud/8", 0, 3)
	h.run()
	h.start(deployment("d1", canary(gates())))
	d := h.waitPhase("d1", apitypes.DeployFailed)
	const reason = "model version fraud/8 could not be served: replica exited before it was ready: exit status 3; its last words: boom; traffic stays on fraud/7"
	if d.Reason != reason {
		t.Errorf("reason = %q\n want %q", d.Reason, reason)
	}
	h.wantCalls(routeBase, release)
	if got := h.store.revertLog(); !slices.Equal(got, []string{"d1: " + reason}) {
		t.Errorf("reverts = %q", got)
	}
}

func TestProvisioningTimeoutFails(t *testing.T) {
	h := newHarness(t)
	h.traffic.set("fraud/8", 0, 1)
	h.run()
	h.start(deployment("d1", canary(gates())))
	for range 30 { // 5m in 10s checks
		h.window(10*time.Second, nil)
	}
	d := h.waitPhase("d1", apitypes.DeployFailed)
	if want := "model version fraud/8 had 0 of 1 ready replica(s) after 5m0s; traffic stays on fraud/7"; d.Reason != want {
		t.Errorf("reason = %q\n want %q", d.Reason, want)
	}
	h.wantCalls(routeBase, release)
}

func TestSmokeFailureRollsBack(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		reason string
	}{
		"wrong output": {200, `{"model_name":"fraud","outputs":[{"name":"score","datatype":"FP64","shape":[1],"data":[0.9]}]}`,
			`smoke request "typical" answered score[0] = 0.9, want 0.1 ± 0.01; traffic stays on fraud/7`},
		"wrong status": {500, `{"error":"boom"}`,
			`smoke request "typical" answered status 500, want 200 ({"error":"boom"}); traffic stays on fraud/7`},
		"wrong shape": {200, `{"model_name":"fraud","outputs":[{"name":"score","datatype":"FP64","shape":[2],"data":[0.1,0.2]}]}`,
			`smoke request "typical" answered 2 values in output "score", want 1; traffic stays on fraud/7`},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.prober.answer(tc.status, tc.body, time.Millisecond)
			h.run()
			p := canary(gates())
			p.SmokeTest = smokeTest()
			h.start(deployment("d1", p))
			d := h.waitPhase("d1", apitypes.DeployRolledBack)
			if d.Reason != tc.reason {
				t.Errorf("reason = %q\n want %q", d.Reason, tc.reason)
			}
			h.wantCalls(routeBase, routeSmoke, routeBase, release)
		})
	}
}

// An abort does not wait for a smoke request to a candidate that hangs.
func TestAbortDuringAHangingSmokeTest(t *testing.T) {
	h := newHarness(t)
	h.prober.hang = true
	h.run()
	p := canary(gates())
	p.SmokeTest = smokeTest()
	h.start(deployment("d1", p))
	deadline := time.Now().Add(5 * time.Second)
	for h.prober.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.eng.Abort(ctx, "d1", "bob"); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if d := h.store.get("d1"); d.Phase != apitypes.DeployAborted || d.Reason != "aborted by bob; traffic stays on fraud/7" {
		t.Errorf("after abort: %s %q", d.Phase, d.Reason)
	}
	h.wantCalls(routeBase, routeSmoke, routeBase, release)
}

func TestShadowGateFailureRollsBack(t *testing.T) {
	h := newHarness(t)
	h.run()
	p := canary(gates())
	p.Shadow = &apitypes.Shadow{TrafficPercent: 20, Duration: "1m"}
	h.start(deployment("d1", p))
	h.window(30*time.Second, func() {
		h.metrics.serve("fraud/7", 200, 0, 12*time.Millisecond)
		h.metrics.serve("fraud/8", 40, 20, 12*time.Millisecond) // shadow copies
	})
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	const reason = "error rate 50.0% > 1.0% while shadowing 20% of traffic; traffic stays on fraud/7"
	if d.Reason != reason {
		t.Errorf("reason = %q\n want %q", d.Reason, reason)
	}
	h.wantCalls(routeBase, "route fraud fraud/7 100% shadow fraud/8 20%", routeBase, release)
}

func TestShadowThenCanarySucceeds(t *testing.T) {
	h := newHarness(t)
	h.run()
	p := canary(gates())
	p.Shadow = &apitypes.Shadow{TrafficPercent: 20, Duration: "1m"}
	h.start(deployment("d1", p))
	for range 6 {
		h.window(30*time.Second, h.healthy)
	}
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, "route fraud fraud/7 100% shadow fraud/8 20%", route10, route50, routeFull, release)
	want := []string{apitypes.DeployProvisioning, apitypes.DeployShadowing, apitypes.DeployProgressing, apitypes.DeploySucceeded}
	if got := phases(d); !slices.Equal(got, want) {
		t.Errorf("phases = %v, want %v", got, want)
	}
}

func TestLinearSchedule(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", &apitypes.DeploymentPolicy{Name: "lin", Strategy: "linear", Linear: &apitypes.Linear{StepPercent: 25, Interval: "1m"}}))
	for range 3 {
		h.window(time.Minute, nil)
	}
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, "route fraud fraud/7 75%, fraud/8 25%", route50, "route fraud fraud/7 25%, fraud/8 75%", routeFull, release)
	if !d.FinishedAt.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("finished at %v; three one-minute steps", d.FinishedAt)
	}
}

func TestBlueGreenSwitchesAndKeepsTheOldVersionForTheTerminationWait(t *testing.T) {
	h := newHarness(t)
	h.traffic.min = 2
	h.run()
	h.start(deployment("d1", &apitypes.DeploymentPolicy{
		Name: "bg", Strategy: "blue_green", BlueGreen: &apitypes.BlueGreen{TerminationWait: "5m"}, SmokeTest: smokeTest(),
	}))
	h.window(10*time.Second, nil) // one replica of the two it waits for
	h.window(10*time.Second, func() { h.traffic.set("fraud/8", 2, 0) })
	h.waitTimers(2)
	h.wantCalls(routeBase, routeSmoke, "route fraud fraud/7 0%, fraud/8 100%")
	h.clock.Advance(5 * time.Minute)
	d := h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, routeSmoke, "route fraud fraud/7 0%, fraud/8 100%", routeFull, release)
	var sawWait bool
	for _, e := range d.Events {
		sawWait = sawWait || strings.Contains(e.Message, "fraud/7 stays ready at weight 0 for 5m0s")
	}
	if !sawWait {
		t.Errorf("no event says the old version stays for the termination wait: %+v", d.Events)
	}
	if !d.FinishedAt.Equal(t0.Add(20*time.Second + 5*time.Minute)) {
		t.Errorf("finished at %v", d.FinishedAt)
	}
}

func TestBlueGreenRollsBackDuringTheTerminationWait(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", &apitypes.DeploymentPolicy{
		Name: "bg", Strategy: "blue_green", BlueGreen: &apitypes.BlueGreen{TerminationWait: "5m"}, Analysis: gates(),
	}))
	h.window(30*time.Second, func() { h.metrics.serve("fraud/8", 100, 50, 10*time.Millisecond) })
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	h.wantCalls(routeBase, "route fraud fraud/7 0%, fraud/8 100%", routeBase, release)
	if want := "error rate 50.0% > 1.0% at step 1 (100% traffic); traffic restored to fraud/7"; d.Reason != want {
		t.Errorf("reason = %q", d.Reason)
	}
}

func TestFirstDeploymentGoesStraightToFullTraffic(t *testing.T) {
	h := newHarness(t)
	h.run()
	d := deployment("d1", canary(gates()))
	d.FromVersion = ""
	h.start(d)
	d = h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls("route fraud nothing", routeFull, release)
	if r := h.store.revertLog(); len(r) != 0 {
		t.Errorf("reverts = %q", r)
	}
	if as := analysisEvents(d); len(as) != 0 {
		t.Errorf("a first deployment has no baseline to bake against, yet analysed: %+v", as)
	}
}

// A first deployment whose smoke test fails serves nothing: there is no
// version to restore and nothing to revert.
func TestFirstDeploymentSmokeFailure(t *testing.T) {
	h := newHarness(t)
	h.prober.answer(500, `{"error":"boom"}`, time.Millisecond)
	h.run()
	p := canary(gates())
	p.SmokeTest = smokeTest()
	d := deployment("d1", p)
	d.FromVersion = ""
	h.start(d)
	d = h.waitPhase("d1", apitypes.DeployRolledBack)
	h.wantCalls("route fraud nothing", "route fraud fraud/8 0%", "route fraud nothing", release)
	if want := `smoke request "typical" answered status 500, want 200 ({"error":"boom"}); nothing else serves endpoint "fraud"`; d.Reason != want {
		t.Errorf("reason = %q\n want %q", d.Reason, want)
	}
	if r := h.store.revertLog(); len(r) != 0 {
		t.Errorf("reverts = %q; there is nothing to revert to", r)
	}
}

func TestSplitChangeGoesStraightToTheSplit(t *testing.T) {
	h := newHarness(t)
	h.run()
	d := deployment("d1", canary(gates()))
	d.ToVersion = "fraud/7"
	d.TargetSplit = []apitypes.TrafficWeight{{ModelVersion: "fraud/7", Percent: 80}, {ModelVersion: "fraud/9", Percent: 20}}
	h.start(d)
	h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, "route fraud fraud/7 80%, fraud/9 20%", release)
}

func TestNoPolicyIsAllAtOnce(t *testing.T) {
	h := newHarness(t)
	h.run()
	d := deployment("d1", canary(nil))
	d.Policy, d.Strategy = nil, ""
	h.start(d)
	h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, routeFull, release)
}

func TestResumeAfterRestartAtStep2(t *testing.T) {
	h := newHarness(t)
	d := deployment("d1", canary(gates()))
	d.Phase, d.Step = apitypes.DeployProgressing, 2
	d.Traffic = []apitypes.TrafficWeight{{ModelVersion: "fraud/7", Percent: 50}, {ModelVersion: "fraud/8", Percent: 50}}
	d.Events = []apitypes.DeploymentEvent{{Time: t0, Phase: apitypes.DeployProgressing, Step: 2, Message: "step 2 of 3"}}
	h.store.put(d)
	h.traffic.set("fraud/8", 0, 0) // its replicas died with the old server
	h.run()

	// The persisted split is routed at once, and nothing is judged until
	// the candidate is back.
	h.waitTimers(2)
	h.wantCalls(route50)
	h.traffic.set("fraud/8", 1, 0)
	h.clock.Advance(10 * time.Second)
	// The step's bake starts again: one window is not enough to finish it.
	h.window(30*time.Second, h.healthy)
	h.waitTimers(2)
	h.wantCalls(route50)
	h.clock.Advance(30 * time.Second)
	d = h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(route50, routeFull, release)
	if !strings.Contains(d.Events[1].Message, "resumed after a restart with fraud/7 50%, fraud/8 50%") {
		t.Errorf("event after restart = %q", d.Events[1].Message)
	}
	if as := analysisEvents(d); len(as) != 2 {
		t.Errorf("%d analysis events; the resumed step bakes for a full minute (2 windows)", len(as))
	}
}

func TestResumeAwaitingApproval(t *testing.T) {
	h := newHarness(t)
	d := deployment("d1", approvalPolicy())
	d.Phase, d.Step = apitypes.DeployAwaitingApproval, 1
	d.Traffic = []apitypes.TrafficWeight{{ModelVersion: "fraud/7", Percent: 90}, {ModelVersion: "fraud/8", Percent: 10}}
	h.store.put(d)
	h.run()
	h.wantCalls(route10)
	if err := h.eng.Promote(context.Background(), "d1", "alice"); err != nil {
		t.Fatal(err)
	}
	h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(route10, routeFull, release)
}

func TestResumeProvisioningWaitsAgain(t *testing.T) {
	h := newHarness(t)
	d := deployment("d1", canary(nil))
	d.Phase = apitypes.DeployProvisioning
	h.store.put(d)
	h.traffic.set("fraud/8", 0, 0)
	h.run()
	h.waitTimers(2)
	h.wantCalls(routeBase)
	h.traffic.set("fraud/8", 1, 0)
	h.clock.Advance(10 * time.Second)
	h.window(time.Minute, nil)
	h.window(time.Minute, nil)
	h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, route50, routeFull, release)
}

func TestSupersededDeploymentStopsWithoutTouchingTraffic(t *testing.T) {
	h := newHarness(t)
	h.traffic.set("fraud/9", 1, 0)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.waitTimers(2)
	// The server ends d1 and creates d2 in the transaction that changes
	// the endpoint's target again.
	old := h.store.get("d1")
	old.Phase = apitypes.DeployAborted
	h.store.put(old)
	d2 := deployment("d2", canary(nil))
	d2.ToVersion, d2.CreatedAt = "fraud/9", t0.Add(time.Second)
	h.start(d2)
	h.wantCalls(routeBase, route10, routeBase, "route fraud fraud/7 90%, fraud/9 10%") // d1 stopped before d2 started
	h.window(time.Minute, nil)
	h.window(time.Minute, nil)
	h.waitPhase("d2", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, // d1
		routeBase, "route fraud fraud/7 90%, fraud/9 10%", "route fraud fraud/7 50%, fraud/9 50%", "route fraud fraud/9 100%", release) // d2
	if d := h.store.get("d1"); d.Phase != apitypes.DeployAborted {
		t.Errorf("d1 is %s; the engine must not overwrite a record ended elsewhere", d.Phase)
	}
}

func TestRecordEndedElsewhereReleasesTheEndpoint(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.start(deployment("d1", canary(gates())))
	h.waitTimers(2)
	old := h.store.get("d1")
	old.Phase = apitypes.DeployAborted
	h.store.put(old)
	h.eng.Notify("d1")
	h.wantCalls(routeBase, route10, release)
}

func TestPollFindsDeploymentsWithoutNotify(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.waitTimers(1)
	h.store.put(deployment("d1", canary(nil)))
	h.clock.Advance(24 * time.Hour)
	h.window(time.Minute, nil)
	h.window(time.Minute, nil)
	h.waitPhase("d1", apitypes.DeploySucceeded)
	h.wantCalls(routeBase, route10, route50, routeFull, release)
}

func TestControlWithoutRun(t *testing.T) {
	h := newHarness(t)
	if err := h.eng.Promote(context.Background(), "d1", "alice"); apitypes.ErrorCode(err) != apitypes.CodeUnavailable {
		t.Errorf("promote before Run = %v, want unavailable", err)
	}
}

// TestRollbackLatency measures, on the wall clock, the time from the
// failing analysis to the Route that puts all traffic back on the previous
// version. With in-memory fakes this is the engine's own overhead; the e2e
// suite measures it through the real gateway.
func TestRollbackLatency(t *testing.T) {
	h := newHarness(t)
	h.eng = rollout.New(rollout.Config{Store: h.store, Traffic: h.traffic, Metrics: h.metrics, Prober: h.prober})
	h.metrics.serve("fraud/8", 100, 100, 10*time.Millisecond) // counted before the first window: harmless
	h.run()
	p := canary(&apitypes.Analysis{Interval: "100ms", MinRequests: 10, MaxErrorRate: ptr(0.01)})
	h.start(deployment("d1", p))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a failing candidate under live load
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				h.metrics.serve("fraud/8", 1, 1, 10*time.Millisecond)
			}
		}
	}()
	d := h.waitPhase("d1", apitypes.DeployRolledBack)
	lat, ok := rollout.RollbackLatency(d)
	if !ok {
		t.Fatalf("no rollback latency in %+v", d.Events)
	}
	var failing time.Time
	for _, e := range d.Events {
		if e.Metrics != nil && e.Metrics.Verdict == rollout.VerdictFail {
			failing = e.Time
		}
	}
	h.traffic.mu.Lock()
	routed := h.traffic.at[2] // base, 90/10, base
	h.traffic.mu.Unlock()
	toRoute := routed.Sub(failing)
	t.Logf("rollback: failing analysis → Route(previous 100%%) %v; → rolled_back event %v", toRoute, lat)
	if toRoute < 0 || toRoute > 50*time.Millisecond || lat > 50*time.Millisecond {
		t.Errorf("rollback took %v (route) / %v (event); want well under 50ms with in-memory fakes", toRoute, lat)
	}
}
