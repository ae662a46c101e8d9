package soak_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

// write is one racer's attempt at the endpoint.
type write struct {
	writer  string // api-3, tofu-1, ...
	target  string // model_version it asks for
	err     error  // API writers
	output  string // tofu writers
	elapsed time.Duration
}

func (w *write) won() bool { return w.err == nil }

// raceSetup is a server with one endpoint, "race", for the writers.
func raceSetup(t *testing.T) *server {
	t.Helper()
	s := startServer(t, serverOpts{})
	for i := 1; i <= 3; i++ {
		s.registerONNX(t, fmt.Sprintf("r/%d", i), float32(100*i))
	}
	if _, err := s.API.CreatePolicy(ctx(t), &apitypes.DeploymentPolicy{Name: "now", Strategy: "all_at_once"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.API.CreateEndpoint(ctx(t), &apitypes.Endpoint{Name: "race", ModelVersion: "r/1", DeploymentPolicy: "now"}); err != nil {
		t.Fatal(err)
	}
	s.WaitServing(t, "race", map[string]int{"r/1": 100})
	return s
}

// apiWrite PUTs the endpoint as read (revision and all) with the writer's
// description, labels and target.
func (s *server) apiWrite(base apitypes.Endpoint, w *write, round int) {
	e := base
	e.Description = fmt.Sprintf("%s round %d", w.writer, round)
	e.Labels = map[string]string{"writer": w.writer}
	e.ModelVersion = w.target
	begin := time.Now()
	_, w.err = call(func(c context.Context) (*apitypes.Endpoint, error) { return s.API.UpdateEndpoint(c, &e) })
	w.elapsed = time.Since(begin)
}

// judgeRace asserts exactly one winner among ws, a clear conflict for every
// loser, and that the endpoint, the ledger and the deployments hold the
// winner's write and nothing else. It returns the winner.
func (s *server) judgeRace(t *testing.T, round int, before *apitypes.Endpoint, seq int64, deploymentsBefore int, ws []*write) *write {
	t.Helper()
	var winners []*write
	for _, w := range ws {
		if w.won() {
			winners = append(winners, w)
		}
	}
	if len(winners) != 1 {
		var got []string
		for _, w := range ws {
			got = append(got, fmt.Sprintf("%s: err %v output %q", w.writer, w.err, tail(w.output, 15)))
		}
		t.Fatalf("round %d: %d writers won at revision %d, want exactly 1:\n%s", round, len(winners), before.Revision, strings.Join(got, "\n"))
	}
	win := winners[0]
	now := before.Revision + 1
	for _, w := range ws {
		if w == win {
			continue
		}
		msg := fmt.Sprint(w.err)
		if w.output != "" {
			// tofu: apply failed and said why, with the current revision
			// (in words tofu wraps at its line width).
			said := strings.Join(strings.Fields(w.output), " ")
			if !strings.Contains(said, "changed since it was read") || !strings.Contains(said, fmt.Sprintf("(revision %d, now revision %d)", before.Revision, now)) {
				t.Errorf("round %d: %s lost but tofu did not print a clear conflict naming revision %d:\n%s", round, w.writer, now, w.output)
			}
			continue
		}
		if !apitypes.IsConflict(w.err) || !strings.Contains(msg, fmt.Sprintf("has revision %d, not %d", now, before.Revision)) {
			t.Errorf("round %d: %s lost with %q; want a 409 conflict naming revision %d", round, w.writer, msg, now)
		}
	}

	e, err := s.getEndpoint("race")
	if err != nil {
		t.Fatal(err)
	}
	wantDesc := fmt.Sprintf("%s round %d", win.writer, round)
	if e.Revision != now || e.Description != wantDesc || e.Labels["writer"] != win.writer || e.ModelVersion != win.target {
		t.Fatalf("round %d: endpoint after the race is revision %d, description %q, labels %v, target %s; want revision %d and %s's write (%q, %s)",
			round, e.Revision, e.Description, e.Labels, e.ModelVersion, now, win.writer, wantDesc, win.target)
	}
	// One ledger event: the winner's.
	events, err := call(func(c context.Context) ([]apitypes.AuditEvent, error) {
		return s.API.ListAuditEvents(c, client.AuditListOptions{AfterSeq: seq, ObjectType: apitypes.ObjectEndpoint, ObjectID: "race"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != "update" {
		t.Fatalf("round %d: endpoint ledger events during the race = %s; want the winner's one update", round, jsonString(events))
	}
	var after apitypes.Endpoint
	if err := json.Unmarshal(events[0].After, &after); err != nil || after.Description != wantDesc || after.Revision != now {
		t.Errorf("round %d: the ledger's update records %s (%v); want %s's write at revision %d", round, events[0].After, err, win.writer, now)
	}
	// A deployment only for the winner's new target.
	ds, err := s.deployments("race")
	if err != nil {
		t.Fatal(err)
	}
	newDeployments := len(ds) - deploymentsBefore
	switch {
	case win.target == before.ModelVersion && newDeployments != 0:
		t.Errorf("round %d: the winner kept the target but %d deployment(s) started: %s", round, newDeployments, jsonString(ds[:newDeployments]))
	case win.target != before.ModelVersion && (newDeployments != 1 || ds[0].ToVersion != win.target || ds[0].EndpointRevision != now):
		t.Errorf("round %d: want one deployment to %s at revision %d, got %d new: %s", round, win.target, now, newDeployments, jsonString(ds[:max(newDeployments, 0)]))
	}
	if win.target != before.ModelVersion && newDeployments == 1 {
		if d := s.waitTerminal(t, ds[0].ID, 60*time.Second); d.Phase != apitypes.DeploySucceeded {
			t.Fatalf("round %d: deployment to %s ended %s: %s", round, win.target, d.Phase, d.Reason)
		}
	}
	s.WaitServing(t, "race", map[string]int{win.target: 100})
	return win
}

// raceStart reads what the racers will all start from.
func (s *server) raceStart(t *testing.T) (*apitypes.Endpoint, int64, int) {
	t.Helper()
	e, err := s.getEndpoint("race")
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.ledger(0)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.deployments("race")
	if err != nil {
		t.Fatal(err)
	}
	return e, events[len(events)-1].Seq, len(ds)
}

// Several API clients PUT the same endpoint at the same revision, some
// changing its target: exactly one wins, each loser gets a 409 naming the
// current revision, and the endpoint, ledger and deployments hold the
// winner's write alone.
func TestSoakRacingAPIUpdates(t *testing.T) {
	cfg := config(t)
	rng := cfg.rng(t)
	rounds := cfg.count(t, "SLIPWAY_SOAK_RACE_ROUNDS", 10)
	const writers = 8
	s := raceSetup(t)
	first, _, _ := s.raceStart(t)
	wins := map[string]int{}
	for round := range rounds {
		before, seq, nd := s.raceStart(t)
		ws := make([]*write, writers)
		for i := range ws {
			target := before.ModelVersion
			if round%2 == 1 { // odd rounds: every writer asks for a target of its own choice
				target = fmt.Sprintf("r/%d", 1+rng.IntN(3))
			}
			ws[i] = &write{writer: fmt.Sprintf("api-%d", i), target: target}
		}
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				s.apiWrite(*before, w, round)
			}()
		}
		close(gate)
		wg.Wait()
		win := s.judgeRace(t, round, before, seq, nd, ws)
		wins[win.writer]++
	}
	last, _, _ := s.raceStart(t)
	if last.Revision != first.Revision+int64(rounds) {
		t.Errorf("revision went %d → %d over %d rounds with one winner each; want +%d", first.Revision, last.Revision, rounds, rounds)
	}
	s.auditVerify(t)
	t.Logf("SOAK race (API): %d rounds × %d writers at one revision: exactly one winner each (%s), %d conflicts; seed %d",
		rounds, writers, sortedKeys(wins), rounds*(writers-1), cfg.seed)
}

// tofuWorkspace is one directory `tofu apply` runs in as one writer.
type tofuWorkspace struct {
	dir    string
	writer string
	env    []string
	tofu   string
}

// tofuEnv builds the provider and a CLI config whose dev_overrides point
// OpenTofu at it.
func tofuEnv(t *testing.T) (tofu string, env []string) {
	t.Helper()
	tofu = os.Getenv("SLIPWAY_TOFU")
	if tofu == "" {
		t.Skip("SLIPWAY_TOFU (the pinned OpenTofu binary, as make soak passes) is not set; skipping the tofu race")
	}
	if _, err := os.Stat(tofu); err != nil {
		t.Fatalf("SLIPWAY_TOFU: %v", err)
	}
	provDir := filepath.Join(binDir, "provider")
	build := exec.Command(realserver.GoTool(), "build", "-o", filepath.Join(provDir, "terraform-provider-slipway"), "github.com/slipwayhq/terraform-provider-slipway")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	rc := filepath.Join(t.TempDir(), "tofu.rc")
	if err := os.WriteFile(rc, fmt.Appendf(nil, `provider_installation {
  dev_overrides {
    "registry.opentofu.org/slipwayhq/slipway"  = %q
    "registry.terraform.io/slipwayhq/slipway" = %q
  }
  direct {}
}
`, provDir, provDir), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_CLI_CONFIG_FILE=") && !strings.HasPrefix(kv, "TF_CLI_CONFIG_PATH=") && !strings.HasPrefix(kv, "TF_LOG") {
			env = append(env, kv)
		}
	}
	env = append(env, "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	return tofu, env
}

// configure writes the writer's configuration of the endpoint and imports
// the endpoint into a fresh state, so its state holds the current revision.
func (w *tofuWorkspace) configure(t *testing.T, s *server, target string, round int) {
	t.Helper()
	hcl := fmt.Sprintf(`terraform {
  required_providers {
    slipway = { source = "slipwayhq/slipway" }
  }
}

provider "slipway" {
  address = "http://%s"
  token   = %q
}

resource "slipway_model_endpoint" "race" {
  name              = "race"
  model_version     = %q
  deployment_policy = "now"
  description       = "%s round %d"
  labels            = { writer = %q }
}
`, s.APIAddr, adminToken, target, w.writer, round, w.writer)
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(w.dir, "terraform.tfstate"))
	if out, err := w.run("import", "-input=false", "-no-color", "slipway_model_endpoint.race", "race"); err != nil {
		t.Fatalf("%s: tofu import: %v\n%s", w.writer, err, out)
	}
}

// state reads the endpoint's revision and target from the workspace's
// state file.
func (w *tofuWorkspace) state(t *testing.T) (revision int64, target string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Resources []struct {
			Instances []struct {
				Attributes struct {
					Revision     int64  `json:"revision"`
					ModelVersion string `json:"model_version"`
				} `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(b, &st); err != nil || len(st.Resources) != 1 || len(st.Resources[0].Instances) != 1 {
		t.Fatalf("%s: state file: %v\n%s", w.writer, err, b)
	}
	a := st.Resources[0].Instances[0].Attributes
	return a.Revision, a.ModelVersion
}

func (w *tofuWorkspace) run(args ...string) (string, error) {
	cmd := exec.Command(w.tofu, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apply runs `tofu apply` without a refresh: the update it sends carries
// the revision imported, as it would after a plan made before another
// writer's apply.
func (w *tofuWorkspace) apply(wr *write) {
	begin := time.Now()
	out, err := w.run("apply", "-auto-approve", "-input=false", "-no-color", "-refresh=false")
	wr.elapsed = time.Since(begin)
	wr.output, wr.err = out, err
	if err == nil {
		wr.output = "" // a winner's output is not a loser's message
	}
}

// `tofu apply` from several workspaces, alone and racing API clients, at
// the same revision of one endpoint: one writer wins, every losing apply
// exits non-zero with the conflict and the current revision in its output,
// and nothing the winner wrote is lost.
func TestSoakRacingTofuApplies(t *testing.T) {
	cfg := config(t)
	rng := cfg.rng(t)
	tofu, env := tofuEnv(t)
	rounds := cfg.count(t, "SLIPWAY_SOAK_TOFU_ROUNDS", 4)
	const applies, apiWriters = 3, 3
	s := raceSetup(t)
	ws := make([]*tofuWorkspace, applies)
	for i := range ws {
		ws[i] = &tofuWorkspace{dir: t.TempDir(), writer: fmt.Sprintf("tofu-%d", i), env: env, tofu: tofu}
	}
	first, _, _ := s.raceStart(t)
	wins := map[string]int{}
	var tofuLosses, apiLosses int
	for round := range rounds {
		before, seq, nd := s.raceStart(t)
		var wg sync.WaitGroup
		// Rounds 0, 1 (mod 4) change descriptions and labels only; rounds
		// 2, 3 also give each writer a target of its own, so the winner
		// starts a deployment and waits for it.
		targets := make([]string, len(ws))
		for i := range ws {
			targets[i] = before.ModelVersion
			if round%4 >= 2 {
				targets[i] = fmt.Sprintf("r/%d", 1+i%3)
			}
		}
		for i, w := range ws {
			wg.Add(1)
			go func() { defer wg.Done(); w.configure(t, s, targets[i], round) }()
		}
		wg.Wait()
		if e, _ := s.getEndpoint("race"); e == nil || e.Revision != before.Revision {
			t.Fatalf("round %d: the endpoint changed during the imports", round)
		}
		// Even rounds: tofu against tofu. Odd rounds: API clients join,
		// each after a random delay so that either kind may win.
		var racers []*write
		gate := make(chan struct{})
		for i, w := range ws {
			wr := &write{writer: w.writer, target: targets[i]}
			racers = append(racers, wr)
			wg.Add(1)
			go func() { defer wg.Done(); <-gate; w.apply(wr) }()
		}
		if round%2 == 1 {
			for i := range apiWriters {
				wr := &write{writer: fmt.Sprintf("api-%d", i), target: targets[i%len(targets)]}
				racers = append(racers, wr)
				delay := time.Duration(rng.IntN(1500)) * time.Millisecond
				wg.Add(1)
				go func() { defer wg.Done(); <-gate; time.Sleep(delay); s.apiWrite(*before, wr, round) }()
			}
		}
		close(gate)
		wg.Wait()
		win := s.judgeRace(t, round, before, seq, nd, racers)
		wins[win.writer]++
		// Each workspace's state says what its apply did: the winner's
		// holds the new revision and its target, a loser's what it read.
		for i, w := range ws {
			rev, target := w.state(t)
			wantRev, wantTarget := before.Revision, before.ModelVersion
			if racers[i] == win {
				wantRev, wantTarget = before.Revision+1, win.target
			}
			if rev != wantRev || target != wantTarget {
				t.Errorf("round %d: %s's state has revision %d, target %s; want %d, %s", round, w.writer, rev, target, wantRev, wantTarget)
			}
		}
		for _, r := range racers {
			switch {
			case r == win:
			case strings.HasPrefix(r.writer, "tofu"):
				tofuLosses++
			default:
				apiLosses++
			}
		}
	}
	last, _, _ := s.raceStart(t)
	if last.Revision != first.Revision+int64(rounds) {
		t.Errorf("revision went %d → %d over %d rounds with one winner each; want +%d", first.Revision, last.Revision, rounds, rounds)
	}
	s.auditVerify(t)
	t.Logf("SOAK race (tofu): %d rounds of %d tofu applies (+%d API writers every other round): winners %s; %d tofu and %d API losers got the conflict; seed %d",
		rounds, applies, apiWriters, sortedKeys(wins), tofuLosses, apiLosses, cfg.seed)
}
