// Command tofubench measures what Slipway costs a Terraform user, against
// the builtin terraform_data resource in the same run on the same machine:
//
//   - lead time: a `tofu apply` that moves an endpoint to another model
//     version (all_at_once policy, a small ONNX model, builtin runtime)
//     until all its traffic is on that version (the provider waits for it),
//     vs a `tofu apply` that changes one terraform_data;
//   - plan at scale: `tofu plan` (with refresh) of N Slipway resources (model
//     versions, deployment policies and a few endpoints) vs N terraform_data.
//
// A third column measures the same with the smallest provider built like the
// Slipway one (./internal/loadgen/cmd/floorprovider, one resource that talks
// to nothing): what any external provider costs OpenTofu, apart from what
// Slipway does. Rounds alternate the three; the median round is reported, as
// a Markdown table with the ratios. Everything runs offline: terraform_data is
// built into OpenTofu, and both providers are served through a dev_overrides
// CLI configuration, so no `tofu init` is needed.
//
//	go run ./internal/loadgen/cmd/tofubench -slipway bin/slipway -provider bin/terraform-provider-slipway \
//	    -tofu ~/.cache/slipway/tofu-1.12.6/tofu [-rounds 7] [-resources 1000] [-plan-rounds 3] [-only lead|plan] [-v]
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/loadgen/benchenv"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

type options struct {
	slipway, provider, tofu string
	floor                   string
	build                   bool
	rounds, planRounds      int
	resources, endpoints    int
	only                    string
	verbose                 bool
}

