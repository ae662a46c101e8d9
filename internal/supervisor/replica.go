package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type state int

const (
	stateStarting state = iota
	stateReady
	stateStopping
	stateStopped
)

// DefaultReadinessPath is probed when the runtime names none: the Open
// Inference Protocol's server readiness route.
const DefaultReadinessPath = "/v2/health/ready"

type replica struct {
	sup    *Supervisor
	spec   Spec
	name   string
	cancel context.CancelFunc
	done   chan struct{}

	mu            sync.Mutex
	state         state
	backend       string
	retired       bool
	restarts      int
	startFailures int
	lastErr       string
	pid           int
}

func (r *replica) retire() {
	r.mu.Lock()
	r.retired = true
	r.mu.Unlock()
	r.cancel()
}

func (r *replica) isRetired() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retired
}

func (r *replica) readyBackend() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stateReady && !r.retired {
		return r.backend
	}
	return ""
}

// setState records a state and tells the owner when readiness changed.
func (r *replica) setState(st state, backend string) {
	r.mu.Lock()
	was := r.state == stateReady
	r.state, r.backend = st, backend
	r.mu.Unlock()
	if was != (st == stateReady) {
		r.sup.cfg.OnChange(r.spec.Endpoint, r.spec.Version.ID)
	}
}

// run keeps the replica alive until its context is cancelled, restarting
// it with exponential backoff after each failure.
func (r *replica) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		started := time.Now()
		err := r.once(ctx)
		if ctx.Err() != nil {
			r.setState(stateStopped, "")
			return
		}
		r.mu.Lock()
		r.restarts++
		r.lastErr = err.Error()
		r.mu.Unlock()
		r.sup.log.Warn("replica failed; restarting", "replica", r.name, "err", err, "backoff", backoff)
		if time.Since(started) > time.Minute {
			backoff = 100 * time.Millisecond // it served for a while: restart promptly
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			r.setState(stateStopped, "")
			return
		case <-t.C:
		}
		backoff = min(backoff*2, r.sup.cfg.MaxRestartBackoff)
	}
}

// process is one started replica process.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
	stderr *tail
}

// once starts the replica, waits until it is ready, then watches it. It
// returns nil after a requested stop, or why the replica is gone.
func (r *replica) once(ctx context.Context) error {
	r.setState(stateStarting, "")
	proc, backend, err := r.launch(ctx)
	if err != nil {
		r.countStartFailure()
		return err
	}
	if err := r.waitReady(ctx, proc, backend); err != nil {
		proc.kill()
		if ctx.Err() != nil {
			return nil
		}
		r.countStartFailure()
		return err
	}
	r.mu.Lock()
	if proc.cmd != nil {
		r.pid = proc.cmd.Process.Pid
	}
	r.startFailures = 0
	r.lastErr = ""
	r.mu.Unlock()
	r.setState(stateReady, backend)

	tick := time.NewTicker(r.sup.cfg.HealthInterval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			r.shutdown(proc, backend)
			return nil
		case <-proc.exitedC():
			r.clearPID()
			r.setState(stateStarting, "")
			return fmt.Errorf("replica %s exited: %w%s", r.name, proc.err, proc.stderrSuffix())
		case <-tick.C:
			if err := r.probe(ctx, backend); err != nil {
				failures++
				if failures >= r.sup.cfg.HealthFailures {
					r.setState(stateStarting, "")
					proc.kill()
					r.clearPID()
					return fmt.Errorf("replica %s failed %d health checks in a row: %w", r.name, failures, err)
				}
				continue
			}
			failures = 0
		}
	}
}

// countStartFailure records a start that never became ready and tells the
// owner, which may decide the version cannot be served.
func (r *replica) countStartFailure() {
	r.mu.Lock()
	r.startFailures++
	r.mu.Unlock()
	r.sup.cfg.OnChange(r.spec.Endpoint, r.spec.Version.ID)
}

