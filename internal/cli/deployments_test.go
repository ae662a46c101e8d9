package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/cli"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// inOrder fails unless out holds every part, in order.
func inOrder(t *testing.T, out string, parts ...string) {
	t.Helper()
	rest := out
	for _, w := range parts {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q after the earlier parts:\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}
}

// The fixture's endpoint create is the server's first deployment.
func TestDeploymentsListAndGet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	deps, err := f.api.ListDeployments(ctx, client.DeploymentListOptions{Endpoint: "fraud"})
	if err != nil || len(deps) != 1 {
		t.Fatalf("ListDeployments = %v, %v; want the fixture's one deployment", deps, err)
	}
	id := deps[0].ID

	o, out := f.operator(false)
	if err := o.DeploymentsList(ctx, client.DeploymentListOptions{Endpoint: "fraud"}); err != nil {
		t.Fatal(err)
	}
	// The rollout engine moves the phase on meanwhile; the rest is fixed.
	inOrder(t, out.String(), "ID", "ENDPOINT", "FROM", "TO", "STRATEGY", "PHASE", "STEP", "SOURCE", "ACTOR", "CREATED",
		"\n"+id, "fraud", "-", "fraud/1", "canary", " ", "cli", "bootstrap-admin")

	out.Reset()
	if err := o.DeploymentsList(ctx, client.DeploymentListOptions{Endpoint: "other"}); err != nil {
		t.Fatal(err)
	}
	if got := lines(out.String()); len(got) != 1 || got[0][0] != "ID" {
		t.Errorf("list of another endpoint = %q, want the header alone", out)
	}

	out.Reset()
	if err := o.DeploymentsGet(ctx, id); err != nil {
		t.Fatal(err)
	}
	inOrder(t, out.String(), "ID", id, "Endpoint", "fraud (revision 1)", "To", "fraud/1", "Strategy", "canary", "Policy", "canary",
		"Phase", "Actor", "bootstrap-admin", "Source", "cli",
		"TIME", "PHASE", "STEP", "MESSAGE", "pending", "deployment created by bootstrap-admin via cli: nothing → fraud/1")

	jo, jout := f.operator(true)
	if err := jo.DeploymentsGet(ctx, id); err != nil {
		t.Fatal(err)
	}
	var d apitypes.Deployment
	if err := json.Unmarshal(jout.Bytes(), &d); err != nil || d.ID != id || d.Policy == nil || d.Policy.Name != "canary" {
		t.Errorf("JSON = %s (%v), want the deployment with its policy", jout, err)
	}
}

func TestDeploymentsPromoteRefused(t *testing.T) {
	f := newFixture(t)
	deps, err := f.api.ListDeployments(context.Background(), client.DeploymentListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, out := f.operator(false)
	err = o.DeploymentsPromote(context.Background(), deps[0].ID)
	if !apitypes.IsConflict(err) || !strings.Contains(err.Error(), "; only a deployment in phase awaiting_approval can be promoted") {
		t.Errorf("promote of a running deployment = %v, want a conflict naming the phase", err)
	}
	if out.Len() != 0 {
		t.Errorf("output after a refusal = %q, want none", out)
	}
}

func TestMeasures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o, out := f.operator(false)
	if err := o.Measures(ctx, ""); err != nil {
		t.Fatal(err)
	}
	inOrder(t, out.String(), "Endpoint", "all endpoints", "Window", "last 90 days", "Deployments", "1",
		"Frequency", "0.01 per day", "Pipeline share", "0.0%", "Success rate", "0.0%", "Mean lead time", "0s")

	jo, jout := f.operator(true)
	if err := jo.Measures(ctx, "fraud"); err != nil {
		t.Fatal(err)
	}
	var m apitypes.KeyMeasures
	if err := json.Unmarshal(jout.Bytes(), &m); err != nil || m.Endpoint != "fraud" || m.Deployments != 1 || m.WindowDays != 90 {
		t.Errorf("JSON = %s (%v), want fraud's measures with 1 deployment", jout, err)
	}
}

