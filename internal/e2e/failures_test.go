package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

// Failure injection against the real binary: a full or read-only data
// directory, artifacts that cannot be fetched, replicas that never become
// ready, and a ledger edited behind the server's back. Each failure must
// come out as a clear error, leave nothing half-written, and leave the
// endpoints serving what they served.

// ---- data directory full ----

// The data directory is a tmpfs that is then filled to the last byte.
// Every write is refused with a 503 naming the directory, none of them
// leaves a trace (object, ledger event or artifact), inference goes on,
// and once space is freed the same server takes writes again with its
// ledger intact.
func TestDataDirFull(t *testing.T) {
	mnt := mountTmpfs(t, "32m")
	s := startServer(t, serverOpts{DataDir: filepath.Join(mnt, "data")})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	before := s.ledger(t)
	arts := s.artifactFiles(t)
	fraud, err := s.getEndpoint("fraud")
	if err != nil {
		t.Fatal(err)
	}

	free := fill(t, mnt)
	const full = "is full (no space left on device)"
	_, err = s.API.CreateModelVersion(ctx(t), onnxVersion(t, "fraud/2", biasV2))
	wantUnavailable(t, "registering fraud/2", err, s.DataDir, full)
	_, err = s.API.CreatePolicy(ctx(t), &apitypes.DeploymentPolicy{Name: "fast", Strategy: "all_at_once"})
	wantUnavailable(t, "creating a policy", err, s.DataDir, full)
	_, err = s.API.CreateEndpoint(ctx(t), &apitypes.Endpoint{Name: "other", ModelVersion: "fraud/1"})
	wantUnavailable(t, "creating an endpoint", err, s.DataDir, full)
	labelled := *fraud
	labelled.Labels = map[string]string{"team": "risk"}
	_, err = s.API.UpdateEndpoint(ctx(t), &labelled)
	wantUnavailable(t, "updating an endpoint", err, s.DataDir, full)

	s.wantNothingWritten(t, before, arts)
	if e, err := s.getEndpoint("fraud"); err != nil || e.Revision != fraud.Revision || len(e.Labels) != 0 {
		t.Errorf("endpoint fraud after the refused update: %s (err %v); want revision %d without labels", jsonString(e), err, fraud.Revision)
	}
	for range 10 {
		mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	}
	s.wantAlive(t)

	// A restart while the disk is full: SQLite needs room for its shared
	// memory file to open the database. Either the server refuses to start,
	// saying why, or it starts; it never half-starts or loses anything.
	s.Stop()
	if out, err := runServerOnce(s.DataDir, 5*time.Second); err == nil || strings.Contains(out, "panic") ||
		(!strings.Contains(out, "slipway API listening") && (!strings.Contains(out, s.DataDir) || !strings.Contains(out, "no space left on device"))) {
		t.Errorf("restarting on the full disk: %v\n%s\nwant a refusal naming %s and \"no space left on device\", or a start", err, out, s.DataDir)
	} else {
		t.Logf("restarting on the full disk: %s", strings.TrimSpace(out))
	}

	free()
	s = startServer(t, serverOpts{DataDir: s.DataDir})
	s.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
	s.wantNothingWritten(t, before, arts)
	s.RegisterONNX(t, "fraud/2", linear(biasV2))
	if _, err := s.API.CreatePolicy(ctx(t), &apitypes.DeploymentPolicy{Name: "fast", Strategy: "all_at_once"}); err != nil {
		t.Fatalf("creating a policy after freeing space: %v", err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "other", ModelVersion: "fraud/1"})
	s.retarget(t, "fraud", "fraud/2", "fast")
	s.WaitServing(t, "fraud", map[string]int{"fraud/2": 100})
	eventually(t, "fraud/2 to answer", 10*time.Second, func() bool {
		v, _, err := inferValue(s.inferURL("fraud"), nil)
		return err == nil && v == wantV2
	})
	s.auditVerify(t)
	// Each change made it into the ledger once: the refused attempts left
	// no event behind to be doubled by the retries.
	after := s.ledger(t)
	for _, id := range []string{"model_version fraud/2", "deployment_policy fast", "endpoint other"} {
		if n := countCreates(after, id); n != 1 {
			t.Errorf("ledger has %d create events for %s, want 1", n, id)
		}
	}
	s.wantAlive(t)
}

