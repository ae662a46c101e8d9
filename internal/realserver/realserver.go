// Package realserver runs the real slipway binary as a subprocess for the
// end-to-end (internal/e2e) and soak (internal/soak) tests: it builds the
// binary, starts `slipway server` on free ports, stops, kills and restarts
// it, and finds its replica processes in /proc. Linux only (Pdeathsig,
// /proc). Only tests import it.
package realserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// AdminToken is the admin token every server started here bootstraps.
const AdminToken = "realserver-admin-secret"

// Build compiles the slipway command into a temporary directory (with -race
// when race is set, so that the server's own races are caught too) and
// returns its path and a function that removes it.
func Build(race bool) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "slipway-bin-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "slipway")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/slipwayhq/terraform-provider-slipway/cmd/slipway")
	build := exec.Command(GoTool(), args...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building slipway: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// GoTool is the go command that runs these tests: GOROOT is set by it.
func GoTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// Opts says how to start a server; a restart passes the same data
// directory and ports.
type Opts struct {
	Bin                      string // the slipway binary (from Build)
	DataDir, APIAddr, GWAddr string // default: a temp dir and free ports
	Args                     []string
	NoWait                   bool // return at once, healthy or not
	bindRetries              int
}

// Server is one `slipway server` subprocess.
type Server struct {
	T       *testing.T
	Bin     string
	DataDir string
	APIAddr string // host:port
	GWAddr  string
	API     *client.Client // admin token
	GW      string         // gateway base URL
	Out     *LogBuffer     // the server's (and its workers') output
	Exited  chan struct{}  // closed once the process is reaped

	cmd         *exec.Cmd
	raceChecked bool
}

// Start starts `slipway server` and, unless o.NoWait, waits for /healthz.
// Cleanup stops it with SIGTERM (SIGKILL after 30s) and fails the test if
// it reported a data race. A restart that finds its port still taken by a
// socket of the killed server's clients is retried on the same port.
func Start(t *testing.T, o Opts) *Server {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.APIAddr == "" {
		o.APIAddr = FreeAddr(t)
	}
	if o.GWAddr == "" {
		o.GWAddr = FreeAddr(t)
	}
	s := &Server{T: t, Bin: o.Bin, DataDir: o.DataDir, APIAddr: o.APIAddr, GWAddr: o.GWAddr, GW: "http://" + o.GWAddr, Out: &LogBuffer{}, Exited: make(chan struct{})}
	s.cmd = exec.Command(o.Bin, append([]string{"server", "--data-dir", o.DataDir, "--listen", o.APIAddr, "--gateway-listen", o.GWAddr}, o.Args...)...)
	s.cmd.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN="+AdminToken)
	s.cmd.Stdout, s.cmd.Stderr = s.Out, s.Out
	// Never outlive the test binary, even if it is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting slipway server: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.Exited) }()
	t.Cleanup(s.Stop)

	var err error
	s.API, err = client.New(client.Config{Address: "http://" + o.APIAddr, Token: AdminToken, Source: "api", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if o.NoWait {
		return s
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + o.APIAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.Exited:
			if strings.Contains(s.Out.String(), "address already in use") && o.bindRetries < 25 {
				t.Logf("restart on %s/%s: port still in use; retrying", o.APIAddr, o.GWAddr)
				o.bindRetries++
				time.Sleep(200 * time.Millisecond)
				return Start(t, o)
			}
			t.Fatalf("slipway server exited before it was healthy:\n%s", s.Out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slipway server not healthy after 30s (last error %v):\n%s", err, s.Out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts a new server on s's binary, data directory and ports.
func (s *Server) Restart(t *testing.T, o Opts) *Server {
	t.Helper()
	o.Bin, o.DataDir, o.APIAddr, o.GWAddr = s.Bin, s.DataDir, s.APIAddr, s.GWAddr
	return Start(t, o)
}

// PID is the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends the server gracefully if it still runs.
func (s *Server) Stop() {
	select {
	case <-s.Exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.Exited:
		case <-time.After(30 * time.Second):
			s.T.Errorf("slipway server ignored SIGTERM for 30s; killing it")
			_ = s.cmd.Process.Kill()
			<-s.Exited
		}
	}
	s.checkRaces()
	if s.T.Failed() {
		s.T.Logf("log of server %d (last 150 lines):\n%s", s.PID(), Tail(s.Out.String(), 150))
	}
}

// Kill ends the server with SIGKILL and waits until it is reaped.
func (s *Server) Kill() {
	s.T.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		select {
		case <-s.Exited: // it had exited on its own (a server that could not bind)
		default:
			s.T.Fatalf("kill -9 server: %v", err)
		}
	}
	<-s.Exited
	s.checkRaces()
}

// checkRaces fails the test if the server (or a worker) reported a data
// race; once per server.
func (s *Server) checkRaces() {
	if !s.raceChecked && strings.Contains(s.Out.String(), "WARNING: DATA RACE") {
		s.T.Errorf("the slipway server %d (or a worker) reported a data race:\n%s", s.PID(), s.Out)
	}
	s.raceChecked = true
}

// WaitServing waits until the endpoint is ready and its status traffic is
// exactly want, each version with a ready replica.
func (s *Server) WaitServing(t *testing.T, name string, want map[string]int) *apitypes.Endpoint {
	t.Helper()
	return s.WaitEndpoint(t, name, fmt.Sprintf("ready serving %v", want), 30*time.Second, func(e *apitypes.Endpoint) bool {
		if e.Status.Phase != apitypes.PhaseReady || len(e.Status.Traffic) != len(want) {
			return false
		}
		for _, tr := range e.Status.Traffic {
			if want[tr.ModelVersion] != tr.Percent || tr.ReadyReplicas < 1 {
				return false
			}
		}
		return true
	})
}

// WaitEndpoint polls the endpoint until cond holds or timeout passes.
func (s *Server) WaitEndpoint(t *testing.T, name, what string, timeout time.Duration, cond func(*apitypes.Endpoint) bool) *apitypes.Endpoint {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *apitypes.Endpoint
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		e, err := s.API.GetEndpoint(ctx, name)
		cancel()
		if err == nil {
			last = e
			if cond(e) {
				return e
			}
		}
		lastErr = err
		if time.Now().After(deadline) {
			b, _ := json.Marshal(last)
			t.Fatalf("endpoint %s: timed out after %s waiting for %s; last %s (err %v)", name, timeout, what, b, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// LogBuffer collects a subprocess's output; safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreeAddr picks a free loopback port below the kernel's ephemeral range.
// A port from that range (what ":0" gives) can be taken, while a killed
// server is down, as the local port of any outgoing connection, and the
// restart on that port then fails with "address already in use"; below the
// range only another listener can take it.
func FreeAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 200 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(low-10000)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatalf("no free port found below %d", low)
	return ""
}