// scripted is a fake API whose deployment "dep-1" of endpoint "fraud"
// moves through script, one state per read; the last one stays.
type scripted struct {
	mu      sync.Mutex
	script  []apitypes.Deployment
	reads   int
	queries []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/v1/deployments/dep-1" && r.Method == http.MethodGet:
		d := s.script[min(s.reads, len(s.script)-1)]
		s.reads++
		_ = json.NewEncoder(w).Encode(d)
	case r.URL.Path == "/v1/deployments/dep-1/abort" && r.Method == http.MethodPost:
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(s.script[0])
	case r.URL.Path == "/v1/deployments" && r.Method == http.MethodGet:
		s.queries = append(s.queries, r.URL.RawQuery)
		_ = json.NewEncoder(w).Encode(apitypes.DeploymentList{Items: s.script[:1]})
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(apitypes.Errorf(apitypes.CodeNotFound, "deployment %q does not exist", strings.TrimPrefix(r.URL.Path, "/v1/deployments/")))
	}
}

func fakeAPI(t *testing.T, script ...apitypes.Deployment) (*scripted, *client.Client) {
	t.Helper()
	s := &scripted{script: script}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c, err := client.New(client.Config{Address: ts.URL, Token: "t", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// rollout is a canary of fraud/2 that goes through its phases and ends in
// last, with reason.
func rollout(last, reason string) []apitypes.Deployment {
	base := apitypes.Deployment{ID: "dep-1", Endpoint: "fraud", FromVersion: "fraud/1", ToVersion: "fraud/2", Strategy: "canary"}
	at := func(phase string, step int, traffic []apitypes.TrafficWeight, gate *apitypes.GateMetrics) apitypes.Deployment {
		d := base
		d.Phase, d.Step, d.Traffic = phase, step, traffic
		d.Events = []apitypes.DeploymentEvent{{Phase: apitypes.DeployPending, Message: "created"}}
		if gate != nil {
			d.Events = append(d.Events, apitypes.DeploymentEvent{Phase: phase, Step: step, Message: "gate", Metrics: gate})
		}
		return d
	}
	old := []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 100}}
	canary := []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 90}, {ModelVersion: "fraud/2", Percent: 10}}
	pass := &apitypes.GateMetrics{Requests: 1200, Errors: 1, ErrorRate: 0.001, LatencyP99: "42ms", BaselineP99: "40ms", Verdict: "pass"}
	end := at(last, 1, old, pass)
	if last == apitypes.DeploySucceeded {
		end.Traffic = []apitypes.TrafficWeight{{ModelVersion: "fraud/2", Percent: 100}}
	}
	end.Reason = reason
	return []apitypes.Deployment{
		at(apitypes.DeployPending, 0, old, nil),
		at(apitypes.DeployProvisioning, 0, old, nil),
		at(apitypes.DeployProgressing, 1, canary, nil),
		at(apitypes.DeployProgressing, 1, canary, pass),
		at(apitypes.DeployProgressing, 1, canary, pass), // no change: no line
		end,
	}
}

