package soak_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// killVersions are the versions the kill soak moves its endpoints between:
// four good ones, one whose smoke test fails (rolled back) and one that
// cannot start (failed).
var killGood = map[string]float64{"m/1": 110, "m/2": 210, "m/3": 310, "m/4": 410}

const (
	killBroken      = "m/broken"
	killUnstartable = "m/unstartable"
)

// snapshot is what the API had acknowledged just before a kill.
type snapshot struct {
	deployments map[string]apitypes.Deployment
	ledger      []apitypes.AuditEvent
}

func (s *server) snapshot(t *testing.T, endpoints []string) snapshot {
	t.Helper()
	snap := snapshot{deployments: map[string]apitypes.Deployment{}}
	for _, name := range endpoints {
		ds, err := s.deployments(name)
		if err != nil {
			t.Fatalf("listing deployments of %s: %v", name, err)
		}
		for _, d := range ds {
			snap.deployments[d.ID] = d
		}
	}
	var err error
	if snap.ledger, err = s.ledger(0); err != nil {
		t.Fatalf("listing the ledger: %v", err)
	}
	return snap
}

// killStats counts what the kill soak did.
type killStats struct {
	kills, recoveryKills int
	startupKills         int // of a server not yet healthy
	rollouts             int // acknowledged by the API
	inflight, inflightOK int // updates racing the kill, and how many were answered
	aborts, supersedes   int
	modes, phases        map[string]int
	ledger               int
	restart              time.Duration // total time from kill to healthy
}

