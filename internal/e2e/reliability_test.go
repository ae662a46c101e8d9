package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

// A replica killed with SIGKILL is replaced by a new process, and the
// endpoint serves again.
func TestKilledReplicaIsReplaced(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	mustInfer(t, s.inferURL("fraud"), nil, wantV1)

	old := workers(t, s.PID(), "fraud/1")
	if len(old) != 1 {
		t.Fatalf("worker processes = %v, want 1", old)
	}
	victim := old[0].PID
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var replacement []proc
	eventually(t, "a new worker process", 20*time.Second, func() bool {
		replacement = workers(t, s.PID(), "fraud/1")
		return len(replacement) == 1 && replacement[0].PID != victim
	})
	if alive(victim) {
		t.Errorf("killed worker %d still alive", victim)
	}
	s.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
	// The route may lag the status by one reconciliation: poll briefly.
	eventually(t, "requests to succeed again", 10*time.Second, func() bool {
		v, _, err := inferValue(s.inferURL("fraud"), nil)
		return err == nil && v == wantV1
	})
	for range 20 {
		mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	}
	if now := workers(t, s.PID(), "fraud/1"); !slices.Equal(pids(now), pids(replacement)) {
		t.Errorf("worker processes changed again (%v → %v): the replacement should be stable", replacement, now)
	}
}

// SIGKILL of the server takes its replicas with it (no orphans), and a new
// server on the same data directory and ports brings the endpoint back.
func TestServerKillLeavesNoOrphansAndRecovers(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.RegisterONNX(t, "other/1", linear(biasV2))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", Replicas: apitypes.Replicas{Min: 2, Max: 2}})
	s.createEndpoint(t, &apitypes.Endpoint{Name: "other", ModelVersion: "other/1"})
	eventually(t, "3 worker processes", 10*time.Second, func() bool { return len(workers(t, s.PID(), "")) == 3 })
	before := workers(t, s.PID(), "")
	mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	mustInfer(t, s.inferURL("other"), nil, wantV2)

	s.Kill()
	eventually(t, "every worker of the killed server to die", 5*time.Second, func() bool {
		for _, p := range before {
			if alive(p.PID) {
				return false
			}
		}
		return true
	})

	s2 := startServer(t, serverOpts{DataDir: s.DataDir, APIAddr: s.APIAddr, GWAddr: s.GWAddr})
	restarted := time.Now()
	// The stored status is the dead server's until the new one rewrites
	// it, so first wait for what only the new server can do: start
	// workers and answer through them.
	var after []proc
	eventually(t, "3 new worker processes", 20*time.Second, func() bool {
		after = workers(t, s2.PID(), "")
		return len(after) == 3
	})
	for _, p := range after {
		if slices.Contains(pids(before), p.PID) {
			t.Errorf("worker %v survived the server", p)
		}
	}
	eventually(t, "both endpoints to answer again", 20*time.Second, func() bool {
		v1, _, err1 := inferValue(s2.inferURL("fraud"), nil)
		v2, _, err2 := inferValue(s2.inferURL("other"), nil)
		return err1 == nil && err2 == nil && v1 == wantV1 && v2 == wantV2
	})
	t.Logf("serving again %s after the restart", time.Since(restarted).Round(time.Millisecond))
	s2.WaitServing(t, "other", map[string]int{"other/1": 100})
	s2.WaitEndpoint(t, "fraud", "ready with 2 ready replicas", 20*time.Second, func(e *apitypes.Endpoint) bool {
		return e.Status.Phase == apitypes.PhaseReady && len(e.Status.Traffic) == 1 &&
			e.Status.Traffic[0].ModelVersion == "fraud/1" && e.Status.Traffic[0].ReadyReplicas == 2
	})
	for range 10 {
		mustInfer(t, s2.inferURL("fraud"), nil, wantV1)
		mustInfer(t, s2.inferURL("other"), nil, wantV2)
	}

	// The ledger survived the crash intact, as the operator CLI sees it.
	cmd := exec.Command(slipwayBin, "audit", "verify")
	cmd.Env = append(os.Environ(), "SLIPWAY_ADDR=http://"+s2.APIAddr, "SLIPWAY_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("slipway audit verify: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "hash chain intact") {
		t.Errorf("slipway audit verify said %q", out)
	}
}