func main() {
	var o options
	home, _ := os.UserHomeDir()
	flag.StringVar(&o.slipway, "slipway", "bin/slipway", "slipway binary")
	flag.StringVar(&o.provider, "provider", "bin/terraform-provider-slipway", "provider binary (served to tofu through dev_overrides)")
	flag.StringVar(&o.tofu, "tofu", filepath.Join(home, ".cache/slipway/tofu-1.12.6/tofu"), "OpenTofu CLI")
	flag.StringVar(&o.floor, "floor-provider", "", "the minimal provider binary (default: go build ./internal/loadgen/cmd/floorprovider into a temp dir)")
	flag.BoolVar(&o.build, "build", false, "go build both binaries (from the current directory) before measuring")
	flag.IntVar(&o.rounds, "rounds", 7, "lead time: alternating rounds; the median is reported")
	flag.IntVar(&o.planRounds, "plan-rounds", 3, "plan at scale: alternating rounds; the median is reported")
	flag.IntVar(&o.resources, "resources", 1000, "plan at scale: resources on each side")
	flag.IntVar(&o.endpoints, "endpoints", 4, "plan at scale: how many of the Slipway resources are endpoints (each runs a replica)")
	flag.StringVar(&o.only, "only", "", "run only this benchmark: lead or plan")
	flag.BoolVar(&o.verbose, "v", false, "print each round and where the lead time went")
	flag.Parse()
	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "tofubench:", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	if o.build {
		for _, b := range [][2]string{{o.provider, "."}, {o.slipway, "./cmd/slipway"}} {
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("building %s: %w", b[0], err)
			}
		}
	}
	for _, p := range []*string{&o.slipway, &o.provider, &o.tofu} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%w (run `make build`, or pass -build)", err)
		}
		*p = abs
	}
	dir, err := os.MkdirTemp("", "tofubench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.floor == "" {
		o.floor = filepath.Join(dir, "floor", "terraform-provider-floor")
		cmd := exec.Command("go", "build", "-o", o.floor, "./internal/loadgen/cmd/floorprovider")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building the minimal provider (run from the repository root, or pass -floor-provider): %w", err)
		}
	}
	if o.floor, err = filepath.Abs(o.floor); err != nil {
		return err
	}

	b, err := newBench(o, dir)
	if err != nil {
		return err
	}
	defer b.close()

	fmt.Printf("## Terraform workflow benchmarks (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("Machine: %s, %s. OpenTofu: %s. Rounds alternate terraform_data, the minimal provider and Slipway; each cell is the median round.\n\n",
		benchenv.Machine(), runtime.Version(), tofuVersion(o.tofu, b.env))
	fmt.Println("| benchmark | baseline: terraform_data | minimal provider | Slipway | Slipway ÷ baseline | target | Slipway ÷ minimal provider |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	var notes []string
	if o.only == "" || o.only == "lead" {
		note, err := b.leadTime()
		if err != nil {
			return fmt.Errorf("lead time: %w", err)
		}
		notes = append(notes, note)
	}
	if o.only == "" || o.only == "plan" {
		if err := b.planAtScale(); err != nil {
			return fmt.Errorf("plan at scale: %w", err)
		}
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
	fmt.Printf("Command: go run ./internal/loadgen/cmd/tofubench -rounds %d -plan-rounds %d -resources %d -endpoints %d\n",
		o.rounds, o.planRounds, o.resources, o.endpoints)
	return nil
}

// bench is one slipway server and the environment tofu runs in.
type bench struct {
	o      *options
	dir    string
	env    []string
	server *exec.Cmd
	c      *client.Client
	model  [2]string // two distinct ONNX models, versions 1 and 2
	// cpu is the CPU time of the last tofu command: its own and its
	// providers' (which it waits for), plus what the server spent meanwhile.
	cpu time.Duration
}

func newBench(o *options, dir string) (*bench, error) {
	b := &bench{o: o, dir: dir}
	cli := filepath.Join(dir, "cli.tfrc")
	cfg := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    %q = %q\n    %q = %q\n  }\n  direct {}\n}\n",
		"slipwayhq/slipway", filepath.Dir(o.provider), "bench/floor", filepath.Dir(o.floor))
	if err := os.WriteFile(cli, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	for i := range b.model {
		m, err := onnxmodel.NewMLP(uint64(i+1), 8, 16, 2).Marshal()
		if err != nil {
			return nil, err
		}
		b.model[i] = filepath.Join(dir, fmt.Sprintf("model%d.onnx", i+1))
		if err := os.WriteFile(b.model[i], m, 0o600); err != nil {
			return nil, err
		}
	}

	api, gw := benchenv.FreeAddr(), benchenv.FreeAddr()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	b.server = exec.Command(o.slipway, "server", "--data-dir", filepath.Join(dir, "data"), "--listen", api, "--gateway-listen", gw)
	b.server.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN=bench")
	b.server.Stdout, b.server.Stderr = logf, logf
	if err := b.server.Start(); err != nil {
		return nil, err
	}
	if b.c, err = client.New(client.Config{Address: "http://" + api, Token: "bench"}); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := benchenv.WaitFor(ctx, 10*time.Second, func() bool { return b.c.Health(ctx) == nil }); err != nil {
		b.close()
		return nil, fmt.Errorf("server did not start: %w", err)
	}

	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "TF_CLI_CONFIG_FILE", k == "TF_CLI_CONFIG_PATH", k == "TF_LOG", k == "TF_LOG_PATH",
			k == "TF_PLUGIN_CACHE_DIR", k == "TF_DATA_DIR", strings.HasPrefix(k, "SLIPWAY_"), strings.HasPrefix(k, "TF_VAR_"):
			continue
		}
		b.env = append(b.env, kv)
	}
	b.env = append(b.env, "TF_CLI_CONFIG_FILE="+cli, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"SLIPWAY_ADDR=http://"+api, "SLIPWAY_TOKEN=bench")
	return b, nil
}

func (b *bench) close() {
	if b.server != nil && b.server.Process != nil {
		_ = b.server.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = b.server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = b.server.Process.Kill()
			<-done
		}
	}
}

// tofu runs one tofu command in dir and returns how long it took.
func (b *bench) tofu(dir string, args ...string) (time.Duration, error) {
	cmd := exec.Command(b.o.tofu, args...)
	cmd.Dir, cmd.Env = dir, b.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	server0 := processCPU(b.server.Process.Pid)
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	b.cpu = 0
	if cmd.ProcessState != nil {
		b.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() + processCPU(b.server.Process.Pid) - server0
	}
	if err != nil {
		return d, fmt.Errorf("tofu %s in %s: %w\n%s", strings.Join(args, " "), dir, err, lastLines(out.String(), 40))
	}
	return d, nil
}