// The disk fills in the middle of a canary. While it is full the rollout
// engine cannot save the deployment's record (it logs that, and a watcher
// restarted by its poll resumes from the last record saved): no request
// fails and the server keeps running. Once space is freed the deployment
// completes, and the ledger verifies.
func TestDataDirFullMidRollout(t *testing.T) {
	mnt := mountTmpfs(t, "64m")
	s := startServer(t, serverOpts{DataDir: filepath.Join(mnt, "data")})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.RegisterONNX(t, "fraud/2", linear(biasV2))
	if _, err := s.API.CreatePolicy(ctx(t), &apitypes.DeploymentPolicy{
		Name: "canary", Strategy: "canary",
		Steps: []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "2s"}, {TrafficPercent: 50, Bake: "2s"}},
	}); err != nil {
		t.Fatal(err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	stopLoad := liveLoad(s.inferURL("fraud"), 2, 5*time.Millisecond)
	d := s.retarget(t, "fraud", "fraud/2", "canary")
	s.waitDeployment(t, d.ID, "the first canary step", 30*time.Second, func(d *apitypes.Deployment) bool {
		return d.Phase == apitypes.DeployProgressing
	})
	free := fill(t, mnt)
	// Full for longer than a bake: the step it would take meanwhile cannot
	// be recorded, so the engine must hold traffic at step 1 (10 %) instead
	// of taking step 2 (50 %) unrecorded. The last second of the window is
	// well past the bake.
	filled := time.Now()
	time.Sleep(3 * time.Second)
	lateFull := time.Now().Add(-time.Second)
	during, err := s.API.GetDeployment(ctx(t), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if apitypes.DeploymentTerminal(during.Phase) {
		t.Fatalf("the deployment had ended (%s) before the disk was full: this test exercised nothing", during.Phase)
	}
	s.wantAlive(t)
	free()

	done := s.waitTerminal(t, d.ID, 60*time.Second)
	hits := stopLoad()
	t.Logf("while full the deployment stood at %s step %d; it ended %s: %s", during.Phase, during.Step, done.Phase, done.Reason)
	if done.Phase != apitypes.DeploySucceeded {
		t.Errorf("deployment ended %s (%s); want succeeded once space was freed; events %s", done.Phase, done.Reason, jsonString(done.Events))
	}
	failed, late, lateV2 := 0, 0, 0
	for _, h := range hits {
		if h.status != http.StatusOK {
			failed++
		}
		if h.sent.After(lateFull) && h.sent.Before(filled.Add(3*time.Second)) {
			late++
			if h.version == "fraud/2" {
				lateV2++
			}
		}
	}
	if failed != 0 || len(hits) == 0 {
		t.Errorf("%d of %d requests failed during the rollout; want none", failed, len(hits))
	}
	t.Logf("in the last second of the full disk, fraud/2 served %d of %d requests", lateV2, late)
	if late < 20 || lateV2*100 > late*30 {
		t.Errorf("in the last second of the full disk fraud/2 served %d of %d requests; want about 10 %% (step 1 held), not 50 %% (an unrecorded step 2)", lateV2, late)
	}
	s.WaitServing(t, "fraud", map[string]int{"fraud/2": 100})
	s.auditVerify(t)
	s.wantAlive(t)
}

// ---- data directory read-only ----

// A server refuses to start on a read-only data directory, saying which
// directory and why, whether the directory holds a store already or is
// still to be created.
func TestReadOnlyDataDirAtStart(t *testing.T) {
	requireRoot(t)
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.Stop()

	ro := t.TempDir()
	if err := syscall.Mount(s.DataDir, ro, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here (%v); this test needs root and mount rights", err)
	}
	t.Cleanup(func() { unmount(t, ro) })
	if err := syscall.Mount("", ro, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot make a bind mount read-only here: %v", err)
	}
	for _, dir := range []string{ro, filepath.Join(ro, "fresh")} {
		out, err := runServerOnce(dir, 30*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("slipway server on read-only %s: %v, want exit status 1\n%s", dir, err, out)
			continue
		}
		if !strings.Contains(out, dir) || !strings.Contains(out, "read-only file system") || strings.Contains(out, "panic") {
			t.Errorf("slipway server on read-only %s said %q; want the directory and \"read-only file system\"", dir, out)
		}
	}
}

// runServerOnce runs `slipway server` on dir, for a server expected to
// refuse to start, and kills it if it still runs after timeout.
func runServerOnce(dir string, timeout time.Duration) (string, error) {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(c, slipwayBin, "server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN="+adminToken)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The file system under a running server turns read-only (ext4's
// errors=remount-ro, triggered through sysfs, as after a disk error).
// Writes are refused with a 503 saying so, nothing is half-written,
// reads and inference go on, and once the disk is mounted writable again
// a new server finds everything that was committed, ledger intact.
func TestDataDirTurnsReadOnly(t *testing.T) {
	img, mnt, trigger := mountExt4(t)
	s := startServer(t, serverOpts{DataDir: filepath.Join(mnt, "data")})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
	mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	before := s.ledger(t)
	arts := s.artifactFiles(t)

	// ext4 drops writeback that has not reached the disk when it turns
	// read-only, and SQLite in WAL mode with synchronous=NORMAL does not
	// fsync each commit (it keeps them consistent, not durable, across a
	// crash). Sync first, so this test is about refusing writes, not about
	// power-loss durability.
	syncfs(t, mnt)
	if err := os.WriteFile(trigger, []byte("1"), 0o200); err != nil {
		t.Fatalf("triggering a file system error: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o600); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("after the trigger, writing to %s: %v; want read-only file system", mnt, err)
	}
	const readOnly = "is read-only"
	_, err := s.API.CreateModelVersion(ctx(t), onnxVersion(t, "fraud/2", biasV2))
	wantUnavailable(t, "registering fraud/2", err, s.DataDir, readOnly)
	_, err = s.API.CreatePolicy(ctx(t), &apitypes.DeploymentPolicy{Name: "fast", Strategy: "all_at_once"})
	wantUnavailable(t, "creating a policy", err, s.DataDir, readOnly)
	_, err = s.API.CreateEndpoint(ctx(t), &apitypes.Endpoint{Name: "other", ModelVersion: "fraud/1"})
	wantUnavailable(t, "creating an endpoint", err, s.DataDir, readOnly)
	s.wantNothingWritten(t, before, arts)
	for range 10 {
		mustInfer(t, s.inferURL("fraud"), nil, wantV1)
	}
	s.auditVerify(t)
	s.wantAlive(t)

	// Writable again (as after a repair): what was committed is all there.
	s.Stop()
	unmount(t, mnt)
	mountLoop(t, img, mnt)
	s2 := startServer(t, serverOpts{DataDir: s.DataDir})
	s2.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
	eventually(t, "fraud/1 to answer after the restart", 20*time.Second, func() bool {
		v, _, err := inferValue(s2.inferURL("fraud"), nil)
		return err == nil && v == wantV1
	})
	s2.auditVerify(t)
	if got := s2.ledger(t); len(got) < len(before) || got[len(before)-1].Hash != before[len(before)-1].Hash {
		t.Errorf("after the restart the ledger has %d events; want the %d committed before, unchanged", len(got), len(before))
	}
	s2.RegisterONNX(t, "fraud/2", linear(biasV2))
}

// ---- artifacts that cannot be fetched ----

// An artifact URI that cannot be read is the client's problem: a 422 on
// artifact_uri naming the URI and the cause, and nothing stored.
func TestUnreachableArtifactIsRefused(t *testing.T) {
	s := startServer(t, serverOpts{})
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	before := s.ledger(t)
	arts := s.artifactFiles(t)
	for _, tc := range []struct{ name, uri, cause string }{
		{"closed port", "http://" + freeAddr(t) + "/model.onnx", "connection refused"},
		{"missing file", "file://" + filepath.Join(t.TempDir(), "missing.onnx"), "no such file or directory"},
		{"http 404", notFound.URL + "/model.onnx", "answered 404 Not Found"},
	} {
		mv := onnxVersion(t, "fraud/1", biasV1)
		mv.ArtifactURI = tc.uri
		_, err := s.API.CreateModelVersion(ctx(t), mv)
		var e *apitypes.Error
		if !errors.As(err, &e) || e.Code != apitypes.CodeUnprocessable || e.Field != "artifact_uri" ||
			!strings.Contains(e.Message, tc.uri) || !strings.Contains(e.Message, tc.cause) {
			t.Errorf("%s: registering with %s: %v; want unprocessable on artifact_uri naming the URI and %q", tc.name, tc.uri, err, tc.cause)
		}
		if _, err := s.API.GetModelVersion(ctx(t), "fraud/1"); apitypes.ErrorCode(err) != apitypes.CodeNotFound {
			t.Errorf("%s: fraud/1 after the refused registration: err %v, want not found", tc.name, err)
		}
	}
	s.wantNothingWritten(t, before, arts)
}

// ---- replicas that never become ready ----

// A version whose process listens but never passes readiness fails its
// deployment after three starts of --replica-start-timeout each, with a
// reason that says so; the endpoint goes on serving the previous version
// without a failed request, and nothing keeps restarting the candidate.
func TestNeverReadyVersionFailsItsDeployment(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	// 3s leaves python ample time to listen on a busy machine, so the
	// probe is answered, and keeps the three failed starts short.
	s := startServer(t, serverOpts{Args: []string{"--replica-start-timeout", "3s"}})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	starts := filepath.Join(t.TempDir(), "starts")
	weights, digest := realserver.WriteFile(t, "weights.bin", []byte("a model that never loads"))
	// A plain file server: it listens, and answers 404 to the readiness probe.
	s.Register(t, &apitypes.ModelVersion{
		ArtifactURI: "file://" + weights, SHA256: digest, Format: "custom",
		Runtime: apitypes.Runtime{Kind: "process", Command: []string{"sh", "-c", `echo start >> "$1"; exec "$2" -m http.server --bind 127.0.0.1 "$0"`, "{port}", starts, python}},
	}, "fraud/2")
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	stopLoad := load(t, s.inferURL("fraud"), linearInput, 2, classifyLinear, "fraud/1", "fraud/2")
	d := s.retarget(t, "fraud", "fraud/2", "")
	d = s.waitTerminal(t, d.ID, 60*time.Second)
	t.Logf("deployment %s: %s", d.Phase, d.Reason)
	if d.Phase != apitypes.DeployFailed || !strings.Contains(d.Reason, "fraud/2") || !strings.Contains(d.Reason, "not ready after 3s: GET /v2/health/ready answered 404") {
		t.Errorf("deployment ended %s: %q; want failed, naming fraud/2, the readiness timeout and the probe's answer", d.Phase, d.Reason)
	}
	s.wantRevertedAndQuiet(t, "the candidate was started", func() int {
		b, _ := os.ReadFile(starts)
		return strings.Count(string(b), "start")
	})
	res := stopLoad()
	t.Logf("%d requests during the failed deployment: %v, %d failed, %d transport errors", res.ok, res.versions, res.failed, res.transport)
	if res.failed != 0 || res.transport != 0 || res.ok == 0 || len(res.versions) != 1 || res.versions["fraud/1"] == 0 {
		t.Errorf("%d ok (by version %v), %d non-200 answers and %d transport errors; want only fraud/1 successes: %q", res.ok, res.versions, res.failed, res.transport, res.samples)
	}
}

// The stored artifact of a registered builtin version changes on disk
// after registration: damaged (a bad block, a stray write), so that its
// loader would crash, or swapped for another valid model, which would
// otherwise be served as the registered version without anyone noticing.
// The replica is not started: the deployment fails saying the artifact
// changed, fraud/1 goes on serving every request, and nothing restarts
// the candidate again and again.
func TestChangedStoredArtifactFailsItsDeployment(t *testing.T) {
	other, err := linear(999).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"damaged", []byte("\x08\x07garbage that is no ONNX model")},
		{"another model", other},
	} {
		t.Run(tc.name, func(t *testing.T) { changedArtifact(t, tc.content) })
	}
}

func changedArtifact(t *testing.T, content []byte) {
	s := startServer(t, serverOpts{})
	s.RegisterONNX(t, "fraud/1", linear(biasV1))
	mv := onnxVersion(t, "fraud/2", biasV2)
	if _, err := s.API.CreateModelVersion(ctx(t), mv); err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(s.DataDir, "artifacts", "sha256", mv.SHA256)
	if err := os.WriteFile(stored, content, 0o600); err != nil {
		t.Fatal(err)
	}
	s.createEndpoint(t, &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	stopLoad := load(t, s.inferURL("fraud"), linearInput, 2, classifyLinear, "fraud/1", "fraud/2")
	d := s.retarget(t, "fraud", "fraud/2", "")
	d = s.waitTerminal(t, d.ID, 60*time.Second)
	t.Logf("deployment %s: %s", d.Phase, d.Reason)
	if d.Phase != apitypes.DeployFailed || !strings.Contains(d.Reason, "fraud/2") || !strings.Contains(d.Reason, "not the registered "+mv.SHA256+": it was changed on disk") {
		t.Errorf("deployment ended %s: %q; want failed, naming fraud/2 and saying its stored artifact changed", d.Phase, d.Reason)
	}
	s.wantRevertedAndQuiet(t, "the fraud/2 worker was restarted", func() int {
		return strings.Count(s.Out.String(), `msg="replica failed; restarting" replica=fraud/fraud/2`)
	})
	res := stopLoad()
	t.Logf("%d requests during the failed deployment: %v, %d failed, %d transport errors", res.ok, res.versions, res.failed, res.transport)
	if res.failed != 0 || res.transport != 0 || res.ok == 0 || len(res.versions) != 1 || res.versions["fraud/1"] == 0 {
		t.Errorf("%d ok (by version %v), %d non-200 answers and %d transport errors; want only fraud/1 successes: %q", res.ok, res.versions, res.failed, res.transport, res.samples)
	}
}

// waitTerminal polls deployment id until it has ended.
func (s *server) waitTerminal(t *testing.T, id string, timeout time.Duration) *apitypes.Deployment {
	t.Helper()
	var last *apitypes.Deployment
	eventually(t, "deployment "+id+" to end", timeout, func() bool {
		d, err := s.API.GetDeployment(ctx(t), id)
		if err == nil {
			last = d
		}
		return err == nil && apitypes.DeploymentTerminal(d.Phase)
	})
	return last
}

// wantRevertedAndQuiet checks, through several reconciliations, that the
// endpoint is back on fraud/1 and ready, that only the fraud/1 worker runs,
// and that fraud/2, whose starts count counts ("the candidate was started"),
// was started at least once, at most four times, and not again.
func (s *server) wantRevertedAndQuiet(t *testing.T, counted string, count func() int) {
	t.Helper()
	s.WaitEndpoint(t, "fraud", "the desired state to be put back to fraud/1", 30*time.Second, func(e *apitypes.Endpoint) bool {
		return e.ModelVersion == "fraud/1"
	})
	// The status follows on the next reconciliation.
	s.WaitServing(t, "fraud", map[string]int{"fraud/1": 100})
	n := count()
	t.Logf("%s %d times", counted, n)
	if n < 1 || n > 4 {
		t.Errorf("%s %d times; want 1 to 4 (three failed starts fail a version)", counted, n)
	}
	consistently(t, "the endpoint to stay ready on fraud/1, with no new start of fraud/2", 2*time.Second, func() string {
		e, err := s.getEndpoint("fraud")
		switch {
		case err != nil:
			return err.Error()
		case e.Status.Phase != apitypes.PhaseReady || len(e.Status.Traffic) != 1 || e.Status.Traffic[0].ModelVersion != "fraud/1" || e.Status.Traffic[0].ReadyReplicas != 1:
			return "status " + jsonString(e.Status)
		case count() != n:
			return counted + " again"
		case len(workers(t, s.PID(), "fraud/2")) != 0:
			return "a fraud/2 worker runs"
		}
		return ""
	})
	if w := children(t, s.PID()); len(w) != 1 || len(workers(t, s.PID(), "fraud/1")) != 1 {
		t.Errorf("server children = %v; want only the fraud/1 worker", w)
	}
}

// ---- ledger tampering ----

// Someone with the stopped server's database file edits, deletes or
// reorders ledger rows. On the next start, `slipway audit verify` exits 1
// naming the row, and GET /v1/audit/verify says the same.
func TestTamperedLedgerFailsVerify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    []string
		broken int64
		reason string
	}{
		{"edit", []string{`UPDATE audit_events SET actor = 'mallory' WHERE seq = 3`}, 3, "event 3 was changed after it was written"},
		{"delete", []string{`DELETE FROM audit_events WHERE seq = 3`}, 4, "event 4 follows event 2; event 3 is missing"},
		{"reorder", []string{
			`UPDATE audit_events SET seq = -3 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = -3`,
		}, 3, "event 3 links to the event now stored as 4, which comes after it: events are out of order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{})
			s.RegisterONNX(t, "fraud/1", linear(biasV1))
			for _, name := range []string{"fast", "slow"} {
				if _, err := s.API.CreatePolicy(ctx(t), &apitypes.DeploymentPolicy{Name: name, Strategy: "all_at_once"}); err != nil {
					t.Fatal(err)
				}
			}
			s.auditVerify(t)
			s.Stop()

			db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "slipway.db"))
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range append([]string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}, tc.sql...) {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			s2 := startServer(t, serverOpts{DataDir: s.DataDir})
			cmd := exec.Command(slipwayBin, "audit", "verify")
			cmd.Env = append(os.Environ(), "SLIPWAY_ADDR=http://"+s2.APIAddr, "SLIPWAY_TOKEN="+adminToken)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			want := "audit ledger does not verify at event "
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), want) || !strings.Contains(string(out), tc.reason) {
				t.Errorf("slipway audit verify: %v\n%s\nwant exit status 1 and %q…%q", err, out, want, tc.reason)
			}
			v, err := s2.API.VerifyAudit(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.BrokenSeq != tc.broken || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("GET /v1/audit/verify = %+v, want broken at %d: %q", v, tc.broken, tc.reason)
			}
		})
	}
}

