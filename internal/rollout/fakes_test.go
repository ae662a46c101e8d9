package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/rollout"
	"github.com/slipwayhq/terraform-provider-slipway/internal/rollout/rollouttest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeStore keeps deployment records in memory, as the server's store
// adapter would: saving over a record ended elsewhere is a conflict.
type fakeStore struct {
	mu      sync.Mutex
	ds      map[string]*apitypes.Deployment
	saves   int
	failing error // when set, SaveDeployment fails with it (a full disk)
	failed  int   // saves refused while failing
	// revertFailing, when set, fails Revert (its endpoint update) with it.
	revertFailing error
	reverts       []string // "id: reason"
	created       map[string]time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{ds: map[string]*apitypes.Deployment{}, created: map[string]time.Time{}}
}

func clone(d *apitypes.Deployment) *apitypes.Deployment {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	var c apitypes.Deployment
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}

func (s *fakeStore) put(d *apitypes.Deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ds[d.ID] = clone(d)
}

func (s *fakeStore) get(id string) *apitypes.Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.ds[id]; d != nil {
		return clone(d)
	}
	return nil
}

func (s *fakeStore) ActiveDeployments(context.Context) ([]apitypes.Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []apitypes.Deployment
	for _, id := range slices.Sorted(maps.Keys(s.ds)) {
		if d := s.ds[id]; !apitypes.DeploymentTerminal(d.Phase) {
			out = append(out, *clone(d))
		}
	}
	return out, nil
}

func (s *fakeStore) GetDeployment(_ context.Context, id string) (*apitypes.Deployment, error) {
	if d := s.get(id); d != nil {
		return d, nil
	}
	return nil, apitypes.Errorf(apitypes.CodeNotFound, "deployment %s not found", id)
}

func (s *fakeStore) SaveDeployment(_ context.Context, d *apitypes.Deployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.ds[d.ID]; cur != nil && apitypes.DeploymentTerminal(cur.Phase) {
		return apitypes.Errorf(apitypes.CodeConflict, "deployment %s already %s", d.ID, cur.Phase)
	}
	if s.failing != nil {
		s.failed++
		return s.failing
	}
	s.ds[d.ID] = clone(d)
	s.saves++
	return nil
}

func (s *fakeStore) Revert(ctx context.Context, d *apitypes.Deployment, reason string) error {
	s.mu.Lock()
	err := s.revertFailing
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.SaveDeployment(ctx, d); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reverts = append(s.reverts, d.ID+": "+reason)
	return nil
}

func (s *fakeStore) VersionCreated(_ context.Context, id string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.created[id]
	if !ok {
		return time.Time{}, apitypes.Errorf(apitypes.CodeNotFound, "model version %s not found", id)
	}
	return t, nil
}

// fail makes saves fail with err (nil: succeed again) and returns how many
// saves were refused so far.
func (s *fakeStore) fail(err error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = err
	return s.failed
}

// failReverts makes Revert fail with err (nil: succeed again).
func (s *fakeStore) failReverts(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revertFailing = err
}

func (s *fakeStore) revertLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reverts)
}

// fakeTraffic records every Route and Release as a line, so a test can
// assert the exact sequence.
type fakeTraffic struct {
	mu       sync.Mutex
	ready    map[string]int
	failures map[string]int
	min      int
	calls    []string
	at       []time.Time // real time of each call
}

func newFakeTraffic() *fakeTraffic {
	return &fakeTraffic{ready: map[string]int{}, failures: map[string]int{}}
}

func (f *fakeTraffic) Ready(_, v string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready[v]
}

func (f *fakeTraffic) StartFailures(_, v string) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures[v] == 0 {
		return 0, ""
	}
	return f.failures[v], "replica exited before it was ready: exit status 3; its last words: boom"
}

func (f *fakeTraffic) Route(endpoint string, weights map[string]int, shadow *gateway.ShadowRoute) {
	line := "route " + endpoint + " " + weightsLine(weights)
	if shadow != nil {
		line += fmt.Sprintf(" shadow %s %d%%", shadow.Version, shadow.Percent)
	}
	f.record(line)
}

func (f *fakeTraffic) Release(endpoint string) { f.record("release " + endpoint) }

func (f *fakeTraffic) MinReplicas(string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.min
}

func (f *fakeTraffic) record(line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, line)
	f.at = append(f.at, time.Now())
}

func (f *fakeTraffic) set(v string, ready, failures int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready[v], f.failures[v] = ready, failures
}

func (f *fakeTraffic) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func weightsLine(w map[string]int) string {
	if len(w) == 0 {
		return "nothing"
	}
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s %d%%", v, w[v]))
	}
	return strings.Join(parts, ", ")
}

// fakeMetrics holds cumulative gateway Stats that tests grow.
type fakeMetrics struct {
	mu    sync.Mutex
	stats map[string]gateway.Stats
}

func (m *fakeMetrics) Stats(_, v string) gateway.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats[v]
}

// serve counts n answered requests of v, errors of them 5xx, each taking
// latency.
func (m *fakeMetrics) serve(v string, n, errors int, latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats[v]
	b := len(gateway.LatencyBounds())
	for i, bound := range gateway.LatencyBounds() {
		if latency <= bound {
			b = i
			break
		}
	}
	s.Requests += uint64(n)
	s.Errors += uint64(errors)
	s.LatencySum += time.Duration(n) * latency
	s.Buckets[b] += uint64(n)
	m.stats[v] = s
}

