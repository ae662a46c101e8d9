// Command footprint measures what Slipway costs a machine at rest: the
// server's startup time to healthy and idle RSS, and a builtin replica's
// (`slipway worker`) startup time to ready and RSS, each against the
// smallest Go HTTP server (this program re-executed, serving one health
// route) measured the same way in the same run. Startup times are the
// median of -n alternating starts; RSS is read from /proc once a process
// has been idle for -settle. It prints a Markdown table with the ratios.
//
//	go run ./internal/loadgen/cmd/footprint -slipway bin/slipway [-n 7] [-replicas 3]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/loadgen/benchenv"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

// helloEnv makes this program the baseline: a minimal net/http server on
// the address the variable holds.
const helloEnv = "FOOTPRINT_HELLO_LISTEN"

func main() {
	if addr := os.Getenv(helloEnv); addr != "" {
		hello(addr)
		return
	}
	bin := flag.String("slipway", "bin/slipway", "slipway binary")
	n := flag.Int("n", 7, "starts of each process; the median startup time is reported")
	replicas := flag.Int("replicas", 3, "builtin replicas the server starts for the RSS per replica")
	settle := flag.Duration("settle", 2*time.Second, "idle time before RSS is read")
	flag.Parse()
	if err := run(*bin, *n, *replicas, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func hello(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(l)
}

// proc is one started process that answers on url when healthy.
type proc struct {
	cmd *exec.Cmd
	url string
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// start starts cmd and returns once url answers 200, with how long that took.
func start(cmd *exec.Cmd, url string) (*proc, time.Duration, error) {
	hc := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	p := &proc{cmd: cmd, url: url}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(t0), nil
			}
		}
		if time.Since(t0) > 30*time.Second {
			p.stop()
			return nil, 0, fmt.Errorf("%s did not answer 200 on %s within 30s", cmd.Path, url)
		}
		time.Sleep(time.Millisecond)
	}
}

func run(bin string, n, replicas int, settle time.Duration) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	model, err := onnxmodel.NewMLP(1, 32, 64, 64, 2).Marshal()
	if err != nil {
		return err
	}
	modelPath := filepath.Join(dir, "mlp.onnx")
	if err := os.WriteFile(modelPath, model, 0o600); err != nil {
		return err
	}
	dataDir := filepath.Join(dir, "data")

	baseline := func() (*proc, time.Duration, error) {
		addr := benchenv.FreeAddr()
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), helloEnv+"="+addr)
		return start(cmd, "http://"+addr+"/healthz")
	}
	server := func() (*proc, time.Duration, error) {
		api := benchenv.FreeAddr()
		cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", api, "--gateway-listen", benchenv.FreeAddr())
		cmd.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN=bench")
		return start(cmd, "http://"+api+"/healthz")
	}
	worker := func() (*proc, time.Duration, error) {
		addr := benchenv.FreeAddr()
		cmd := exec.Command(bin, "worker", "--model-path", modelPath, "--format", "onnx", "--name", "mlp", "--version", "mlp/1", "--listen", addr)
		return start(cmd, "http://"+addr+"/v2/health/ready")
	}

	// The server's first start creates its store; it is not counted.
	p, first, err := server()
	if err != nil {
		return err
	}
	p.stop()

	var rows []string
	measure := func(name string, slip func() (*proc, time.Duration, error)) error {
		var bs, ss []time.Duration
		var bRSS, sRSS int64
		for i := range n {
			for _, side := range []struct {
				f   func() (*proc, time.Duration, error)
				ds  *[]time.Duration
				rss *int64
			}{{baseline, &bs, &bRSS}, {slip, &ss, &sRSS}} {
				p, d, err := side.f()
				if err != nil {
					return err
				}
				*side.ds = append(*side.ds, d)
				if i == n-1 {
					time.Sleep(settle)
					*side.rss, err = rss(p.cmd.Process.Pid)
				}
				p.stop()
				if err != nil {
					return err
				}
			}
		}
		bm, sm := benchenv.Median(bs), benchenv.Median(ss)
		rows = append(rows,
			fmt.Sprintf("| %s: startup to healthy (median of %d) | %s | %s | %.1f× |", name, n, ms(bm), ms(sm), float64(sm)/float64(bm)),
			fmt.Sprintf("| %s: RSS, idle | %s | %s | %.1f× |", name, mib(bRSS), mib(sRSS), float64(sRSS)/float64(bRSS)))
		return nil
	}
	if err := measure("`slipway server` (empty store)", server); err != nil {
		return err
	}
	if err := measure("`slipway worker` (builtin replica, 32→64→64→2 MLP)", worker); err != nil {
		return err
	}

	// RSS per replica as the server runs them: one endpoint with
	// `replicas` builtin replicas; the server's children, once ready.
	p, _, err = server()
	if err != nil {
		return err
	}
	defer p.stop()
	perReplica, serverWith, err := replicaRSS(p, modelPath, replicas, settle)
	if err != nil {
		return err
	}
	bp, _, err := baseline()
	if err != nil {
		return err
	}
	time.Sleep(settle)
	bRSS, err := rss(bp.cmd.Process.Pid)
	bp.stop()
	if err != nil {
		return err
	}
	rows = append(rows,
		fmt.Sprintf("| builtin replica started by the server: RSS each (mean of %d) | %s | %s | %.1f× |", replicas, mib(bRSS), mib(perReplica), float64(perReplica)/float64(bRSS)),
		fmt.Sprintf("| `slipway server` serving that endpoint: RSS | %s | %s | %.1f× |", mib(bRSS), mib(serverWith), float64(serverWith)/float64(bRSS)))

	fmt.Printf("## Footprint (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("Machine: %s, %s. Baseline: the smallest Go HTTP server (net/http, one route), started and measured the same way. "+
		"Startup: from exec to the first 200 on the health route, polled every millisecond; starts alternate. RSS: VmRSS after %s idle. "+
		"The server's first start, which creates its store, took %s and is not counted.\n\n",
		benchenv.Machine(), runtime.Version(), settle, ms(first))
	fmt.Println("| measure | baseline (minimal Go HTTP server) | Slipway | ratio |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\nCommand: go run ./internal/loadgen/cmd/footprint -slipway bin/slipway -n %d -replicas %d\n", n, replicas)
	return nil
}