// ---- helpers ----

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("this test mounts file systems and needs root (CAP_SYS_ADMIN)")
	}
}

// mountTmpfs mounts a tmpfs of size on a fresh directory for the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); this test needs root and mount rights", err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// mountExt4 makes a small ext4 image, loop-mounts it with
// errors=remount-ro, and returns the image, the mount point and the sysfs
// file that triggers a file system error (and so a read-only remount).
func mountExt4(t *testing.T) (img, mnt, trigger string) {
	t.Helper()
	requireRoot(t)
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not on PATH; it makes the file system this test turns read-only")
	}
	img = filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	mnt = t.TempDir()
	dev := mountLoop(t, img, mnt)
	trigger = filepath.Join("/sys/fs/ext4", filepath.Base(dev), "trigger_fs_error")
	if _, err := os.Stat(trigger); err != nil {
		t.Skipf("%s is missing (%v); this kernel cannot turn ext4 read-only on demand", trigger, err)
	}
	return img, mnt, trigger
}

// mountLoop mounts the ext4 image img on mnt through a loop device and
// returns the device.
func mountLoop(t *testing.T, img, mnt string) string {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount an ext4 image here (%v: %s); this test needs root, loop devices and mount rights", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { unmount(t, mnt) })
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == mnt {
			return f[0]
		}
	}
	t.Fatalf("%s is not in /proc/self/mounts after mounting it", mnt)
	return ""
}

