package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/supervisor"
)

// The test binary doubles as a replica: with SUPERVISOR_FAKE set it serves
// the readiness route like a worker, or misbehaves as asked.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SUPERVISOR_FAKE"); mode != "" {
		fakeReplica(mode)
		return
	}
	os.Exit(m.Run())
}

func fakeReplica(mode string) {
	if mode == "crash" {
		fmt.Fprintln(os.Stderr, "loading model: model imports ai.onnx opset 17; the builtin runtime supports opset 13 only")
		os.Exit(3)
	}
	addr := "127.0.0.1:0"
	if mode == "process" {
		addr = "127.0.0.1:" + os.Args[len(os.Args)-1] // the {port} placeholder, substituted
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if mode == "worker" {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"listening": l.Addr().String()})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ready":true}`)
	})
	mux.HandleFunc("/custom-ready", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv("FAKE_GREETING"))
	})
	_ = http.Serve(l, mux)
}

func worker(t *testing.T, mode string) []string {
	t.Helper()
	t.Setenv("SUPERVISOR_FAKE", mode)
	return []string{os.Args[0], "-test.run=^$"}
}

func spec(kind string, n int) supervisor.Spec {
	return supervisor.Spec{
		Endpoint:     "fraud",
		Version:      apitypes.ModelVersion{ID: "fraud/1", Format: "onnx", Runtime: apitypes.Runtime{Kind: kind}},
		ArtifactPath: "/nonexistent/model.onnx",
		Replicas:     n,
	}
}

func newSupervisor(t *testing.T, cfg supervisor.Config) *supervisor.Supervisor {
	t.Helper()
	cfg.HealthInterval = 50 * time.Millisecond
	cfg.StartTimeout = 10 * time.Second
	cfg.MaxRestartBackoff = 200 * time.Millisecond
	s := supervisor.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b := make([]byte, 256)
	n, _ := resp.Body.Read(b)
	return resp.StatusCode, string(b[:n])
}

func TestStartsReplicasAndReportsReadyBackends(t *testing.T) {
	var changes atomic.Int32
	s := newSupervisor(t, supervisor.Config{WorkerCommand: worker(t, "worker"), OnChange: func(e, v string) { changes.Add(1) }})
	s.Ensure(spec("builtin", 2))
	eventually(t, "2 ready replicas", func() bool { return len(s.Ready("fraud", "fraud/1")) == 2 })
	for _, b := range s.Ready("fraud", "fraud/1") {
		if code, _ := get(t, b+"/v2/health/ready"); code != 200 {
			t.Errorf("backend %s answered %d", b, code)
		}
	}
	if changes.Load() < 2 {
		t.Errorf("OnChange called %d times, want at least once per replica", changes.Load())
	}
	st, ok := s.Status("fraud", "fraud/1")
	if !ok || st.Desired != 2 || st.Ready != 2 {
		t.Errorf("status = %+v, %v; want 2 desired, 2 ready", st, ok)
	}
}

func TestRestartsAKilledReplica(t *testing.T) {
	s := newSupervisor(t, supervisor.Config{WorkerCommand: worker(t, "worker")})
	s.Ensure(spec("builtin", 1))
	eventually(t, "a ready replica", func() bool { return len(s.Ready("fraud", "fraud/1")) == 1 })
	before := s.Ready("fraud", "fraud/1")[0]
	pid := s.PIDs("fraud", "fraud/1")[0]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replica back in rotation on a new process", func() bool {
		r, p := s.Ready("fraud", "fraud/1"), s.PIDs("fraud", "fraud/1")
		return len(r) == 1 && r[0] != before && len(p) == 1 && p[0] != pid
	})
	st, _ := s.Status("fraud", "fraud/1")
	if st.Restarts < 1 || !strings.Contains(st.LastError, "exited") && st.LastError != "" {
		t.Errorf("status after a crash = %+v; want a restart counted", st)
	}
}

func TestReplicaThatCrashesAtLoadReportsWhy(t *testing.T) {
	s := newSupervisor(t, supervisor.Config{WorkerCommand: worker(t, "crash")})
	s.Ensure(spec("builtin", 1))
	eventually(t, "repeated start failures", func() bool {
		st, _ := s.Status("fraud", "fraud/1")
		return st.StartFailures >= 2
	})
	st, _ := s.Status("fraud", "fraud/1")
	if !strings.Contains(st.LastError, "opset 17") || !strings.Contains(st.LastError, "it exited: exit status 3") {
		t.Errorf("LastError = %q; want its exit status and the replica's own words about opset 17", st.LastError)
	}
	if len(s.Ready("fraud", "fraud/1")) != 0 {
		t.Error("a replica that never started is listed as ready")
	}
}