// kill -9 the server at random points across many rollouts. After each
// restart nothing acknowledged is lost, the ledger verifies, every
// endpoint ends in a terminal, consistent state and serves what it says,
// and no replica outlives the server that started it.
func TestSoakKillServerDuringRollouts(t *testing.T) {
	cfg := config(t)
	rng := cfg.rng(t)
	kills := cfg.count(t, "SLIPWAY_SOAK_KILLS", 50)
	start := time.Now()

	s := startServer(t, serverOpts{})
	for id, want := range killGood {
		s.registerONNX(t, id, float32(want-10))
	}
	script := s.registerCandidate(t, killBroken, "--fail")
	s.registerUnstartable(t, killUnstartable)
	for _, p := range []*apitypes.DeploymentPolicy{
		{Name: "now", Strategy: "all_at_once", SmokeTest: smoke200},
		{
			Name: "canary", Strategy: "canary", SmokeTest: smoke200,
			Steps: []apitypes.CanaryStep{{TrafficPercent: 20, Bake: "300ms"}, {TrafficPercent: 50, Bake: "300ms"}},
			Analysis: &apitypes.Analysis{
				Interval: "100ms", MinRequests: 3, MaxErrorRate: ptr(0.01), MaxLatencyP99: "2s",
			},
		},
		{
			Name: "shadow-linear", Strategy: "linear", SmokeTest: smoke200,
			Shadow:   &apitypes.Shadow{TrafficPercent: 50, Duration: "300ms"},
			Linear:   &apitypes.Linear{StepPercent: 50, Interval: "300ms"},
			Analysis: &apitypes.Analysis{Interval: "100ms", MinRequests: 3, MaxErrorRate: ptr(0.01), MaxLatencyP99: "2s"},
		},
		{Name: "bluegreen", Strategy: "blue_green", SmokeTest: smoke200, BlueGreen: &apitypes.BlueGreen{TerminationWait: "500ms"}},
	} {
		if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	endpoints := []string{"alpha", "beta"}
	for _, name := range endpoints {
		// beta runs two replicas: rollouts and restarts must keep both.
		r := apitypes.Replicas{Min: 1, Max: 1}
		if name == "beta" {
			r = apitypes.Replicas{Min: 2, Max: 2}
		}
		if _, err := s.API.CreateEndpoint(ctx(t), &apitypes.Endpoint{Name: name, ModelVersion: "m/1", DeploymentPolicy: "now", Replicas: r}); err != nil {
			t.Fatal(err)
		}
		s.WaitServing(t, name, map[string]int{"m/1": 100})
	}
	// The /proc scan must see the 3 `slipway worker`s of alpha and beta,
	// or the orphan checks below would be blind.
	eventually(t, "3 replica processes", 30*time.Second, func() bool { return len(replicas(script)) == 3 })

	st := killStats{modes: map[string]int{}, phases: map[string]int{}}
	acked := map[string]string{} // deployment id → endpoint, as the API returned them
	for round := range kills {
		var (
			inflight chan *apitypes.Endpoint
			racing   *apitypes.Endpoint // the update to send as the kill comes
		)
		mode := pick(rng, []string{"after-ack", "mid-rollout", "mid-rollout", "in-flight-update", "in-flight-update"})
		// Every round starts a rollout on alpha, every other one on beta too.
		for i, name := range endpoints {
			if i > 0 && rng.IntN(2) == 0 {
				continue
			}
			e, err := s.getEndpoint(name)
			if err != nil {
				t.Fatal(err)
			}
			e.ModelVersion, e.DeploymentPolicy = killTarget(rng, e.ModelVersion), pick(rng, []string{"now", "canary", "shadow-linear", "bluegreen"})
			if mode == "in-flight-update" && i == 0 {
				racing = e
				continue
			}
			if _, err := call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, e) }); err != nil {
				t.Fatalf("round %d: retargeting %s to %s: %v", round, name, e.ModelVersion, err)
			}
			ds, err := s.deployments(name)
			if err != nil || len(ds) == 0 || ds[0].ToVersion != e.ModelVersion {
				t.Fatalf("round %d: no deployment of %s to %s listed (%v): %s", round, name, e.ModelVersion, err, jsonString(ds))
			}
			acked[ds[0].ID] = name
			st.rollouts++
			if rng.IntN(10) == 0 {
				// An operator aborts now and then.
				_, _ = call(func(c context.Context) (*apitypes.Deployment, error) { return s.API.AbortDeployment(c, ds[0].ID) })
				st.aborts++
			}
		}
		var delay time.Duration
		switch mode {
		case "mid-rollout":
			delay = time.Duration(rng.IntN(1500)) * time.Millisecond
			if rng.IntN(4) == 0 {
				// A second change of target supersedes alpha's rollout
				// before the kill.
				time.Sleep(delay / 2)
				delay -= delay / 2
				e, err := s.getEndpoint("alpha")
				if err != nil {
					t.Fatal(err)
				}
				e.ModelVersion, e.DeploymentPolicy = killTarget(rng, e.ModelVersion), pick(rng, []string{"now", "canary", "shadow-linear", "bluegreen"})
				if _, err := call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, e) }); err != nil {
					t.Fatalf("round %d: superseding alpha's rollout with %s: %v", round, e.ModelVersion, err)
				}
				ds, err := s.deployments("alpha")
				if err != nil || len(ds) == 0 || ds[0].ToVersion != e.ModelVersion {
					t.Fatalf("round %d: no deployment of alpha to %s listed (%v): %s", round, e.ModelVersion, err, jsonString(ds))
				}
				acked[ds[0].ID] = "alpha"
				st.rollouts++
				st.supersedes++
			}
		case "in-flight-update":
			delay = time.Duration(rng.IntN(8000)) * time.Microsecond
		}
		var snap snapshot
		if racing != nil {
			// The kill races this update: it may or may not be
			// committed, but never half, and if it was answered it
			// stays.
			snap = s.snapshot(t, endpoints)
			inflight = make(chan *apitypes.Endpoint, 1)
			go func() {
				out, err := call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, racing) })
				if err != nil {
					out = nil
				}
				inflight <- out
			}()
			st.inflight++
			time.Sleep(delay)
		} else {
			time.Sleep(delay)
			snap = s.snapshot(t, endpoints)
		}
		st.modes[mode]++
		killedAt := time.Now()
		s.kill()
		st.kills++
		var committed *apitypes.Endpoint // the racing update, if it was answered
		if inflight != nil {
			if committed = <-inflight; committed != nil {
				st.inflightOK++
			}
		}
		eventually(t, "every replica of the killed server to die", 10*time.Second, func() bool { return len(replicas(script)) == 0 })

		if rng.IntN(10) == 0 {
			// Now and then the new server is killed again before it is
			// even healthy: startup and recovery must be crash-safe too.
			early := startServer(t, serverOpts{DataDir: s.DataDir, APIAddr: s.APIAddr, GWAddr: s.GWAddr, NoWait: true})
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			early.kill()
			st.kills++
			st.startupKills++
			eventually(t, "every replica of the killed server to die", 10*time.Second, func() bool { return len(replicas(script)) == 0 })
		}
		s = s.restart(t)
		st.restart += time.Since(killedAt)
		if rng.IntN(8) == 0 {
			// ... or while it resumes the deployments it found running.
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			s.kill()
			st.kills++
			st.recoveryKills++
			eventually(t, "every replica of the killed server to die", 10*time.Second, func() bool { return len(replicas(script)) == 0 })
			s = s.restart(t)
		}
		if committed != nil {
			// Answered before the kill: its deployment must be there.
			ds, err := s.deployments(committed.Name)
			if err != nil || !slices.ContainsFunc(ds, func(d apitypes.Deployment) bool {
				return d.EndpointRevision == committed.Revision && d.ToVersion == committed.ModelVersion
			}) {
				t.Fatalf("round %d: the update of %s to %s (revision %d) was answered before the kill, but its deployment is gone (%v): %s",
					round, committed.Name, committed.ModelVersion, committed.Revision, err, jsonString(ds))
			}
		}
		s.checkAfterRestart(t, round, mode, snap, endpoints, script)
		for id, name := range acked {
			if _, ok := snap.deployments[id]; !ok {
				t.Fatalf("round %d: deployment %s of %s was acknowledged by the API but not listed before the kill", round, id, name)
			}
		}
	}

	// Every acknowledged deployment is still there, finished.
	for id := range acked {
		d := s.waitTerminal(t, id, 60*time.Second)
		st.phases[d.Phase]++
	}
	all, err := s.ledger(0)
	if err != nil {
		t.Fatal(err)
	}
	st.ledger = len(all)
	if st.rollouts+st.inflight < kills {
		t.Errorf("%d rollouts for %d kills; every kill should hit at least one", st.rollouts+st.inflight, kills)
	}
	t.Logf("SOAK kill: %d kills (%s; %d more during recovery, %d before healthy), %d acknowledged rollouts + %d racing the kill (%d of them answered), %d aborts requested, %d superseding updates, outcomes %s, %d ledger events; "+
		"mean kill → healthy %v; wall %v; seed %d",
		st.kills, sortedKeys(st.modes), st.recoveryKills, st.startupKills, st.rollouts, st.inflight, st.inflightOK, st.aborts, st.supersedes, sortedKeys(st.phases), st.ledger,
		(st.restart / time.Duration(max(kills, 1))).Round(time.Millisecond), time.Since(start).Round(time.Second), cfg.seed)
}

