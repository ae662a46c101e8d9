// Package supervisor runs the replicas of the model versions that endpoints
// serve: it starts them, sends nothing their way until they are ready (the
// caller builds routes from Ready), restarts crashed or unhealthy ones with
// backoff, and drains in-flight requests before stopping one.
//
// A replica is a `slipway worker` process (runtime builtin), any HTTP model
// server command (process), or an existing URL that is only health-checked
// (external).
package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// Spec is what one model version of one endpoint needs.
type Spec struct {
	Endpoint     string
	Version      apitypes.ModelVersion
	ArtifactPath string // the verified artifact on local disk ("" for external)
	Replicas     int    // desired count, at least 1
}

// Config configures a Supervisor.
type Config struct {
	// WorkerCommand is the argv prefix of a builtin replica, e.g.
	// ["/usr/local/bin/slipway", "worker"].
	WorkerCommand []string
	Logger        *slog.Logger
	// StartTimeout bounds process start to readiness (default 60s).
	StartTimeout time.Duration
	// HealthInterval is how often ready replicas are probed (default 1s);
	// HealthFailures consecutive failures make a replica unhealthy (default 3).
	HealthInterval time.Duration
	HealthFailures int
	// DrainTimeout bounds the wait for in-flight requests when stopping.
	DrainTimeout time.Duration
	// MaxRestartBackoff caps the wait between restarts (default 30s).
	MaxRestartBackoff time.Duration
	// InFlight reports requests in flight to a backend URL (the gateway's
	// count); nil means none are ever in flight.
	InFlight func(backend string) int
	// OnChange is called, from supervisor goroutines and without locks held,
	// whenever the set of ready replicas of (endpoint, version) changes.
	OnChange func(endpoint, version string)
}

// SetStatus summarises the replicas of one (endpoint, version).
type SetStatus struct {
	Desired  int
	Ready    int
	Restarts int
	// StartFailures counts attempts in a row that never became ready; the
	// caller decides when that means the version cannot be served.
	StartFailures int
	LastError     string
}

// Supervisor owns every replica. It is safe for concurrent use.
type Supervisor struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client

	mu   sync.Mutex
	sets map[setKey]*replicaSet
	wg   sync.WaitGroup

	artifacts artifactCache // stored artifacts whose digest was checked
}

type setKey struct{ endpoint, version string }

type replicaSet struct {
	spec     Spec
	replicas []*replica
	nextID   int
}

// New returns a Supervisor with no replicas.
func New(cfg Config) *Supervisor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	if cfg.HealthFailures <= 0 {
		cfg.HealthFailures = 3
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.MaxRestartBackoff <= 0 {
		cfg.MaxRestartBackoff = 30 * time.Second
	}
	if cfg.InFlight == nil {
		cfg.InFlight = func(string) int { return 0 }
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(string, string) {}
	}
	return &Supervisor{
		cfg:  cfg,
		log:  cfg.Logger,
		http: &http.Client{Timeout: 2 * time.Second},
		sets: map[setKey]*replicaSet{},
	}
}

// Ensure makes (spec.Endpoint, spec.Version.ID) run spec.Replicas replicas,
// starting or draining replicas as needed. Replicas already running keep
// running: scaling never restarts a healthy replica.
func (s *Supervisor) Ensure(spec Spec) {
	if spec.Replicas < 1 {
		spec.Replicas = 1
	}
	key := setKey{spec.Endpoint, spec.Version.ID}
	s.mu.Lock()
	set, ok := s.sets[key]
	if !ok {
		set = &replicaSet{spec: spec}
		s.sets[key] = set
	}
	set.spec = spec
	active := set.active()
	for len(active) < spec.Replicas {
		r := s.newReplica(set)
		set.replicas = append(set.replicas, r)
		active = append(active, r)
	}
	if extra := len(active) - spec.Replicas; extra > 0 {
		// Retire the newest first: they are the least likely to be warm.
		for _, r := range active[len(active)-extra:] {
			r.retire()
		}
	}
	s.mu.Unlock()
}

// Stop drains and stops every replica of (endpoint, version) and forgets
// the set. It returns when they have exited or ctx is done.
func (s *Supervisor) Stop(ctx context.Context, endpoint, version string) {
	key := setKey{endpoint, version}
	s.mu.Lock()
	set := s.sets[key]
	delete(s.sets, key)
	var rs []*replica
	if set != nil {
		rs = set.replicas
		for _, r := range rs {
			r.retire()
		}
	}
	s.mu.Unlock()
	for _, r := range rs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return
		}
	}
}

// Ready lists the base URLs of the ready replicas of (endpoint, version),
// in a stable order.
func (s *Supervisor) Ready(endpoint, version string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[setKey{endpoint, version}]
	if set == nil {
		return nil
	}
	var out []string
	for _, r := range set.replicas {
		if b := r.readyBackend(); b != "" {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// Status summarises (endpoint, version); ok is false when nothing runs for it.
func (s *Supervisor) Status(endpoint, version string) (st SetStatus, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[setKey{endpoint, version}]
	if set == nil {
		return SetStatus{}, false
	}
	st.Desired = set.spec.Replicas
	for _, r := range set.replicas {
		r.mu.Lock()
		if r.state == stateReady && !r.retired {
			st.Ready++
		}
		st.Restarts += r.restarts
		if !r.retired && r.startFailures > st.StartFailures {
			st.StartFailures = r.startFailures
		}
		if r.lastErr != "" && !r.retired {
			st.LastError = r.lastErr
		}
		r.mu.Unlock()
	}
	return st, true
}

// Sets lists the (endpoint, version) pairs that have replicas.
func (s *Supervisor) Sets() [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][2]string, 0, len(s.sets))
	for k := range s.sets {
		out = append(out, [2]string{k.endpoint, k.version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"\x00"+out[i][1] < out[j][0]+"\x00"+out[j][1] })
	return out
}

// Close stops every replica, draining each for at most DrainTimeout.
func (s *Supervisor) Close(ctx context.Context) {
	for _, k := range s.Sets() {
		s.Stop(ctx, k[0], k[1])
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (set *replicaSet) active() []*replica {
	var out []*replica
	for _, r := range set.replicas {
		if !r.isRetired() {
			out = append(out, r)
		}
	}
	return out
}

// newReplica starts a replica's life cycle goroutine. Called with s.mu held.
func (s *Supervisor) newReplica(set *replicaSet) *replica {
	set.nextID++
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{
		sup:    s,
		spec:   set.spec,
		name:   fmt.Sprintf("%s/%s#%d", set.spec.Endpoint, set.spec.Version.ID, set.nextID),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.run(ctx)
		close(r.done)
		s.prune(r.spec.Endpoint, r.spec.Version.ID)
	}()
	return r
}

// prune drops retired, exited replicas from their set.
func (s *Supervisor) prune(endpoint, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[setKey{endpoint, version}]
	if set == nil {
		return
	}
	kept := set.replicas[:0]
	for _, r := range set.replicas {
		select {
		case <-r.done:
			if r.isRetired() {
				continue
			}
		default:
		}
		kept = append(kept, r)
	}
	set.replicas = kept
}

// PIDs lists the process IDs of the running replicas of (endpoint, version).
func (s *Supervisor) PIDs(endpoint, version string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[setKey{endpoint, version}]
	if set == nil {
		return nil
	}
	var out []int
	for _, r := range set.replicas {
		r.mu.Lock()
		if r.pid != 0 {
			out = append(out, r.pid)
		}
		r.mu.Unlock()
	}
	sort.Ints(out)
	return out
}
