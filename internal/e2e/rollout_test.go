package e2e_test

import (
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/rollout"
)

// registerCandidate registers a process-runtime version running
// realserver.CandidatePy with args.
func (s *server) registerCandidate(t *testing.T, id string, args ...string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	s.RegisterCandidate(t, id, python, args...)
}

// rolloutPolicy is a quick canary: 10 % then 50 %, each baked for bake,
// analysed every interval.
func rolloutPolicy(name string, bake, interval time.Duration) *apitypes.DeploymentPolicy {
	return &apitypes.DeploymentPolicy{
		Name: name, Strategy: "canary",
		Steps: []apitypes.CanaryStep{{TrafficPercent: 10, Bake: bake.String()}, {TrafficPercent: 50, Bake: bake.String()}},
		Analysis: &apitypes.Analysis{
			Interval: interval.String(), MinRequests: 5,
			MaxErrorRate: ptr(0.01), MaxLatencyP99: "250ms",
		},
		LeadTimeObjective: "1h",
	}
}

func ptr[T any](v T) *T { return &v }

// hit is one request of liveLoad.
type hit struct {
	sent    time.Time
	status  int
	version string // Slipway-Served-Version
}

// liveLoad sends linearInput to the endpoint from n goroutines, pausing
// pause between requests, until stopped; stop returns every request.
func liveLoad(url string, n int, pause time.Duration) (stop func() []hit) {
	var (
		mu   sync.Mutex
		hits []hit
		wg   sync.WaitGroup
		end  atomic.Bool
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !end.Load() {
				sent := time.Now()
				a, err := post(url, linearInput, nil)
				h := hit{sent: sent, status: a.status}
				if err == nil {
					h.version = a.header.Get(gateway.HeaderServedVersion)
				}
				mu.Lock()
				hits = append(hits, h)
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	return func() []hit {
		end.Store(true)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		slices.SortFunc(hits, func(a, b hit) int { return a.sent.Compare(b.sent) })
		return hits
	}
}

// retarget points the endpoint at version under policy and returns the
// deployment that started.
func (s *server) retarget(t *testing.T, name, version, policy string) *apitypes.Deployment {
	t.Helper()
	e, err := s.getEndpoint(name)
	if err != nil {
		t.Fatal(err)
	}
	e.ModelVersion, e.DeploymentPolicy = version, policy
	if _, err := s.API.UpdateEndpoint(ctx(t), e); err != nil {
		t.Fatalf("retargeting %s to %s: %v", name, version, err)
	}
	ds, err := s.API.ListDeployments(ctx(t), client.DeploymentListOptions{Endpoint: name, Limit: 1})
	if err != nil || len(ds) == 0 || ds[0].ToVersion != version {
		t.Fatalf("no deployment to %s recorded (%v): %s", version, err, jsonString(ds))
	}
	return &ds[0]
}

// waitDeployment polls deployment id until cond holds.
func (s *server) waitDeployment(t *testing.T, id, what string, timeout time.Duration, cond func(*apitypes.Deployment) bool) *apitypes.Deployment {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *apitypes.Deployment
	for {
		d, err := s.API.GetDeployment(ctx(t), id)
		if err == nil {
			last = d
			if cond(d) {
				return d
			}
			if apitypes.DeploymentTerminal(d.Phase) {
				t.Fatalf("deployment %s ended %s (%s) while waiting for %s; events %s", id, d.Phase, d.Reason, what, jsonString(d.Events))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s: timed out after %s waiting for %s; last %s (err %v)", id, timeout, what, jsonString(last), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) waitPhase(t *testing.T, id, phase string, timeout time.Duration) *apitypes.Deployment {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, err := s.API.GetDeployment(ctx(t), id)
		if err == nil && d.Phase == phase {
			return d
		}
		if err == nil && apitypes.DeploymentTerminal(d.Phase) {
			t.Fatalf("deployment %s ended %s, want %s: %q; events %s", id, d.Phase, phase, d.Reason, jsonString(d.Events))
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s not %s after %s: %s (err %v)", id, phase, timeout, jsonString(d), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditVerify runs `slipway audit verify` against the server.
func (s *server) auditVerify(t *testing.T) {
	t.Helper()
	cmd := exec.Command(slipwayBin, "audit", "verify")
	cmd.Env = append(os.Environ(), "SLIPWAY_ADDR=http://"+s.APIAddr, "SLIPWAY_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hash chain intact") {
		t.Fatalf("slipway audit verify: %v\n%s", err, out)
	}
}

func stepsSeen(d *apitypes.Deployment) []int {
	var steps []int
	for _, e := range d.Events {
		if e.Phase == apitypes.DeployProgressing && !slices.Contains(steps, e.Step) {
			steps = append(steps, e.Step)
		}
	}
	return steps
}

func phasesSeen(d *apitypes.Deployment) []string {
	var out []string
	for _, e := range d.Events {
		if len(out) == 0 || out[len(out)-1] != e.Phase {
			out = append(out, e.Phase)
		}
	}
	return out
}

// A canary of a good version under live load walks 10 % → 50 % → 100 %,
// every analysis passing, and no request fails on the way.
func TestCanaryRolloutSucceeds(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.RegisterONNX(t, "fraud/2", linear(biasV2))
	p := rolloutPolicy("canary", 300*time.Millisecond, 100*time.Millisecond)
	p.SmokeTest = &apitypes.SmokeTest{Requests: []apitypes.SmokeRequest{{Name: "sum of 1..4", Body: linearInput, ExpectOutputs: []float64{wantV2}, Tolerance: 1e-3}}}
	if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	stop := liveLoad(s.inferURL("fraud"), 4, 5*time.Millisecond)
	d := s.retarget(t, "fraud", "fraud/2", p.Name)
	d = s.waitDeployment(t, d.ID, "success", 60*time.Second, func(d *apitypes.Deployment) bool { return d.Phase == apitypes.DeploySucceeded })
	hits := stop()

	want := []string{apitypes.DeployPending, apitypes.DeployProvisioning, apitypes.DeploySmokeTesting, apitypes.DeployProgressing, apitypes.DeploySucceeded}
	if got := phasesSeen(d); !slices.Equal(got, want) {
		t.Errorf("phases = %v, want %v", got, want)
	}
	if got := stepsSeen(d); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("steps = %v, want [1 2 3] (10%%, 50%%, 100%%)", got)
	}
	var analyses int
	for _, e := range d.Events {
		if m := e.Metrics; m != nil {
			analyses++
			if m.Verdict == rollout.VerdictFail {
				t.Errorf("analysis failed: %s", e.Message)
			}
		}
	}
	if analyses < 4 {
		t.Errorf("%d analyses; two 300ms bakes analysed every 100ms make at least 4", analyses)
	}
	if d.LeadTimeObjectiveMet == nil || !*d.LeadTimeObjectiveMet {
		t.Errorf("lead time objective met = %v", d.LeadTimeObjectiveMet)
	}
	e := s.WaitServing(t, "fraud", map[string]int{"fraud/2": 100})
	if e.Status.CurrentDeployment != d.ID {
		t.Errorf("status.current_deployment = %q, want %q", e.Status.CurrentDeployment, d.ID)
	}
	byVersion := map[string]int{}
	for _, h := range hits {
		if h.status != http.StatusOK {
			t.Errorf("a request failed during the rollout: %+v", h)
			break
		}
		byVersion[h.version]++
	}
	if byVersion["fraud/1"] == 0 || byVersion["fraud/2"] == 0 {
		t.Errorf("answers by version = %v; both must have served during the canary", byVersion)
	}
	t.Logf("canary took %s; %d analyses; answers %v", d.FinishedAt.Sub(d.CreatedAt).Round(time.Millisecond), analyses, byVersion)
	eventually(t, "fraud/1's worker to stop", 10*time.Second, func() bool { return len(workers(t, s.PID(), "fraud/1")) == 0 })
	s.auditVerify(t)
}

// A canary to a version that answers 500s, or too slowly, is rolled back
// on the first failing analysis: traffic and the endpoint's target are
// back on the old version, with the reason, and the ledger verifies.
func TestCanaryOfABadVersionRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		gate   string // a word the reason has
		reason string // how the reason ends
	}{
		// "error rate 100.0% > 1.0%", or when the first window is thin
		// "3 errors in 3 requests already exceed the 1.0% error rate ...".
		{"errors", []string{"--fail"}, "error", "at step 1 (10% traffic); traffic restored to fraud/1"},
		{"slow", []string{"--delay-ms", "300"}, "p99", "> 250ms at step 1 (10% traffic); traffic restored to fraud/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{})
			s.RegisterONNX(t, "fraud/1", linear(biasV1))
			s.registerCandidate(t, "fraud/2", append([]string{"--bias", "200"}, tc.args...)...)
			p := rolloutPolicy("canary", 2*time.Second, 100*time.Millisecond)
			if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

			stop := liveLoad(s.inferURL("fraud"), 4, 5*time.Millisecond)
			d := s.retarget(t, "fraud", "fraud/2", p.Name)
			d = s.waitPhase(t, d.ID, apitypes.DeployRolledBack, 60*time.Second)
			time.Sleep(300 * time.Millisecond) // requests after the rollback
			hits := stop()

			if !strings.HasSuffix(d.Reason, tc.reason) || !strings.Contains(d.Reason, tc.gate) {
				t.Errorf("reason = %q, want it to name %q and end %q", d.Reason, tc.gate, tc.reason)
			}
			if got := stepsSeen(d); !slices.Equal(got, []int{1}) {
				t.Errorf("steps = %v; the first step's analysis must stop it", got)
			}
			e := s.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
			if e.ModelVersion != "fraud/1" || e.Status.CurrentDeployment != d.ID || !strings.HasSuffix(e.Status.Message, tc.reason) {
				t.Errorf("endpoint after rollback: target %s, deployment %q, message %q", e.ModelVersion, e.Status.CurrentDeployment, e.Status.Message)
			}
			// After the rollback event, only fraud/1 answers.
			var after []string
			for _, h := range hits {
				if h.sent.After(*d.FinishedAt) && h.version != "fraud/1" {
					after = append(after, jsonString(h.version)+" "+http.StatusText(h.status))
				}
			}
			if len(after) > 0 {
				t.Errorf("%d requests sent after the rollback were not answered by fraud/1: %v", len(after), after[:min(len(after), 5)])
			}
			eventually(t, "the candidate's process to stop", 10*time.Second, func() bool { return len(children(t, s.PID())) == 1 })

			events, err := s.API.ListAuditEvents(ctx(t), client.AuditListOptions{ObjectType: apitypes.ObjectEndpoint, ObjectID: "fraud"})
			if err != nil {
				t.Fatal(err)
			}
			last := events[len(events)-1]
			if last.Actor != "slipway" || !strings.Contains(string(last.Before), `"model_version":"fraud/2"`) || !strings.Contains(string(last.After), `"model_version":"fraud/1"`) {
				t.Errorf("last endpoint event = %s; want the server's revert fraud/2 → fraud/1", jsonString(last))
			}
			s.auditVerify(t)
		})
	}
}

// A rollout that needs approval parks before full traffic with the
// canary split live; a promote through the API finishes it, recorded with
// who promoted.
func TestApprovalPromoteThroughTheAPI(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.RegisterONNX(t, "fraud/2", linear(biasV2))
	p := rolloutPolicy("gated", 300*time.Millisecond, 100*time.Millisecond)
	p.Steps = p.Steps[:1]
	p.Approval = &apitypes.Approval{Required: true}
	if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	stop := liveLoad(s.inferURL("fraud"), 2, 5*time.Millisecond)
	defer stop()
	d := s.retarget(t, "fraud", "fraud/2", p.Name)
	d = s.waitPhase(t, d.ID, apitypes.DeployAwaitingApproval, 30*time.Second)
	s.WaitEndpoint(t, "fraud", "the 90/10 canary to hold while awaiting approval", 10*time.Second, func(e *apitypes.Endpoint) bool {
		return e.Status.Phase == apitypes.PhaseDeploying && e.Status.CurrentDeployment == d.ID && len(e.Status.Traffic) == 2 &&
			e.Status.Traffic[0].Percent == 90 && e.Status.Traffic[1].Percent == 10
	})
	time.Sleep(500 * time.Millisecond)
	if got, _ := s.API.GetDeployment(ctx(t), d.ID); got.Phase != apitypes.DeployAwaitingApproval {
		t.Fatalf("deployment moved on without approval: %s", got.Phase)
	}

	if _, err := s.API.PromoteDeployment(ctx(t), d.ID); err != nil {
		t.Fatalf("promote: %v", err)
	}
	d = s.waitPhase(t, d.ID, apitypes.DeploySucceeded, 30*time.Second)
	var by string
	for _, e := range d.Events {
		if strings.HasPrefix(e.Message, "promoted by ") {
			by = e.Actor
		}
	}
	if by == "" {
		t.Errorf("no promotion event with its actor: %s", jsonString(d.Events))
	}
	s.WaitServing(t, "fraud", map[string]int{"fraud/2": 100})
	if _, err := s.API.PromoteDeployment(ctx(t), d.ID); apitypes.ErrorCode(err) != apitypes.CodeConflict {
		t.Errorf("promoting a finished deployment = %v, want a conflict", err)
	}
	events, err := s.API.ListAuditEvents(ctx(t), client.AuditListOptions{ObjectType: apitypes.ObjectDeployment, ObjectID: d.ID})
	if err != nil || len(events) != 1 || events[0].Action != "promote" || events[0].Actor != by {
		t.Errorf("ledger events of the deployment = %s (%v); want one promote by %q", jsonString(events), err, by)
	}
	s.auditVerify(t)
}

// kill -9 of the server in the middle of a canary: the restarted server
// resumes the deployment from the split it had persisted and ends it in a
// consistent state, never a mix, and the ledger verifies.
func TestServerKilledMidCanaryResumes(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.RegisterONNX(t, "fraud/2", linear(biasV2))
	p := rolloutPolicy("canary", 3*time.Second, 250*time.Millisecond)
	if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	stop := liveLoad(s.inferURL("fraud"), 2, 5*time.Millisecond)
	d := s.retarget(t, "fraud", "fraud/2", p.Name)
	d = s.waitDeployment(t, d.ID, "the first analysis of step 1", 30*time.Second, func(d *apitypes.Deployment) bool {
		for _, e := range d.Events {
			if e.Metrics != nil && e.Step == 1 {
				return true
			}
		}
		return false
	})
	s.Kill()
	stop()
	killedAt := d.Step

	s2 := startServer(t, serverOpts{DataDir: s.DataDir, APIAddr: s.APIAddr, GWAddr: s.GWAddr})
	stop = liveLoad(s2.inferURL("fraud"), 2, 5*time.Millisecond)
	defer stop()
	// While the restarted server resumes, the status shows only splits the
	// plan has: the persisted one, then later steps or the rollback.
	allowed := []map[string]int{{"fraud/1": 100}, {"fraud/1": 90, "fraud/2": 10}, {"fraud/1": 50, "fraud/2": 50}, {"fraud/2": 100}}
	var final *apitypes.Deployment
	deadline := time.Now().Add(60 * time.Second)
	for final == nil {
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s did not end within 60s of the restart", d.ID)
		}
		if e, err := s2.getEndpoint("fraud"); err == nil {
			got := map[string]int{}
			for _, tr := range e.Status.Traffic {
				got[tr.ModelVersion] = tr.Percent
			}
			if len(got) > 0 && !slices.ContainsFunc(allowed, func(w map[string]int) bool { return maps.Equal(w, got) }) {
				t.Fatalf("status traffic %v is no split of the plan", got)
			}
		}
		if cur, err := s2.API.GetDeployment(ctx(t), d.ID); err == nil && apitypes.DeploymentTerminal(cur.Phase) {
			final = cur
		}
		time.Sleep(25 * time.Millisecond)
	}
	var resumed bool
	for _, e := range final.Events {
		resumed = resumed || strings.HasPrefix(e.Message, "resumed after a restart")
	}
	if !resumed {
		t.Errorf("no event says the deployment resumed: %s", jsonString(final.Events))
	}
	switch final.Phase {
	case apitypes.DeploySucceeded:
		s2.WaitServing(t, "fraud", map[string]int{"fraud/2": 100})
	case apitypes.DeployRolledBack:
		s2.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
	default:
		t.Fatalf("deployment ended %s: %s", final.Phase, final.Reason)
	}
	e, _ := s2.getEndpoint("fraud")
	if want := final.Traffic[0].ModelVersion; e.ModelVersion != want {
		t.Errorf("endpoint target %s but %s serves", e.ModelVersion, want)
	}
	t.Logf("killed at step %d; after the restart the deployment %s (%s)", killedAt, final.Phase, final.Reason)
	s2.auditVerify(t)
}

// TestRollbackTime measures how fast a failing canary is taken out of
// traffic, with a 250ms analysis interval: the candidate serves half the
// traffic well, then starts answering 500s at a known instant.
//
//   - detection: from the first bad answer to the failing analysis;
//   - rollback: from the failing analysis to all traffic on the previous
//     version (the engine's own stamp, and the last request the candidate
//     answered as the client saw it).
func TestRollbackTime(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	trigger := filepath.Join(t.TempDir(), "fail-now")
	s.registerCandidate(t, "fraud/2", "--bias", "200", "--fail-when", trigger)
	p := rolloutPolicy("canary", time.Minute, 250*time.Millisecond)
	p.Steps = []apitypes.CanaryStep{{TrafficPercent: 50, Bake: "1m"}}
	if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	stop := liveLoad(s.inferURL("fraud"), 4, 5*time.Millisecond)
	d := s.retarget(t, "fraud", "fraud/2", p.Name)
	s.waitDeployment(t, d.ID, "two passing analyses at 50%", 30*time.Second, func(d *apitypes.Deployment) bool {
		n := 0
		for _, e := range d.Events {
			if e.Metrics != nil && e.Metrics.Verdict == rollout.VerdictPass {
				n++
			}
		}
		return n >= 2
	})
	if err := os.WriteFile(trigger, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	badFrom := time.Now()
	d = s.waitPhase(t, d.ID, apitypes.DeployRolledBack, 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	hits := stop()

	var failing time.Time
	for _, e := range d.Events {
		if e.Metrics != nil && e.Metrics.Verdict == rollout.VerdictFail {
			failing = e.Time
		}
	}
	engine, ok := rollout.RollbackLatency(d)
	if !ok || failing.IsZero() {
		t.Fatalf("no failing analysis in %s", jsonString(d.Events))
	}
	var lastCandidate time.Time
	var afterFailing, candidateAfter int
	for _, h := range hits {
		if h.version == "fraud/2" {
			lastCandidate = h.sent
		}
		if h.sent.After(failing) {
			afterFailing++
			if h.version == "fraud/2" {
				candidateAfter++
			}
		}
	}
	detection := failing.Sub(badFrom)
	observed := max(lastCandidate.Sub(failing), 0)
	t.Logf("rollback time with a 250ms analysis interval: failing analysis → Route(fraud/1 100%%) returned and recorded in %v (engine stamps, server clock); "+
		"client view: the last request the candidate answered was sent %v after the failing analysis (%d of %d requests sent after it reached the candidate); "+
		"detection (candidate turns bad → failing analysis) %v; candidate turns bad → its last answer %v; reason %q",
		engine, lastCandidate.Sub(failing).Round(time.Millisecond), candidateAfter, afterFailing, detection.Round(time.Millisecond),
		lastCandidate.Sub(badFrom).Round(time.Millisecond), d.Reason)
	if engine > time.Second || observed > time.Second {
		t.Errorf("rollback took %v (engine) / %v (client view); the target is at most 1s", engine, observed)
	}
	if detection > 2*time.Second {
		t.Errorf("detection took %v with a 250ms interval", detection)
	}
}