// killTarget picks the next target: mostly a good version other than the
// current one, sometimes a bad one.
func killTarget(rng *rand.Rand, current string) string {
	switch n := rng.IntN(20); {
	case n < 2:
		return killBroken
	case n < 3:
		return killUnstartable
	}
	var good []string
	for _, v := range slices.Sorted(maps.Keys(killGood)) {
		if v != current {
			good = append(good, v)
		}
	}
	return pick(rng, good)
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// checkAfterRestart asserts, on the restarted server, that nothing in snap
// was lost and that every endpoint settles consistently.
func (s *server) checkAfterRestart(t *testing.T, round int, mode string, snap snapshot, endpoints []string, scripts ...string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("round %d (kill %s): %s", round, mode, fmt.Sprintf(format, args...))
	}
	// No ledger event lost or changed: what was listed is a prefix of
	// what is there now.
	after, err := s.ledger(0)
	if err != nil {
		fail("listing the ledger after the restart: %v", err)
	}
	if len(after) < len(snap.ledger) {
		fail("ledger has %d events after the restart, %d before the kill", len(after), len(snap.ledger))
	}
	for i, e := range snap.ledger {
		if a := after[i]; a.Seq != e.Seq || a.Hash != e.Hash {
			fail("ledger event %d was seq %d hash %s before the kill, seq %d hash %s after", i, e.Seq, e.Hash, a.Seq, a.Hash)
		}
	}
	// No deployment lost; a finished one is unchanged; a running one keeps
	// every event it had.
	for id, before := range snap.deployments {
		d, err := call(func(c context.Context) (*apitypes.Deployment, error) { return s.API.GetDeployment(c, id) })
		if err != nil {
			fail("deployment %s (%s, listed before the kill) after the restart: %v", id, before.Phase, err)
		}
		if apitypes.DeploymentTerminal(before.Phase) && (d.Phase != before.Phase || d.Reason != before.Reason) {
			fail("deployment %s was %s (%q) before the kill, %s (%q) after", id, before.Phase, before.Reason, d.Phase, d.Reason)
		}
		if len(d.Events) < len(before.Events) {
			fail("deployment %s had %d events before the kill, %d after", id, len(before.Events), len(d.Events))
		}
		for i, e := range before.Events {
			if a := d.Events[i]; a.Phase != e.Phase || a.Message != e.Message || a.Step != e.Step || !a.Time.Equal(e.Time) {
				fail("deployment %s event %d was %s before the kill, %s after", id, i, jsonString(e), jsonString(a))
			}
		}
	}
	// Every deployment finishes.
	eventually(t, fmt.Sprintf("round %d: every deployment to finish after the restart", round), 90*time.Second, func() bool {
		ds, err := call(func(c context.Context) ([]apitypes.Deployment, error) {
			return s.API.ListDeployments(c, client.DeploymentListOptions{Active: true})
		})
		return err == nil && len(ds) == 0
	})
	// Each endpoint's target is what its last deployment left, and that is
	// what serves.
	var wantReplicas int
	for _, name := range endpoints {
		ds, err := s.deployments(name)
		if err != nil || len(ds) == 0 {
			fail("deployments of %s: %v %s", name, err, jsonString(ds))
		}
		last := ds[0]
		e, err := s.getEndpoint(name)
		if err != nil {
			fail("endpoint %s: %v", name, err)
		}
		want := last.FromVersion
		if last.Phase == apitypes.DeploySucceeded {
			want = last.ToVersion
		}
		if e.ModelVersion != want || len(e.TrafficSplit) != 0 {
			fail("endpoint %s targets %s (split %v) but its last deployment %s %s→%s ended %s (%s)",
				name, e.ModelVersion, e.TrafficSplit, last.ID, last.FromVersion, last.ToVersion, last.Phase, last.Reason)
		}
		if _, ok := killGood[want]; !ok {
			fail("endpoint %s targets %s, which cannot serve", name, want)
		}
		if got := s.WaitServing(t, name, map[string]int{want: 100}); got.Status.CurrentDeployment != last.ID {
			fail("endpoint %s status names deployment %q, but its last one is %s (%s)", name, got.Status.CurrentDeployment, last.ID, last.Phase)
		}
		// The route may lag the status by one reconciliation.
		eventually(t, fmt.Sprintf("round %d: %s to answer from %s", round, name, want), 30*time.Second, func() bool {
			a, err := s.infer(name)
			return check(a, err, map[string]float64{want: killGood[want]}) == ""
		})
		for range 5 {
			a, err := s.infer(name)
			if bad := check(a, err, map[string]float64{want: killGood[want]}); bad != "" {
				fail("endpoint %s should serve only %s: %s", name, want, bad)
			}
		}
		wantReplicas += max(e.Replicas.Min, 1)
	}
	// No orphans: every replica is a child of this server, and only the
	// serving versions' replicas are left.
	if o := orphans(s.PID(), scripts...); len(o) > 0 {
		fail("replicas not started by the running server %d: %v", s.PID(), o)
	}
	eventually(t, fmt.Sprintf("round %d: only the %d serving replicas to run", round, wantReplicas), 30*time.Second, func() bool {
		return len(replicas(scripts...)) == wantReplicas
	})
	s.auditVerify(t)
}

// sortedKeys is for stable log lines.
func sortedKeys(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprintf("%s=%d", k, m[k]))
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}
