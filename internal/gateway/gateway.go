// Package gateway is Slipway's inference data plane: an Open Inference
// Protocol v2 REST reverse proxy that routes requests for a named endpoint
// to model replicas, split by weight across model versions.
//
// The routing table is immutable and swapped atomically (copy-on-write), so
// a request keeps the snapshot it started with and a traffic switch never
// drops a request. The proxy is hand-written rather than
// httputil.ReverseProxy: the body is read once into a pooled buffer (which
// makes retries and shadow copies free), only the headers a model server
// needs are forwarded, the per-request bookkeeping is a handful of atomic
// adds on counters resolved when the route was set, and http:// replicas
// are spoken to by a synchronous HTTP/1.1 client over per-replica
// connection pools (client.go) rather than through net/http's Transport.
package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Headers the gateway reads or writes.
const (
	// HeaderVersion pins a request to one version of the endpoint (the
	// version part of the ID, or the full "model/version" ID).
	HeaderVersion = "Slipway-Version"
	// HeaderRoutingKey makes routing sticky: the same key lands on the same
	// version for as long as the weights do not change.
	HeaderRoutingKey = "Slipway-Routing-Key"
	// HeaderServedVersion names the version ("model/version") that answered.
	HeaderServedVersion = "Slipway-Served-Version"
	// HeaderShadow is set on shadow copies so a replica can tell them apart.
	HeaderShadow = "Slipway-Shadow"
)

// Defaults for zero Config fields.
const (
	DefaultShadowQueue   = 1024
	DefaultShadowWorkers = 4
	DefaultMaxBodyBytes  = 8 << 20
	// defaultShadowTimeout bounds a shadow request when the route has no
	// RequestTimeout, so a hung shadow replica cannot pin a worker forever.
	defaultShadowTimeout = 30 * time.Second
)

// Config configures a Gateway. The zero value is usable.
type Config struct {
	Logger *slog.Logger
	// Token, when set, is required as "Authorization: Bearer <Token>" on
	// every /v2 call except the health probes.
	Token string
	// Registerer receives the gateway's metrics; nil means a private
	// registry (metrics are then only visible through Stats).
	Registerer    prometheus.Registerer
	ShadowQueue   int   // bounded shadow queue length (default 1024)
	ShadowWorkers int   // goroutines sending shadow copies (default 4)
	MaxBodyBytes  int64 // largest accepted request body (default 8 MiB)
}

// VersionRoute is one model version of a route and its ready replicas.
type VersionRoute struct {
	Version string // model version ID, "model/version"
	// Weight is the share of unpinned traffic, 0..100. The weights of a
	// route sum to 100; 0 means reachable only when pinned.
	Weight int
	// Backends are base URLs of ready replicas, e.g. "http://127.0.0.1:41234".
	Backends []string
}

// ShadowRoute mirrors Percent % of unpinned infer requests to Version.
type ShadowRoute struct {
	Version  string
	Percent  int
	Backends []string
}

// Route is the complete routing state of one endpoint.
//
// Keep Versions in a stable order across updates: sticky routing assigns
// hash buckets to versions in that order, so a key only moves when the
// weights move its bucket, never back and forth.
type Route struct {
	Endpoint       string
	Versions       []VersionRoute
	Shadow         *ShadowRoute
	RequestTimeout time.Duration // 0 = no limit beyond the client's
}

// Gateway routes OIP v2 requests to model replicas. It is safe for
// concurrent use.
type Gateway struct {
	log       *slog.Logger
	auth      string // "Bearer <token>", or "" when auth is off
	maxBody   int64
	transport *http.Transport

	table atomic.Pointer[table]

	// mu serialises route writers and guards the maps below. The request
	// path never takes it: routes carry pointers into these maps.
	mu        sync.Mutex
	stats     map[statKey]*verStats
	endpoints map[string]*endpointStats
	backends  map[string]*backend

	shadowQ    chan shadowJob
	shadowCtx  context.Context
	shadowStop context.CancelFunc
	shadowWG   sync.WaitGroup
	closed     atomic.Bool
	closeOnce  sync.Once
}