// launch starts the process (none for external) and returns its base URL.
func (r *replica) launch(ctx context.Context) (*process, string, error) {
	rt := r.spec.Version.Runtime
	if rt.Kind != "external" && r.spec.ArtifactPath != "" && r.spec.Version.SHA256 != "" {
		if err := r.sup.artifacts.check(r.spec.ArtifactPath, r.spec.Version.SHA256); err != nil {
			return nil, "", fmt.Errorf("replica %s not started: %w", r.name, err)
		}
	}
	switch rt.Kind {
	case "external":
		return &process{}, strings.TrimRight(rt.URL, "/"), nil
	case "builtin":
		if len(r.sup.cfg.WorkerCommand) == 0 {
			return nil, "", errors.New("the builtin runtime needs the slipway worker command, and none is configured")
		}
		argv := append(append([]string(nil), r.sup.cfg.WorkerCommand...),
			"--model-path", r.spec.ArtifactPath, "--format", r.spec.Version.Format,
			"--name", r.spec.Endpoint, "--version", r.spec.Version.ID, "--listen", "127.0.0.1:0")
		cmd := exec.Command(argv[0], argv[1:]...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, "", err
		}
		proc, err := startProcess(cmd)
		if err != nil {
			return nil, "", fmt.Errorf("starting worker for %s: %w", r.name, err)
		}
		addr, err := readListening(ctx, stdout, proc, r.sup.cfg.StartTimeout)
		if err != nil {
			proc.kill()
			return nil, "", fmt.Errorf("worker for %s did not report its address: %w%s", r.name, err, proc.stderrSuffix())
		}
		return proc, "http://" + addr, nil
	case "process":
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		repl := strings.NewReplacer("{port}", strconv.Itoa(port), "{model_path}", r.spec.ArtifactPath)
		argv := make([]string, len(rt.Command))
		for i, a := range rt.Command {
			argv[i] = repl.Replace(a)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = os.Environ()
		keys := make([]string, 0, len(rt.Env))
		for k := range rt.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd.Env = append(cmd.Env, k+"="+repl.Replace(rt.Env[k]))
		}
		proc, err := startProcess(cmd)
		if err != nil {
			return nil, "", fmt.Errorf("starting %q for %s: %w", argv[0], r.name, err)
		}
		return proc, "http://127.0.0.1:" + strconv.Itoa(port), nil
	default:
		return nil, "", fmt.Errorf("runtime kind %q is not supported", rt.Kind)
	}
}

func (r *replica) readinessPath() string {
	if p := r.spec.Version.Runtime.ReadinessPath; p != "" {
		return p
	}
	return DefaultReadinessPath
}

func (r *replica) probe(ctx context.Context, backend string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, backend+r.readinessPath(), nil)
	if err != nil {
		return err
	}
	resp, err := r.sup.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s answered %s", r.readinessPath(), resp.Status)
	}
	return nil
}

// waitReady polls readiness often: every millisecond here is lead time.
func (r *replica) waitReady(ctx context.Context, proc *process, backend string) error {
	ctx, cancel := context.WithTimeout(ctx, r.sup.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		err := r.probe(ctx, backend)
		if err == nil {
			return nil
		}
		// The probe the deadline cuts short says only that; the one
		// before it says why the replica is not ready.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s not ready after %s: %w%s", r.name, r.sup.cfg.StartTimeout, last, proc.stderrSuffix())
		case <-proc.exitedC():
			return fmt.Errorf("replica %s exited before it was ready: %w%s", r.name, proc.err, proc.stderrSuffix())
		case <-tick.C:
		}
	}
}

// shutdown takes the replica out of rotation, waits for its in-flight
// requests, then stops the process: SIGTERM, and SIGKILL if it lingers.
func (r *replica) shutdown(proc *process, backend string) {
	r.setState(stateStopping, backend) // OnChange runs now: routes drop this backend
	deadline := time.Now().Add(r.sup.cfg.DrainTimeout)
	for r.sup.cfg.InFlight(backend) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	proc.terminate(10 * time.Second)
	r.clearPID()
}

func (r *replica) clearPID() {
	r.mu.Lock()
	r.pid = 0
	r.mu.Unlock()
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, exited: make(chan struct{}), stderr: &tail{}}
	cmd.Stderr = p.stderr
	if err := start(cmd); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// exitedC is nil (never ready) for an external replica without a process.
func (p *process) exitedC() <-chan struct{} { return p.exited }

func (p *process) kill() {
	if p.cmd == nil {
		return
	}
	signalGroup(p.cmd, syscall.SIGKILL)
	<-p.exited
}

func (p *process) terminate(grace time.Duration) {
	if p.cmd == nil {
		return
	}
	signalGroup(p.cmd, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *process) stderrSuffix() string {
	if p.stderr == nil {
		return ""
	}
	if l := p.stderr.lastLine(); l != "" {
		return "; its last words: " + l
	}
	return ""
}

// readListening reads the worker's first stdout line, {"listening":"host:port"}.
func readListening(ctx context.Context, stdout io.ReadCloser, proc *process, timeout time.Duration) (string, error) {
	type result struct {
		addr string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, err := br.ReadString('\n')
		if err != nil {
			ch <- result{err: fmt.Errorf("reading its stdout: %w", err)}
			return
		}
		var msg struct {
			Listening string `json:"listening"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil || msg.Listening == "" {
			ch <- result{err: fmt.Errorf("unexpected first line %q", strings.TrimSpace(line))}
			return
		}
		ch <- result{addr: msg.Listening}
		_, _ = io.Copy(io.Discard, br) // keep the pipe drained
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			// A closed stdout usually means the worker is exiting: its exit
			// status says more than the end of the pipe.
			select {
			case <-proc.exited:
				return "", fmt.Errorf("it exited: %w", proc.err)
			case <-time.After(time.Second):
			}
		}
		return res.addr, res.err
	case <-proc.exited:
		return "", fmt.Errorf("it exited: %w", proc.err)
	case <-time.After(timeout):
		return "", fmt.Errorf("no address after %s", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// freePort asks the kernel for a free loopback port for a process runtime
// that cannot report the one it bound itself.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last few KiB a replica wrote to stderr, to quote in errors.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