// A new version whose process exits at once (a loader crashing on its
// model) is never given traffic: its deployment fails with the process's
// last words, the endpoint is put back to the version that serves, and
// the crashing process is not restarted again and again.
func TestUnstartableVersionIsReverted(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	weights, digest := realserver.WriteFile(t, "weights.bin", []byte("not really weights"))
	starts := filepath.Join(t.TempDir(), "starts")
	s.Register(t, &apitypes.ModelVersion{
		ArtifactURI: "file://" + weights, SHA256: digest, Format: "custom",
		Runtime: apitypes.Runtime{Kind: "process", Command: []string{"sh", "-c", `echo start >> "$1"; echo weights corrupt >&2; exit 3`, "{port}", starts}},
	}, "fraud/2")
	e := s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	stopLoad := load(t, s.inferURL("fraud"), linearInput, 2, classifyLinear, "fraud/1", "fraud/2")
	e.ModelVersion = "fraud/2"
	updated, err := s.API.UpdateEndpoint(ctx(t), e)
	if err != nil {
		t.Fatal(err)
	}
	reverted := s.WaitEndpoint(t, "fraud", "the desired state to be put back to fraud/1", 30*time.Second, func(e *apitypes.Endpoint) bool {
		return e.ModelVersion == "fraud/1"
	})
	if reverted.Revision <= updated.Revision {
		t.Errorf("revision after the revert = %d; the revert is a change of its own, after %d", reverted.Revision, updated.Revision)
	}
	if len(reverted.TrafficSplit) != 0 {
		t.Errorf("traffic_split after the revert = %v, want none", reverted.TrafficSplit)
	}
	// The status follows on the next reconciliation.
	s.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
	// From the revert on, through several reconciliations, the status must
	// say: ready on fraud/1, and why fraud/2 did not take.
	consistently(t, "the endpoint to stay ready on fraud/1 with the reason", 2*time.Second, func() string {
		e, err := s.getEndpoint("fraud")
		switch {
		case err != nil:
			return err.Error()
		case e.Status.Phase != apitypes.PhaseReady || len(e.Status.Traffic) != 1 || e.Status.Traffic[0].ModelVersion != "fraud/1" ||
			e.Status.Traffic[0].Percent != 100 || e.Status.Traffic[0].ReadyReplicas != 1:
			return "status " + jsonString(e.Status)
		case !strings.Contains(e.Status.Message, "fraud/2") || !strings.Contains(e.Status.Message, "weights corrupt"):
			return "status.message " + e.Status.Message + " names neither fraud/2 nor the replica's last words"
		}
		return ""
	})
	res := stopLoad()
	t.Logf("%d requests during the failed deployment: %v, %d failed, %d transport errors", res.ok, res.versions, res.failed, res.transport)
	if res.failed != 0 || res.transport != 0 || res.ok == 0 {
		t.Errorf("%d ok, %d non-200 answers and %d transport errors; want only successes: %q", res.ok, res.failed, res.transport, res.samples)
	}
	if len(res.versions) != 1 || res.versions["fraud/1"] == 0 {
		t.Errorf("answers by version = %v; only fraud/1 may answer", res.versions)
	}
	if w := children(t, s.PID()); len(w) != 1 || len(workers(t, s.PID(), "fraud/1")) != 1 {
		t.Errorf("server children = %v; want only the fraud/1 worker (nothing retrying fraud/2)", w)
	}
	// Bounded restarts: three failed starts in a row end the attempt, and
	// through the two seconds above nothing started it again.
	b, _ := os.ReadFile(starts)
	n := strings.Count(string(b), "start")
	t.Logf("fraud/2 was started %d times", n)
	if n < 1 || n > 4 {
		t.Errorf("fraud/2 was started %d times; want 1 to 4", n)
	}
	consistently(t, "no new start of fraud/2", time.Second, func() string {
		if b, _ := os.ReadFile(starts); strings.Count(string(b), "start") != n {
			return "fraud/2 was started again"
		}
		return ""
	})
	ds, err := s.API.ListDeployments(ctx(t), client.DeploymentListOptions{Endpoint: "fraud"})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ds, func(d apitypes.Deployment) bool { return d.ToVersion == "fraud/2" })
	if i < 0 {
		t.Fatalf("no deployment to fraud/2 among %s", jsonString(ds))
	}
	if d := ds[i]; d.Phase != apitypes.DeployFailed || !strings.Contains(d.Reason, "weights corrupt") {
		t.Errorf("the deployment to fraud/2 ended %s: %q; want failed with the replica's last words", d.Phase, d.Reason)
	}

	events, err := s.API.ListAuditEvents(ctx(t), client.AuditListOptions{ObjectType: apitypes.ObjectEndpoint, ObjectID: "fraud"})
	if err != nil {
		t.Fatal(err)
	}
	var revert *apitypes.AuditEvent
	for i := range events {
		if events[i].Action == "update" && events[i].Actor == "slipway" {
			revert = &events[i]
		}
	}
	if revert == nil {
		t.Fatalf("no update event by actor slipway in the ledger: %s", jsonString(events))
	}
	if !strings.Contains(string(revert.Before), `"fraud/2"`) || !strings.Contains(string(revert.After), `"model_version":"fraud/1"`) {
		t.Errorf("revert event before %s after %s; want fraud/2 → fraud/1", revert.Before, revert.After)
	}
}