// New returns a Gateway with an empty routing table and starts its shadow
// workers. Call Close to stop them.
func New(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShadowQueue <= 0 {
		cfg.ShadowQueue = DefaultShadowQueue
	}
	if cfg.ShadowWorkers <= 0 {
		cfg.ShadowWorkers = DefaultShadowWorkers
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	g := &Gateway{
		log:       cfg.Logger,
		maxBody:   cfg.MaxBodyBytes,
		transport: newTransport(),
		stats:     make(map[statKey]*verStats),
		endpoints: make(map[string]*endpointStats),
		backends:  make(map[string]*backend),
		shadowQ:   make(chan shadowJob, cfg.ShadowQueue),
	}
	if cfg.Token != "" {
		g.auth = "Bearer " + cfg.Token
	}
	g.table.Store(&table{routes: map[string]*route{}})
	g.shadowCtx, g.shadowStop = context.WithCancel(context.Background())
	for range cfg.ShadowWorkers {
		g.shadowWG.Add(1)
		go g.shadowWorker()
	}
	g.shadowWG.Add(1)
	go g.janitor()
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if err := reg.Register(&collector{g: g}); err != nil {
		g.log.Error("gateway: registering metrics", "err", err)
	}
	return g
}

// newTransport is the connection pool to https:// replicas (http:// ones
// have their own, see client.go). Replicas are plain
// HTTP/1.1 servers, mostly on loopback: keep many idle connections per
// replica (one per concurrent request at saturation), fail dials fast so a
// retry can go elsewhere, and never touch the payload (no compression, no
// proxy from the environment).
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		MaxIdleConns:          0, // no global cap; the per-host cap bounds it
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: 0,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// SetRoute installs or replaces the route of r.Endpoint. Requests already
// running keep the previous route; new ones see r. It never blocks requests.
func (g *Gateway) SetRoute(r Route) {
	if r.Endpoint == "" {
		g.log.Error("gateway: SetRoute with an empty endpoint name ignored")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rt := g.compile(r)
	old := g.table.Load()
	next := &table{routes: make(map[string]*route, len(old.routes)+1)}
	for k, v := range old.routes {
		next.routes[k] = v
	}
	next.routes[r.Endpoint] = rt
	g.table.Store(next)
	g.sweepBackends(next)
}

// DeleteRoute removes the route of endpoint; its requests then get 404.
func (g *Gateway) DeleteRoute(endpoint string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.table.Load()
	if _, ok := old.routes[endpoint]; !ok {
		return
	}
	next := &table{routes: make(map[string]*route, len(old.routes))}
	for k, v := range old.routes {
		if k != endpoint {
			next.routes[k] = v
		}
	}
	g.table.Store(next)
	g.sweepBackends(next)
}

// Handler returns the http.Handler serving /v2.
func (g *Gateway) Handler() http.Handler { return g }

// Stats returns the cumulative statistics of infer requests served by
// version ("model/version") of endpoint since the gateway started,
// including shadow copies sent to it. Unknown pairs give zero Stats.
func (g *Gateway) Stats(endpoint, version string) Stats {
	if s := g.lookupStats(endpoint, version); s != nil {
		return s.snapshot()
	}
	return Stats{}
}

// InFlight is the number of requests version of endpoint is serving now.
func (g *Gateway) InFlight(endpoint, version string) int {
	if s := g.lookupStats(endpoint, version); s != nil {
		return int(s.inflight.Load())
	}
	return 0
}

// BackendInFlight is the number of requests the replica at base URL backend
// is serving now, across all routes and route snapshots. A replica taken
// out of every route can be stopped once this reaches 0.
func (g *Gateway) BackendInFlight(backend string) int {
	g.mu.Lock()
	b := g.backends[normalizeBackend(backend)]
	g.mu.Unlock()
	if b == nil {
		return 0
	}
	return int(b.inflight.Load())
}

// ShadowDropped is the number of shadow copies for endpoint dropped because
// the shadow queue was full.
func (g *Gateway) ShadowDropped(endpoint string) uint64 {
	g.mu.Lock()
	e := g.endpoints[endpoint]
	g.mu.Unlock()
	if e == nil {
		return 0
	}
	return e.shadowDropped.Load()
}

// Close stops the shadow workers, abandoning queued copies, and closes idle
// connections to replicas. The handler keeps serving primary traffic.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		g.closed.Store(true)
		g.shadowStop()
		g.shadowWG.Wait()
		for {
			select {
			case j := <-g.shadowQ:
				j.buf.release()
			default:
				g.transport.CloseIdleConnections()
				g.closeIdle(time.Time{})
				return
			}
		}
	})
}