// replicaRSS creates an endpoint with `replicas` builtin replicas on the
// server p, waits until they are ready, and returns the mean RSS of the
// server's worker children and the server's own RSS.
func replicaRSS(p *proc, modelPath string, replicas int, settle time.Duration) (perReplica, server int64, err error) {
	ctx := context.Background()
	base := strings.TrimSuffix(p.url, "/healthz")
	c, err := client.New(client.Config{Address: base, Token: "bench"})
	if err != nil {
		return 0, 0, err
	}
	sum, err := fileSHA256(modelPath)
	if err != nil {
		return 0, 0, err
	}
	if _, err := c.CreateModelVersion(ctx, &apitypes.ModelVersion{Model: "mlp", Version: "1", Format: "onnx",
		ArtifactURI: "file://" + modelPath, SHA256: sum, Runtime: apitypes.Runtime{Kind: "builtin"}}); err != nil {
		return 0, 0, err
	}
	if _, err := c.CreateEndpoint(ctx, &apitypes.Endpoint{Name: "mlp", ModelVersion: "mlp/1",
		Replicas: apitypes.Replicas{Min: replicas, Max: replicas}}); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		e, err := c.GetEndpoint(ctx, "mlp")
		if err == nil && e.Status.Phase == apitypes.PhaseReady && len(e.Status.Traffic) == 1 && e.Status.Traffic[0].ReadyReplicas == replicas {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %+v", e.Status)
			}
			return 0, 0, fmt.Errorf("the endpoint did not get %d ready replicas: %w", replicas, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(settle)
	kids, err := children(p.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	if len(kids) != replicas {
		return 0, 0, fmt.Errorf("the server has %d child processes, want %d", len(kids), replicas)
	}
	var total int64
	for _, k := range kids {
		r, err := rss(k)
		if err != nil {
			return 0, 0, err
		}
		total += r
	}
	server, err = rss(p.cmd.Process.Pid)
	return total / int64(len(kids)), server, err
}

// rss is the process's resident set in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// children lists the processes whose parent is pid.
func children(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids, nil
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