func TestDeploymentsWatchPiped(t *testing.T) {
	_, c := fakeAPI(t, rollout(apitypes.DeploySucceeded, "")...)
	var out bytes.Buffer
	o := &cli.Operator{Client: c, Out: &out, PollInterval: time.Millisecond}
	if err := o.DeploymentsWatch(context.Background(), "dep-1"); err != nil {
		t.Fatalf("watch of a deployment that succeeds = %v, want nil", err)
	}
	want := []string{
		"dep-1 fraud: fraud/1 → fraud/2 | pending | traffic fraud/1 100%",
		"dep-1 fraud: fraud/1 → fraud/2 | provisioning | traffic fraud/1 100%",
		"dep-1 fraud: fraud/1 → fraud/2 | progressing step 1 | traffic fraud/1 90%, fraud/2 10%",
		"dep-1 fraud: fraud/1 → fraud/2 | progressing step 1 | traffic fraud/1 90%, fraud/2 10% | gate pass: 1200 requests, 0.10% errors, p99 42ms (baseline 40ms)",
		"dep-1 fraud: fraud/1 → fraud/2 | succeeded step 1 | traffic fraud/2 100% | gate pass: 1200 requests, 0.10% errors, p99 42ms (baseline 40ms)",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("piped output, one line per change:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("piped output has carriage returns: %q", out.String())
	}
}

func TestDeploymentsWatchTerminal(t *testing.T) {
	_, c := fakeAPI(t, rollout(apitypes.DeployRolledBack, "p99 412ms > 250ms at step 1, 10% traffic; traffic restored to fraud/1")...)
	var out bytes.Buffer
	o := &cli.Operator{Client: c, Out: &out, TTY: true, PollInterval: time.Millisecond}
	err := o.DeploymentsWatch(context.Background(), "dep-1")
	var ended *cli.DeploymentEndedError
	if !errors.As(err, &ended) || ended.Deployment.Phase != apitypes.DeployRolledBack {
		t.Fatalf("watch of a deployment that rolls back = %v, want a *DeploymentEndedError", err)
	}
	if want := "deployment dep-1 of endpoint fraud rolled back: p99 412ms > 250ms at step 1, 10% traffic; traffic restored to fraud/1"; err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	// One line, rewritten in place: five updates, one newline, at the end.
	s := out.String()
	if n := strings.Count(s, "\r\033[K"); n != 5 {
		t.Errorf("%d rewrites, want 5: %q", n, s)
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("output %q: want a single newline, after the last update", s)
	}
	if !strings.HasSuffix(s, "rolled_back step 1 | traffic fraud/1 100% | gate pass: 1200 requests, 0.10% errors, p99 42ms (baseline 40ms) | p99 412ms > 250ms at step 1, 10% traffic; traffic restored to fraud/1\n") {
		t.Errorf("last update = %q, want the final phase, traffic, gate and reason", s[strings.LastIndex(s, "\r"):])
	}
}

func TestDeploymentsWatchEndpoint(t *testing.T) {
	api, c := fakeAPI(t, rollout(apitypes.DeployAborted, "aborted by alice")...)
	var out bytes.Buffer
	o := &cli.Operator{Client: c, Out: &out, PollInterval: time.Millisecond}
	err := o.DeploymentsWatch(context.Background(), "fraud")
	if err == nil || !strings.Contains(err.Error(), "deployment dep-1 of endpoint fraud aborted: aborted by alice") {
		t.Errorf("watch fraud = %v, want the endpoint's newest deployment followed to its abort", err)
	}
	if want := []string{"endpoint=fraud&limit=1"}; !reflect.DeepEqual(api.queries, want) {
		t.Errorf("list queries = %q, want %q", api.queries, want)
	}

	err = o.DeploymentsWatch(context.Background(), "Not_An_Endpoint")
	if !apitypes.IsNotFound(err) {
		t.Errorf("watch of an unknown deployment = %v, want not found", err)
	}
}

func TestDeploymentsWatchStopsWithContext(t *testing.T) {
	_, c := fakeAPI(t, rollout(apitypes.DeploySucceeded, "")[:1]...) // pending for ever
	var out bytes.Buffer
	o := &cli.Operator{Client: c, Out: &out, TTY: true, PollInterval: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := o.DeploymentsWatch(ctx, "dep-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("watch = %v, want the context's error", err)
	}
	if !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("output %q: want the progress line ended, so the shell prompt starts on its own line", out.String())
	}
}

func TestDeploymentsAbortOutput(t *testing.T) {
	_, c := fakeAPI(t, rollout(apitypes.DeploySucceeded, "")...)
	var out bytes.Buffer
	o := &cli.Operator{Client: c, Out: &out}
	if err := o.DeploymentsAbort(context.Background(), "dep-1"); err != nil {
		t.Fatal(err)
	}
	if want := "asked the rollout engine to abort deployment dep-1 (phase pending); follow it with: slipway deployments watch dep-1\n"; out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

func TestIsTerminal(t *testing.T) {
	if cli.IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cli.IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !cli.IsTerminal(tty) {
			t.Error("/dev/tty is not a terminal")
		}
	}
}