func (g *Gateway) lookupStats(endpoint, version string) *verStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats[statKey{endpoint, version}]
}

// statsFor returns the persistent counters of endpoint/version, creating
// them. Counters outlive route swaps so Stats stays cumulative. g.mu held.
func (g *Gateway) statsFor(endpoint, version string) *verStats {
	k := statKey{endpoint, version}
	s := g.stats[k]
	if s == nil {
		s = new(verStats)
		g.stats[k] = s
	}
	return s
}

func (g *Gateway) endpointFor(endpoint string) *endpointStats {
	e := g.endpoints[endpoint]
	if e == nil {
		e = new(endpointStats)
		g.endpoints[endpoint] = e
	}
	return e
}

// backendFor returns the shared state of the replica at raw, or nil when
// raw is not an http(s) base URL. g.mu held.
func (g *Gateway) backendFor(raw string) *backend {
	key := normalizeBackend(raw)
	if b := g.backends[key]; b != nil {
		b.unusedSince = time.Time{}
		return b
	}
	u, err := url.Parse(key)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		g.log.Error("gateway: ignoring backend that is not an http(s) base URL", "backend", raw)
		return nil
	}
	b := &backend{url: key, scheme: u.Scheme, host: u.Host, prefix: u.EscapedPath()}
	if u.Scheme == "http" {
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		b.pool = newPool(addr, u.Host)
	}
	g.backends[key] = b
	return b
}

// backendIdleGrace is how long an unreferenced replica's counter is kept:
// long enough for requests holding an old snapshot to finish, so
// BackendInFlight keeps seeing them while a replica drains.
const backendIdleGrace = 10 * time.Minute

// sweepBackends forgets replicas no route has referenced for a while, so a
// long-lived gateway does not accumulate one entry per port ever used.
// g.mu held.
func (g *Gateway) sweepBackends(t *table) {
	used := make(map[*backend]bool)
	for _, rt := range t.routes {
		for _, v := range rt.all {
			for _, b := range v.backends {
				used[b] = true
			}
		}
	}
	now := time.Now()
	for k, b := range g.backends {
		switch {
		case used[b]:
			b.unusedSince = time.Time{}
			continue
		case b.unusedSince.IsZero():
			b.unusedSince = now
		case now.Sub(b.unusedSince) > backendIdleGrace && b.inflight.Load() == 0:
			delete(g.backends, k)
		}
		// A replica out of every route is about to stop: its idle
		// connections are of no more use. (Requests still draining on
		// it return theirs; the janitor closes those.)
		if b.pool != nil {
			b.pool.closeIdle(time.Time{})
		}
	}
}

// janitor closes connections to replicas that have been idle for
// idleTimeout, until Close.
func (g *Gateway) janitor() {
	defer g.shadowWG.Done()
	t := time.NewTicker(idleTimeout / 6)
	defer t.Stop()
	for {
		select {
		case <-g.shadowCtx.Done():
			return
		case now := <-t.C:
			g.closeIdle(now.Add(-idleTimeout))
		}
	}
}

// closeIdle closes the connections to http:// replicas idle since before
// cutoff (all of them for a zero cutoff).
func (g *Gateway) closeIdle(cutoff time.Time) {
	g.mu.Lock()
	pools := make([]*connPool, 0, len(g.backends))
	for _, b := range g.backends {
		if b.pool != nil {
			pools = append(pools, b.pool)
		}
	}
	g.mu.Unlock()
	for _, p := range pools {
		p.closeIdle(cutoff)
	}
}

func normalizeBackend(s string) string { return strings.TrimRight(s, "/") }