// fakeProber answers pinned requests as the test says and counts them in
// the metrics, as the gateway would.
type fakeProber struct {
	mu      sync.Mutex
	metrics *fakeMetrics
	status  int
	body    string
	latency time.Duration
	calls   int
	hang    bool // answer only when the caller gives up
}

func (p *fakeProber) Infer(ctx context.Context, _, version string, _ []byte) (int, []byte, error) {
	p.mu.Lock()
	p.calls++
	status, body, latency, hang := p.status, p.body, p.latency, p.hang
	p.mu.Unlock()
	if hang {
		<-ctx.Done()
		return 0, nil, ctx.Err()
	}
	errs := 0
	if status >= 500 {
		errs = 1
	}
	p.metrics.serve(version, 1, errs, latency)
	return status, []byte(body), nil
}

func (p *fakeProber) answer(status int, body string, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.body, p.latency = status, body, latency
}

func (p *fakeProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// harness runs an Engine over the fakes with a fake clock.
type harness struct {
	t       *testing.T
	clock   *rollouttest.FakeClock
	store   *fakeStore
	traffic *fakeTraffic
	metrics *fakeMetrics
	prober  *fakeProber
	eng     *rollout.Engine
	stop    func()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	m := &fakeMetrics{stats: map[string]gateway.Stats{}}
	h := &harness{
		t:       t,
		clock:   rollouttest.NewFakeClock(t0),
		store:   newFakeStore(),
		traffic: newFakeTraffic(),
		metrics: m,
		prober:  &fakeProber{metrics: m, status: 200, body: `{"model_name":"fraud","outputs":[{"name":"score","datatype":"FP64","shape":[1],"data":[0.1]}]}`, latency: 5 * time.Millisecond},
	}
	h.store.created["fraud/8"] = t0.Add(-time.Hour)
	h.traffic.set("fraud/7", 1, 0)
	h.traffic.set("fraud/8", 1, 0)
	h.eng = rollout.New(rollout.Config{
		Store: h.store, Traffic: h.traffic, Metrics: h.metrics, Prober: h.prober, Clock: h.clock,
		PollInterval:  24 * time.Hour, // the tests Notify; the poll is tested on its own
		CheckInterval: 10 * time.Second,
	})
	return h
}

// run starts the engine; it stops at the end of the test.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.eng.Run(ctx); close(done) }()
	h.stop = func() { cancel(); <-done }
	h.t.Cleanup(h.stop)
}

// deployment is a pending canary of fraud from 7 to 8 with policy p.
func deployment(id string, p *apitypes.DeploymentPolicy) *apitypes.Deployment {
	return &apitypes.Deployment{
		ID: id, Endpoint: "fraud", FromVersion: "fraud/7", ToVersion: "fraud/8",
		Policy: p, Strategy: p.Strategy, Actor: "ci", Source: "terraform", EndpointRevision: 2,
		Phase: apitypes.DeployPending, CreatedAt: t0, UpdatedAt: t0, Events: []apitypes.DeploymentEvent{},
	}
}

func (h *harness) start(d *apitypes.Deployment) {
	h.store.put(d)
	h.eng.Notify(d.ID)
}

// window lets the watcher settle on its timer (plus the engine's poll
// timer), runs during (the live traffic of the window), then advances.
func (h *harness) window(d time.Duration, during func()) {
	h.t.Helper()
	h.waitTimers(2)
	if during != nil {
		during()
	}
	h.clock.Advance(d)
}

func (h *harness) waitTimers(n int) {
	h.t.Helper()
	if err := h.clock.BlockUntil(n, 5*time.Second); err != nil {
		h.t.Fatalf("%v; deployment %+v; traffic %q", err, h.store.get("d1"), h.traffic.log())
	}
}

func (h *harness) waitPhase(id, phase string) *apitypes.Deployment {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := h.store.get(id)
		if d != nil && d.Phase == phase {
			return d
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("deployment %s never reached %s; it is %+v; traffic %q", id, phase, d, h.traffic.log())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitCalls waits until the traffic log has n entries, then checks it.
func (h *harness) wantCalls(want ...string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.traffic.log()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond) // nothing more may follow
	if got := h.traffic.log(); !slices.Equal(got, want) {
		h.t.Fatalf("traffic calls:\n got  %q\n want %q", got, want)
	}
}

// healthy serves a window of live traffic at 90/10-ish volumes with good
// latency on both versions.
func (h *harness) healthy() {
	h.metrics.serve("fraud/7", 180, 0, 12*time.Millisecond)
	h.metrics.serve("fraud/8", 20, 0, 12*time.Millisecond)
}

func ptr[T any](v T) *T { return &v }

// analysisEvents are the events that carry GateMetrics.
func analysisEvents(d *apitypes.Deployment) []apitypes.DeploymentEvent {
	var out []apitypes.DeploymentEvent
	for _, e := range d.Events {
		if e.Metrics != nil {
			out = append(out, e)
		}
	}
	return out
}

func phases(d *apitypes.Deployment) []string {
	var out []string
	for _, e := range d.Events {
		if len(out) == 0 || out[len(out)-1] != e.Phase {
			out = append(out, e.Phase)
		}
	}
	return out
}

func lastEvent(d *apitypes.Deployment) apitypes.DeploymentEvent { return d.Events[len(d.Events)-1] }
