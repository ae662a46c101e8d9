// Command gatewaybench measures what the Slipway gateway costs: the same
// load against one `slipway worker` serving the 32→64→64→2 MLP, once
// directly and once through a `slipway server` gateway endpoint whose only
// replica is that worker (runtime external), alternating, same machine, same
// run. It prints a Markdown table with the ratios.
//
//	go run ./internal/loadgen/cmd/gatewaybench -slipway bin/slipway [-d 5s] [-clients 16] [-rounds 2]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/loadgen"
	"github.com/slipwayhq/terraform-provider-slipway/internal/loadgen/benchenv"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

func main() {
	bin := flag.String("slipway", "bin/slipway", "slipway binary")
	d := flag.Duration("d", 5*time.Second, "duration of each measurement")
	clients := flag.Int("clients", 16, "concurrent clients for the saturation runs")
	rounds := flag.Int("rounds", 2, "alternating rounds per scenario; the median round is reported")
	flag.Parse()
	if err := run(*bin, *d, *clients, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		os.Exit(1)
	}
}

func run(bin string, d time.Duration, clients, rounds int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gatewaybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	model := onnxmodel.NewMLP(1, 32, 64, 64, 2)
	b, err := model.Marshal()
	if err != nil {
		return err
	}
	modelPath := filepath.Join(dir, "mlp.onnx")
	if err := os.WriteFile(modelPath, b, 0o600); err != nil {
		return err
	}

	// The worker both targets share.
	worker := exec.Command(bin, "worker", "--model-path", modelPath, "--format", "onnx", "--name", "mlp", "--version", "mlp/1")
	out, err := worker.StdoutPipe()
	if err != nil {
		return err
	}
	worker.Stderr = os.Stderr
	if err := worker.Start(); err != nil {
		return err
	}
	defer func() { _ = worker.Process.Kill(); _ = worker.Wait() }()
	var hello struct{ Listening string }
	if err := json.NewDecoder(bufio.NewReader(out)).Decode(&hello); err != nil {
		return fmt.Errorf("reading the worker's address: %w", err)
	}
	direct := "http://" + hello.Listening + "/v2/models/mlp/infer"

	api, gw := benchenv.FreeAddr(), benchenv.FreeAddr()
	server := exec.Command(bin, "server", "--data-dir", filepath.Join(dir, "data"), "--listen", api, "--gateway-listen", gw)
	server.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN=bench")
	if err := server.Start(); err != nil {
		return err
	}
	defer func() { _ = server.Process.Signal(os.Interrupt); _ = server.Wait() }()
	c, err := client.New(client.Config{Address: "http://" + api, Token: "bench"})
	if err != nil {
		return err
	}
	if err := benchenv.WaitFor(ctx, 10*time.Second, func() bool { return c.Health(ctx) == nil }); err != nil {
		return fmt.Errorf("server did not start: %w", err)
	}
	if _, err := c.CreateModelVersion(ctx, &apitypes.ModelVersion{Model: "mlp", Version: "1", Format: "onnx",
		Runtime: apitypes.Runtime{Kind: "external", URL: "http://" + hello.Listening}}); err != nil {
		return err
	}
	if _, err := c.CreateEndpoint(ctx, &apitypes.Endpoint{Name: "mlp", ModelVersion: "mlp/1", Replicas: apitypes.Replicas{Min: 1, Max: 1}}); err != nil {
		return err
	}
	if err := benchenv.WaitFor(ctx, 20*time.Second, func() bool {
		e, err := c.GetEndpoint(ctx, "mlp")
		return err == nil && e.Status.Phase == apitypes.PhaseReady
	}); err != nil {
		return fmt.Errorf("endpoint did not become ready: %w", err)
	}
	viaGateway := "http://" + gw + "/v2/models/mlp/infer"

	x := make([]string, 32)
	for i := range x {
		x[i] = fmt.Sprintf("%.3f", float64(i%7)/7)
	}
	body := []byte(`{"inputs":[{"name":"x","shape":[1,32],"datatype":"FP32","data":[` + strings.Join(x, ",") + `]}]}`)

	// Warm both paths (connections, caches) before measuring.
	loadgen.Run(ctx, direct, body, 4, time.Second)
	loadgen.Run(ctx, viaGateway, body, 4, time.Second)

	fmt.Printf("## Gateway overhead (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("Machine: %s. Model: MLP 32→64→64→2 (builtin runtime). Each cell: median of %d alternating rounds of %s.\n\n",
		benchenv.Machine(), rounds, d)
	fmt.Println("| scenario | path | req/s | p50 | p99 | failed |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	for _, sc := range []struct {
		name    string
		clients int
	}{{"1 client", 1}, {fmt.Sprintf("%d clients (saturation)", clients), clients}} {
		var ds, gs []loadgen.Result
		for range rounds {
			ds = append(ds, loadgen.Run(ctx, direct, body, sc.clients, d))
			gs = append(gs, loadgen.Run(ctx, viaGateway, body, sc.clients, d))
		}
		dm, gm := median(ds), median(gs)
		row := func(path string, r loadgen.Result) {
			fmt.Printf("| %s | %s | %.0f | %s | %s | %d |\n", sc.name, path, r.Throughput(), us(r.Quantile(0.5)), us(r.Quantile(0.99)), r.Failures)
		}
		row("direct to worker", dm)
		row("through gateway", gm)
		fmt.Printf("| %s | **gateway cost** | **%.0f %% of direct** | **%s** | **%s** | |\n", sc.name,
			100*gm.Throughput()/dm.Throughput(), signedUS(gm.Quantile(0.5)-dm.Quantile(0.5)), signedUS(gm.Quantile(0.99)-dm.Quantile(0.99)))
	}
	fmt.Printf("\nCommand: `make bench` (go run ./internal/loadgen/cmd/gatewaybench -slipway bin/slipway -d %s -clients %d -rounds %d)\n", d, clients, rounds)
	return nil
}

// median picks the round with the median throughput.
func median(rs []loadgen.Result) loadgen.Result {
	best := rs[0]
	for _, r := range rs {
		n := 0
		for _, o := range rs {
			if o.Throughput() < r.Throughput() {
				n++
			}
		}
		if n == len(rs)/2 {
			best = r
		}
	}
	return best
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

// signedUS shows a difference with its sign; under load a p99 through the
// gateway can come out below the direct one.
func signedUS(d time.Duration) string { return fmt.Sprintf("%+d µs", d.Microseconds()) }