func (b *bench) workdir(name, config string) (string, error) {
	d := filepath.Join(b.dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, os.WriteFile(filepath.Join(d, "main.tf"), []byte(config), 0o600)
}

var applyArgs = []string{"apply", "-input=false", "-auto-approve", "-no-color"}

func apply(vars ...string) []string { return append(slices.Clone(applyArgs), vars...) }

const baselineLeadConfig = `
variable "n" {
  type = number
}

resource "terraform_data" "change" {
  input = var.n
}
`

const floorLeadConfig = `
terraform {
  required_providers {
    floor = { source = "bench/floor" }
  }
}

variable "n" {
  type = number
}

resource "floor_value" "change" {
  input = tostring(var.n)
}
`

//nolint:gosec // G101: a Terraform configuration, not a credential
const slipwayLeadConfig = `
terraform {
  required_providers {
    slipway = { source = "slipwayhq/slipway" }
  }
}

provider "slipway" {}

variable "v" {
  type = number
}

resource "slipway_model_version" "m" {
  count        = 2
  model        = "lead"
  version      = tostring(count.index + 1)
  artifact_uri = "file://%s/model${count.index + 1}.onnx"
  sha256       = filesha256("%s/model${count.index + 1}.onnx")
  format       = "onnx"
  runtime      = { kind = "builtin" }
}

resource "slipway_deployment_policy" "now" {
  name     = "now"
  strategy = "all_at_once"
}

resource "slipway_model_endpoint" "lead" {
  name              = "lead"
  model_version     = slipway_model_version.m[var.v - 1].id
  deployment_policy = slipway_deployment_policy.now.name
  replicas          = { min = 1, max = 1 }
}
`

// leadTime measures an apply that moves the endpoint to the other version
// against one that changes a terraform_data.
func (b *bench) leadTime() (string, error) {
	base, err := b.workdir("lead-baseline", baselineLeadConfig)
	if err != nil {
		return "", err
	}
	floor, err := b.workdir("lead-floor", floorLeadConfig)
	if err != nil {
		return "", err
	}
	slip, err := b.workdir("lead-slipway", fmt.Sprintf(slipwayLeadConfig, b.dir, b.dir))
	if err != nil {
		return "", err
	}
	// Setup (not measured): create all three, and warm each path once.
	for _, step := range []struct {
		dir  string
		vars []string
	}{{base, []string{"-var", "n=0"}}, {floor, []string{"-var", "n=0"}}, {slip, []string{"-var", "v=1"}},
		{base, []string{"-var", "n=1"}}, {floor, []string{"-var", "n=1"}}, {slip, []string{"-var", "v=2"}}} {
		if _, err := b.tofu(step.dir, apply(step.vars...)...); err != nil {
			return "", err
		}
	}
	var bs, fs, ss, bc, fc, sc []time.Duration
	var phases []leadPhases
	v := 2
	for i := range b.o.rounds {
		bd, err := b.tofu(base, apply("-var", fmt.Sprintf("n=%d", i+2))...)
		if err != nil {
			return "", err
		}
		bc = append(bc, b.cpu)
		fd, err := b.tofu(floor, apply("-var", fmt.Sprintf("n=%d", i+2))...)
		if err != nil {
			return "", err
		}
		fs, fc = append(fs, fd), append(fc, b.cpu)
		v = 3 - v
		start := time.Now()
		sd, err := b.tofu(slip, apply("-var", fmt.Sprintf("v=%d", v))...)
		if err != nil {
			return "", err
		}
		sc = append(sc, b.cpu)
		ph, err := b.phases(start, start.Add(sd), fmt.Sprintf("lead/%d", v))
		if err != nil {
			return "", err
		}
		bs, ss, phases = append(bs, bd), append(ss, sd), append(phases, ph)
		if b.o.verbose {
			fmt.Fprintf(os.Stderr, "lead round %d: baseline %s, minimal provider %s, slipway %s (%s)\n", i+1, ms(bd), ms(fd), ms(sd), ph)
		}
	}
	bm, fm, sm := benchenv.Median(bs), benchenv.Median(fs), benchenv.Median(ss)
	fmt.Printf("| lead time: apply until 100 %% of traffic is on the new version (median of %d) | %s | %s | %s | **%.1f×** | ≤ 5× | %.1f× |\n",
		b.o.rounds, ms(bm), ms(fm), ms(sm), float64(sm)/float64(bm), float64(sm)/float64(fm))
	cpuRow("lead time", bc, fc, sc)
	return "Where the Slipway apply's time went (median of each part over the rounds): " + medianPhases(phases).String() + ".\n", nil
}

// leadPhases splits one Slipway apply by the deployment's event times.
type leadPhases struct {
	before    time.Duration // tofu start → deployment recorded (tofu, provider start, refresh, plan, PATCH)
	pending   time.Duration // recorded → engine starts provisioning
	provision time.Duration // provisioning → candidate ready and routed at 100 % (process start, model load, readiness)
	finish    time.Duration // 100 % routed → deployment succeeded
	after     time.Duration // succeeded → tofu exits (provider notices, state written)
}

func (p leadPhases) String() string {
	return fmt.Sprintf("before the deployment %s; pending %s; provisioning (worker start, model load, readiness, switch) %s; to succeeded %s; provider notices and tofu exits %s",
		ms(p.before), ms(p.pending), ms(p.provision), ms(p.finish), ms(p.after))
}

func medianPhases(ps []leadPhases) leadPhases {
	pick := func(f func(leadPhases) time.Duration) time.Duration {
		var ds []time.Duration
		for _, p := range ps {
			ds = append(ds, f(p))
		}
		return benchenv.Median(ds)
	}
	return leadPhases{
		before:    pick(func(p leadPhases) time.Duration { return p.before }),
		pending:   pick(func(p leadPhases) time.Duration { return p.pending }),
		provision: pick(func(p leadPhases) time.Duration { return p.provision }),
		finish:    pick(func(p leadPhases) time.Duration { return p.finish }),
		after:     pick(func(p leadPhases) time.Duration { return p.after }),
	}
}

// phases reads the endpoint's latest deployment, which must be to version
// `to`, and splits [start, end] by its events.
func (b *bench) phases(start, end time.Time, to string) (leadPhases, error) {
	ds, err := b.c.ListDeployments(context.Background(), client.DeploymentListOptions{Endpoint: "lead", Limit: 1})
	if err != nil {
		return leadPhases{}, err
	}
	if len(ds) == 0 || ds[0].ToVersion != to || ds[0].Phase != apitypes.DeploySucceeded {
		return leadPhases{}, fmt.Errorf("the endpoint's latest deployment is not a succeeded one to %s: %+v", to, ds)
	}
	d, err := b.c.GetDeployment(context.Background(), ds[0].ID)
	if err != nil {
		return leadPhases{}, err
	}
	at := func(phase string, first bool) time.Time {
		var t time.Time
		for _, e := range d.Events {
			if e.Phase == phase {
				t = e.Time
				if first {
					break
				}
			}
		}
		if t.IsZero() {
			return d.CreatedAt
		}
		return t
	}
	prov, prog, done := at(apitypes.DeployProvisioning, true), at(apitypes.DeployProgressing, false), at(apitypes.DeploySucceeded, false)
	return leadPhases{
		before:    d.CreatedAt.Sub(start),
		pending:   prov.Sub(d.CreatedAt),
		provision: prog.Sub(prov),
		finish:    done.Sub(prog),
		after:     end.Sub(done),
	}, nil
}

// planAtScale measures `tofu plan` (which refreshes every resource) of N
// resources on each side.
func (b *bench) planAtScale() error {
	n := b.o.resources
	base, err := b.workdir("plan-baseline", fmt.Sprintf(`
resource "terraform_data" "r" {
  count = %d
  input = "resource-${count.index}"
}
`, n))
	if err != nil {
		return err
	}
	floor, err := b.workdir("plan-floor", fmt.Sprintf(`
terraform {
  required_providers {
    floor = { source = "bench/floor" }
  }
}

resource "floor_value" "r" {
  count = %d
  input = "resource-${count.index}"
}
`, n))
	if err != nil {
		return err
	}
	eps := min(b.o.endpoints, n)
	policies := (n - eps) / 2
	versions := n - eps - policies
	sum := sha256.Sum256(mustRead(b.model[0]))
	slip, err := b.workdir("plan-slipway", fmt.Sprintf(`
terraform {
  required_providers {
    slipway = { source = "slipwayhq/slipway" }
  }
}

provider "slipway" {}

resource "slipway_model_version" "v" {
  count        = %d
  model        = "scale-${count.index %% 20}"
  version      = tostring(count.index)
  artifact_uri = "file://%s"
  sha256       = "%s"
  format       = "onnx"
  runtime      = { kind = "builtin" }
  labels       = { team = "bench", index = tostring(count.index) }
}

resource "slipway_deployment_policy" "p" {
  count    = %d
  name     = "policy-${count.index}"
  strategy = "canary"
  steps    = [{ traffic_percent = 10, bake = "1m" }, { traffic_percent = 50, bake = "1m" }]
  analysis = { interval = "10s", min_requests = 20, max_error_rate = 0.01 }
  rollback = { automatic = true }
}

resource "slipway_model_endpoint" "e" {
  count             = %d
  name              = "scale-${count.index}"
  model_version     = slipway_model_version.v[count.index].id
  deployment_policy = slipway_deployment_policy.p[count.index].name
  replicas          = { min = 1, max = 1 }
}
`, versions, b.model[0], hex.EncodeToString(sum[:]), policies, eps))
	if err != nil {
		return err
	}
	setup := time.Now()
	for _, d := range []string{base, floor, slip} {
		if _, err := b.tofu(d, applyArgs...); err != nil {
			return err
		}
	}
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "plan at scale: created 3 × %d resources in %s\n", n, ms(time.Since(setup)))
	}
	planArgs := []string{"plan", "-input=false", "-no-color", "-detailed-exitcode"}
	var bs, fs, ss, bc, fc, sc []time.Duration
	for i := range b.o.planRounds {
		bd, err := b.tofu(base, planArgs...)
		if err != nil {
			return err
		}
		bc = append(bc, b.cpu)
		fd, err := b.tofu(floor, planArgs...)
		if err != nil {
			return err
		}
		fc = append(fc, b.cpu)
		sd, err := b.tofu(slip, planArgs...)
		if err != nil {
			return err
		}
		sc = append(sc, b.cpu)
		bs, fs, ss = append(bs, bd), append(fs, fd), append(ss, sd)
		if b.o.verbose {
			fmt.Fprintf(os.Stderr, "plan round %d: baseline %s, minimal provider %s, slipway %s\n", i+1, ms(bd), ms(fd), ms(sd))
		}
	}
	bm, fm, sm := benchenv.Median(bs), benchenv.Median(fs), benchenv.Median(ss)
	fmt.Printf("| plan at scale: `tofu plan` with refresh, %d resources (%d model versions, %d policies, %d endpoints) (median of %d) | %s | %s | %s | **%.1f×** | ≤ 3× | %.1f× |\n",
		n, versions, policies, eps, b.o.planRounds, ms(bm), ms(fm), ms(sm), float64(sm)/float64(bm), float64(sm)/float64(fm))
	cpuRow("plan at scale", bc, fc, sc)
	return nil
}

// cpuRow prints the CPU time of a benchmark's commands, which other jobs
// on the machine disturb far less than the elapsed time.
func cpuRow(name string, bc, fc, sc []time.Duration) {
	bm, fm, sm := benchenv.Median(bc), benchenv.Median(fc), benchenv.Median(sc)
	fmt.Printf("| %s, CPU time (tofu, its providers, the server) | %s | %s | %s | %.1f× | | %.1f× |\n",
		name, ms(bm), ms(fm), ms(sm), float64(sm)/float64(bm), float64(sm)/float64(fm))
}

// processCPU is the CPU time a process and its reaped children have used.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// utime, stime, cutime, cstime are fields 14-17 of stat, 11-14 here,
	// in clock ticks (USER_HZ, 100 on Linux).
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func mustRead(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return b
}

func ms(d time.Duration) string {
	if d < 10*time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tofuVersion(tofu string, env []string) string {
	cmd := exec.Command(tofu, "version")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}
