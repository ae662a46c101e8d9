package soak_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// loadStats is what liveLoad saw.
type loadStats struct {
	requests  int
	byVersion map[string]int
	failures  []string // what was wrong with each failed request
}

// liveLoad sends linearInput to the endpoint from n goroutines, pausing
// pause between requests, until stopped; every answer must be a 200 with
// the value of the version that says it answered.
func (s *server) liveLoad(endpoint string, n int, pause time.Duration, want map[string]float64) (stop func() loadStats) {
	var (
		mu  sync.Mutex
		st  = loadStats{byVersion: map[string]int{}}
		wg  sync.WaitGroup
		end atomic.Bool
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !end.Load() {
				sent := time.Now()
				a, err := s.infer(endpoint)
				bad := check(a, err, want)
				mu.Lock()
				st.requests++
				if bad == "" {
					st.byVersion[a.version]++
				} else {
					st.failures = append(st.failures, sent.Format("15:04:05.000")+" "+bad)
				}
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	return func() loadStats {
		end.Store(true)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return st
	}
}

// Rollouts and rollbacks, one after the other, under continuous load
// through the gateway: good versions go out with every strategy, bad ones
// (too slow for the analysis, failing the smoke test, or failing in the
// shadow phase) are rolled back, and not one request fails on the way.
func TestSoakRolloutsUnderLoad(t *testing.T) {
	cfg := config(t)
	rng := cfg.rng(t)
	rollouts := cfg.count(t, "SLIPWAY_SOAK_ROLLOUTS", 20)
	start := time.Now()

	s := startServer(t, serverOpts{})
	want := map[string]float64{}
	good := []string{"l/1", "l/2", "l/3", "l/4"}
	for i, id := range good {
		bias := float32(100 * (i + 1))
		s.registerONNX(t, id, bias)
		want[id] = float64(bias) + 10
	}
	// The latency gate, generous for a shared 2-core box (more so under
	// -race), and a slow version well past it.
	gate := time.Second
	if raceEnabled {
		gate = 3 * time.Second
	}
	// Slow answers the right kind of value (10+900), late: the p99 gate
	// rolls it back, but every request it took succeeds.
	s.registerCandidate(t, "l/slow", "--bias", "900", "--delay-ms", fmt.Sprint((2 * gate).Milliseconds()))
	want["l/slow"] = 910
	// Broken answers 500s: the smoke test stops it before live traffic.
	s.registerCandidate(t, "l/broken", "--fail")
	// Flaky passes the smoke test, then answers 500s: the analysis of the
	// shadow phase stops it, and no client ever sees one of its answers.
	s.registerCandidate(t, "l/flaky", "--bias", "800", "--fail-after", "1")
	bad := []string{"l/slow", "l/broken", "l/flaky"}
	badPolicies := map[string][]string{
		"l/slow":   {"canary", "linear"},
		"l/broken": {"canary", "linear", "bluegreen", "now", "shadow"},
		"l/flaky":  {"shadow"},
	}

	analysis := &apitypes.Analysis{Interval: "100ms", MinRequests: 5, MaxErrorRate: ptr(0.01), MaxLatencyP99: gate.String()}
	policies := []*apitypes.DeploymentPolicy{
		{Name: "canary", Strategy: "canary", SmokeTest: smoke200, Analysis: analysis,
			Steps: []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "400ms"}, {TrafficPercent: 50, Bake: "400ms"}}},
		{Name: "linear", Strategy: "linear", SmokeTest: smoke200, Analysis: analysis,
			Linear: &apitypes.Linear{StepPercent: 34, Interval: "300ms"}},
		{Name: "shadow", Strategy: "canary", SmokeTest: smoke200, Analysis: analysis,
			Shadow: &apitypes.Shadow{TrafficPercent: 50, Duration: "1s"},
			Steps:  []apitypes.CanaryStep{{TrafficPercent: 50, Bake: "300ms"}}},
		{Name: "bluegreen", Strategy: "blue_green", SmokeTest: smoke200, BlueGreen: &apitypes.BlueGreen{TerminationWait: "300ms"}},
		{Name: "now", Strategy: "all_at_once", SmokeTest: smoke200},
	}
	for _, p := range policies {
		if _, err := s.API.CreatePolicy(ctx(t), p); err != nil {
			t.Fatalf("policy %s: %v", p.Name, err)
		}
	}
	if _, err := s.API.CreateEndpoint(ctx(t), &apitypes.Endpoint{Name: "live", ModelVersion: "l/1", DeploymentPolicy: "now"}); err != nil {
		t.Fatal(err)
	}
	s.WaitServing(t, "live", map[string]int{"l/1": 100})

	stop := s.liveLoad("live", 4, 2*time.Millisecond, want)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	outcomes := map[string]int{}
	n, scaled := 1, 0 // replicas of the endpoint; scale changes made
	superseded := 0
	current := "l/1"
	served := map[string]bool{"l/1": true} // versions that must have answered
	for i := range rollouts {
		target, policy, wantPhase := "", "", apitypes.DeploySucceeded
		abort := i%8 == 5 // an operator aborts a good canary half way
		if i%4 == 3 {
			// Every fourth rollout is a bad version, under a policy
			// whose gates catch it.
			target = bad[(i/4)%len(bad)]
			policy, wantPhase = pick(rng, badPolicies[target]), apitypes.DeployRolledBack
		} else {
			others := slices.DeleteFunc(slices.Clone(good), func(v string) bool { return v == current })
			target, policy = pick(rng, others), policies[rng.IntN(len(policies))].Name
		}
		if abort {
			policy, wantPhase = "canary", apitypes.DeployAborted
		}
		supersede := i%8 == 1
		if supersede {
			policy = "canary"
		}
		e, err := s.getEndpoint("live")
		if err != nil {
			t.Fatal(err)
		}
		e.ModelVersion, e.DeploymentPolicy = target, policy
		if _, err := call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, e) }); err != nil {
			t.Fatalf("rollout %d: retargeting to %s: %v", i, target, err)
		}
		ds, err := s.deployments("live")
		if err != nil || len(ds) == 0 || ds[0].ToVersion != target {
			t.Fatalf("rollout %d: no deployment to %s listed (%v)", i, target, err)
		}
		if supersede {
			// While the canary takes live traffic, another change of
			// target supersedes it: a good version, or every other time
			// the slow one, which is rolled back.
			s.waitDeployment(t, ds[0].ID, "the canary to take live traffic", 60*time.Second, func(d *apitypes.Deployment) bool {
				return d.Phase == apitypes.DeployProgressing
			})
			first := ds[0]
			e, err := s.getEndpoint("live")
			if err != nil {
				t.Fatal(err)
			}
			if (i/8)%2 == 1 {
				target, policy, wantPhase = "l/slow", "canary", apitypes.DeployRolledBack
			} else {
				others := slices.DeleteFunc(slices.Clone(good), func(v string) bool { return v == current || v == first.ToVersion })
				target, policy = pick(rng, others), policies[rng.IntN(len(policies))].Name
			}
			e.ModelVersion, e.DeploymentPolicy = target, policy
			if _, err := call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, e) }); err != nil {
				t.Fatalf("rollout %d: superseding with %s: %v", i, target, err)
			}
			if ds, err = s.deployments("live"); err != nil || len(ds) == 0 || ds[0].ToVersion != target {
				t.Fatalf("rollout %d: no deployment to %s listed (%v)", i, target, err)
			}
			if d := s.waitTerminal(t, first.ID, 60*time.Second); d.Phase != apitypes.DeployAborted || !strings.Contains(d.Reason, "superseded by "+ds[0].ID) {
				t.Fatalf("rollout %d: the superseded deployment ended %s (%s); want aborted, superseded by %s", i, d.Phase, d.Reason, ds[0].ID)
			}
			superseded++
			if first.ToVersion != "l/broken" && first.ToVersion != "l/flaky" {
				served[first.ToVersion] = true
			}
		}
		if abort {
			s.waitDeployment(t, ds[0].ID, "the canary to take live traffic", 60*time.Second, func(d *apitypes.Deployment) bool {
				return d.Phase == apitypes.DeployProgressing
			})
			_, err := call(func(c context.Context) (*apitypes.Deployment, error) { return s.API.AbortDeployment(c, ds[0].ID) })
			switch {
			case apitypes.IsConflict(err):
				wantPhase = apitypes.DeploySucceeded // it finished first
			case err != nil:
				t.Fatalf("rollout %d: abort: %v", i, err)
			}
		}
		d := s.waitTerminal(t, ds[0].ID, 60*time.Second)
		outcomes[fmt.Sprintf("%s %s", policy, d.Phase)]++
		if d.Phase != wantPhase {
			t.Fatalf("rollout %d: %s under %s ended %s (%s), want %s", i, target, policy, d.Phase, d.Reason, wantPhase)
		}
		switch {
		case d.Phase == apitypes.DeploySucceeded:
			current = target
		case d.FromVersion != current && !supersede:
			t.Fatalf("rollout %d: deployment from %s, but %s served all traffic", i, d.FromVersion, current)
		default:
			// Restored to what served when it started (after a
			// superseded canary: the version with most traffic).
			current = d.FromVersion
		}
		switch target {
		case "l/broken", "l/flaky":
			// Stopped before live traffic: by the smoke test, or in the
			// shadow phase.
			stoppedIn := apitypes.DeploySmokeTesting
			if target == "l/flaky" {
				stoppedIn = apitypes.DeployShadowing
			}
			if last := d.Events[len(d.Events)-2].Phase; last != stoppedIn {
				t.Errorf("rollout %d: %s was stopped in phase %s, want %s: %s", i, target, last, stoppedIn, jsonString(d.Events))
			}
		default:
			served[target] = true
		}
		s.WaitServing(t, "live", map[string]int{current: 100})
		eventually(t, "the previous version's replicas to stop", 30*time.Second, func() bool { return len(replicas()) == n })
		if i%5 == 4 {
			// Scale out, or back in, in place: no deployment, and the
			// replica that goes must not take requests with it.
			n = 3 - n
			s.scale(t, "live", n)
			scaled++
		}
	}
	time.Sleep(200 * time.Millisecond) // and a moment after the last one
	st := stop()
	stopped = true

	t.Logf("SOAK load: %d rollouts (%v) (%d of them superseding a canary) and %d scale changes under load: %d requests, %d failed, answers by version %v; wall %v; seed %d",
		rollouts, sortedKeys(outcomes), superseded, scaled, st.requests, len(st.failures), sortedKeys(st.byVersion), time.Since(start).Round(time.Second), cfg.seed)
	if len(st.failures) > 0 {
		t.Errorf("%d of %d requests failed during the rollouts; want 0. First ones:\n%v", len(st.failures), st.requests, st.failures[:min(len(st.failures), 20)])
	}
	for _, v := range slices.Sorted(maps.Keys(served)) {
		if st.byVersion[v] == 0 {
			t.Errorf("version %s answered no request: the load did not reach it (answers %v)", v, st.byVersion)
		}
	}
	for _, v := range []string{"l/broken", "l/flaky"} {
		if st.byVersion[v] != 0 {
			t.Errorf("%s answered %d live requests; its gates should have kept it from clients", v, st.byVersion[v])
		}
	}
	s.auditVerify(t)
}

// scale sets the endpoint's replicas to n in place and waits until n
// replicas serve.
func (s *server) scale(t *testing.T, name string, n int) {
	t.Helper()
	e, err := s.getEndpoint(name)
	if err != nil {
		t.Fatal(err)
	}
	e.Replicas = apitypes.Replicas{Min: n, Max: n}
	if _, err := call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, e) }); err != nil {
		t.Fatalf("scaling %s to %d: %v", name, n, err)
	}
	s.WaitEndpoint(t, name, fmt.Sprintf("%d ready replicas", n), 60*time.Second, func(e *apitypes.Endpoint) bool {
		return e.Status.Phase == apitypes.PhaseReady && len(e.Status.Traffic) == 1 && e.Status.Traffic[0].ReadyReplicas == n
	})
	eventually(t, fmt.Sprintf("%d replica processes", n), 30*time.Second, func() bool { return len(replicas()) == n })
}