func TestStopDrainsBeforeTerminating(t *testing.T) {
	var inflight atomic.Int32
	inflight.Store(1)
	s := newSupervisor(t, supervisor.Config{
		WorkerCommand: worker(t, "worker"),
		InFlight:      func(string) int { return int(inflight.Load()) },
		DrainTimeout:  10 * time.Second,
	})
	s.Ensure(spec("builtin", 1))
	eventually(t, "a ready replica", func() bool { return len(s.Ready("fraud", "fraud/1")) == 1 })
	pid := s.PIDs("fraud", "fraud/1")[0]
	stopped := make(chan struct{})
	go func() {
		s.Stop(context.Background(), "fraud", "fraud/1")
		close(stopped)
	}()
	time.Sleep(300 * time.Millisecond)
	if !alive(pid) {
		t.Fatal("replica terminated while a request was still in flight")
	}
	if len(s.Ready("fraud", "fraud/1")) != 0 {
		t.Fatal("a draining replica is still offered for new requests")
	}
	inflight.Store(0)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return after the drain")
	}
	eventually(t, "the process gone", func() bool { return !alive(pid) })
}

func TestScaleDownKeepsOneAndStopsTheOther(t *testing.T) {
	s := newSupervisor(t, supervisor.Config{WorkerCommand: worker(t, "worker")})
	s.Ensure(spec("builtin", 2))
	eventually(t, "2 ready", func() bool { return len(s.Ready("fraud", "fraud/1")) == 2 })
	pids := s.PIDs("fraud", "fraud/1")
	s.Ensure(spec("builtin", 1))
	eventually(t, "1 ready and one process gone", func() bool {
		return len(s.Ready("fraud", "fraud/1")) == 1 && (alive(pids[0]) != alive(pids[1]))
	})
}

func TestProcessRuntimeSubstitutesPlaceholdersAndEnv(t *testing.T) {
	t.Setenv("SUPERVISOR_FAKE", "process")
	s := newSupervisor(t, supervisor.Config{})
	sp := spec("process", 1)
	sp.Version.Format = "custom"
	sp.Version.Runtime = apitypes.Runtime{
		Kind:          "process",
		Command:       []string{os.Args[0], "-test.run=^$", "--", "{port}"},
		Env:           map[string]string{"FAKE_GREETING": "model at {model_path}"},
		ReadinessPath: "/custom-ready",
	}
	s.Ensure(sp)
	eventually(t, "the process replica ready", func() bool { return len(s.Ready("fraud", "fraud/1")) == 1 })
	b := s.Ready("fraud", "fraud/1")[0]
	if code, body := get(t, b+"/custom-ready"); code != 200 || body != "model at /nonexistent/model.onnx" {
		t.Errorf("GET /custom-ready = %d %q; want the env placeholder substituted", code, body)
	}
}

func TestExternalRuntimeIsHealthChecked(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	ext := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ext.Serve(l) }()
	t.Cleanup(func() { ext.Close() })

	s := newSupervisor(t, supervisor.Config{HealthFailures: 2})
	sp := spec("external", 1)
	sp.Version.Runtime = apitypes.Runtime{Kind: "external", URL: "http://" + l.Addr().String()}
	s.Ensure(sp)
	eventually(t, "external ready", func() bool { return slices.Equal(s.Ready("fraud", "fraud/1"), []string{"http://" + l.Addr().String()}) })
	healthy.Store(false)
	eventually(t, "external out of rotation", func() bool { return len(s.Ready("fraud", "fraud/1")) == 0 })
	healthy.Store(true)
	eventually(t, "external back", func() bool { return len(s.Ready("fraud", "fraud/1")) == 1 })
}

func TestCloseLeavesNoProcesses(t *testing.T) {
	s := supervisor.New(supervisor.Config{WorkerCommand: worker(t, "worker")})
	s.Ensure(spec("builtin", 2))
	eventually(t, "2 ready", func() bool { return len(s.Ready("fraud", "fraud/1")) == 2 })
	pids := s.PIDs("fraud", "fraud/1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Close(ctx)
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("replica process %d survived Close", pid)
		}
	}
}