// syncfs writes every file and directory under dir to its disk.
func syncfs(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || (!d.IsDir() && !d.Type().IsRegular()) {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	if err != nil {
		t.Fatalf("syncing %s: %v", dir, err)
	}
}

// unmount unmounts dir if it is mounted; a busy mount is detached.
func unmount(t *testing.T, dir string) {
	err := syscall.Unmount(dir, 0)
	switch {
	case err == nil, errors.Is(err, syscall.EINVAL): // not (or no longer) a mount point
	case errors.Is(err, syscall.EBUSY):
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	default:
		t.Errorf("unmounting %s: %v", dir, err)
	}
}

// fill writes a file in dir until its file system has no byte left, and
// returns what frees that space again.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	_ = f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Bavail != 0 {
		t.Fatalf("%s is not full after filling it: %d blocks free (err %v)", dir, st.Bavail, err)
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// onnxVersion is a builtin ONNX model version id ("model/version") whose
// artifact is a fresh file.
func onnxVersion(t *testing.T, id string, bias float32) *apitypes.ModelVersion {
	t.Helper()
	b, err := linear(bias).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path, digest := realserver.WriteFile(t, strings.ReplaceAll(id, "/", "-")+".onnx", b)
	model, version, _ := strings.Cut(id, "/")
	return &apitypes.ModelVersion{Model: model, Version: version, ArtifactURI: "file://" + path, SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"}}
}

// wantUnavailable checks that err is a 503 whose message names dir and
// contains what.
func wantUnavailable(t *testing.T, doing string, err error, dir, what string) {
	t.Helper()
	var e *apitypes.Error
	if !errors.As(err, &e) || e.Code != apitypes.CodeUnavailable || !strings.Contains(e.Message, dir) || !strings.Contains(e.Message, what) {
		t.Errorf("%s: %v; want unavailable (503) naming %s and saying it %s", doing, err, dir, what)
	}
}

// ledger lists every ledger event.
func (s *server) ledger(t *testing.T) []apitypes.AuditEvent {
	t.Helper()
	events, err := s.API.ListAuditEvents(ctx(t), client.AuditListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func countCreates(events []apitypes.AuditEvent, object string) int {
	n := 0
	for _, e := range events {
		if e.Action == "create" && e.ObjectType+" "+e.ObjectID == object {
			n++
		}
	}
	return n
}

// artifactFiles lists the stored artifacts; the download area must be empty.
func (s *server) artifactFiles(t *testing.T) []string {
	t.Helper()
	if tmp, err := os.ReadDir(filepath.Join(s.DataDir, "artifacts", "tmp")); err != nil || len(tmp) != 0 {
		t.Errorf("artifacts/tmp holds %v (err %v); want nothing left of a download", tmp, err)
	}
	ents, err := os.ReadDir(filepath.Join(s.DataDir, "artifacts", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// wantNothingWritten checks that the ledger and the artifact store are as
// they were: refused calls left no event, no artifact and no download.
func (s *server) wantNothingWritten(t *testing.T, ledger []apitypes.AuditEvent, artifacts []string) {
	t.Helper()
	now := s.ledger(t)
	if len(now) != len(ledger) || now[len(now)-1].Hash != ledger[len(ledger)-1].Hash {
		t.Errorf("the ledger went from %d to %d events; refused calls must add none: %s", len(ledger), len(now), jsonString(now[min(len(ledger), len(now)):]))
	}
	if got := s.artifactFiles(t); strings.Join(got, ",") != strings.Join(artifacts, ",") {
		t.Errorf("stored artifacts went from %v to %v", artifacts, got)
	}
}

// wantAlive checks that the server still runs and has not logged a panic.
func (s *server) wantAlive(t *testing.T) {
	t.Helper()
	select {
	case <-s.Exited:
		t.Fatalf("the server exited:\n%s", s.Out)
	default:
	}
	if err := s.API.Health(context.Background()); err != nil {
		t.Errorf("health: %v", err)
	}
	if strings.Contains(s.Out.String(), "panic") {
		t.Errorf("the server log mentions a panic:\n%s", s.Out)
	}
}
