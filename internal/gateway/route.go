package gateway

import (
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// table is one immutable snapshot of all routes.
type table struct {
	routes map[string]*route
}

// route is the compiled, immutable form of a Route. Everything a request
// needs is resolved here, once per SetRoute.
type route struct {
	endpoint string
	versions []*version // Route.Versions, in order
	all      []*version // versions plus the shadow version: every replica in use
	byName   map[string]*version
	// live are the versions that take unpinned traffic (weight > 0 and at
	// least one replica), cum their cumulative weights and total the sum:
	// a version without replicas hands its share to the others rather
	// than failing requests.
	live  []*version
	cum   []int
	total int
	// meta is the highest-weight live version; it answers model metadata.
	meta *version

	shadow    *version
	shadowPct int
	timeout   time.Duration
	ep        *endpointStats

	// Paths sent to replicas. The gateway picks the version, so replicas
	// always see the unpinned form; a replica serves exactly one version.
	inferPath, metaPath string
}

// version is one model version of a route snapshot.
type version struct {
	id        string // "model/version"
	weight    int    // as configured
	backends  []*backend
	stats     *verStats
	servedHdr []string // {id}, shared by every response; never mutated
}

// backend is one replica, shared by every route and snapshot that lists it
// so its in-flight count is global.
type backend struct {
	url      string // normalized base URL, the key of Gateway.backends
	scheme   string
	host     string
	prefix   string // escaped path of the base URL, usually ""
	inflight atomic.Int64
	// pool is the replica's connection pool when it is an http:// one;
	// nil means https://, served by Gateway.transport.
	pool *connPool

	unusedSince time.Time // guarded by Gateway.mu
}

// compile builds the immutable route for r. g.mu held.
func (g *Gateway) compile(r Route) *route {
	rt := &route{
		endpoint: r.Endpoint,
		byName:   make(map[string]*version, 2*len(r.Versions)+2),
		timeout:  r.RequestTimeout,
		ep:       g.endpointFor(r.Endpoint),
	}
	base := "/v2/models/" + url.PathEscape(r.Endpoint)
	rt.metaPath, rt.inferPath = base, base+"/infer"

	for _, vr := range r.Versions {
		if vr.Version == "" {
			g.log.Error("gateway: ignoring a version with an empty ID", "endpoint", r.Endpoint)
			continue
		}
		if _, dup := rt.byName[vr.Version]; dup {
			g.log.Error("gateway: ignoring a duplicate version", "endpoint", r.Endpoint, "version", vr.Version)
			continue
		}
		v := g.newVersion(r.Endpoint, vr.Version, vr.Backends)
		v.weight = min(max(vr.Weight, 0), 100)
		rt.versions = append(rt.versions, v)
		rt.all = append(rt.all, v)
		rt.index(v)
	}
	if s := r.Shadow; s != nil && s.Version != "" && s.Percent > 0 {
		v := rt.byName[s.Version]
		if v == nil || len(s.Backends) > 0 {
			// The shadow version is usually not in Versions; when it is,
			// its own Backends (if given) are the ones to mirror to.
			v = g.newVersion(r.Endpoint, s.Version, s.Backends)
			rt.all = append(rt.all, v)
			if rt.byName[s.Version] == nil {
				rt.index(v)
			}
		}
		rt.shadow, rt.shadowPct = v, min(s.Percent, 100)
	}

	for _, v := range rt.versions {
		if v.weight > 0 && len(v.backends) > 0 {
			rt.total += v.weight
			rt.live = append(rt.live, v)
			rt.cum = append(rt.cum, rt.total)
			if rt.meta == nil || v.weight > rt.meta.weight {
				rt.meta = v
			}
		}
	}
	return rt
}

func (g *Gateway) newVersion(endpoint, id string, urls []string) *version {
	v := &version{
		id:        id,
		stats:     g.statsFor(endpoint, id),
		servedHdr: []string{id}, // len == cap: an append by a middleware copies
	}
	seen := make(map[*backend]bool, len(urls))
	for _, u := range urls {
		if b := g.backendFor(u); b != nil && !seen[b] {
			seen[b] = true
			v.backends = append(v.backends, b)
		}
	}
	// A stable order keeps pick's random choices comparable across swaps.
	sort.Slice(v.backends, func(i, j int) bool { return v.backends[i].url < v.backends[j].url })
	return v
}

// index makes v findable by its full ID and by its version part. A full ID
// always wins over another version's short name.
func (rt *route) index(v *version) {
	rt.byName[v.id] = v
	if i := strings.LastIndexByte(v.id, '/'); i >= 0 {
		short := v.id[i+1:]
		if _, taken := rt.byName[short]; !taken {
			rt.byName[short] = v
		}
	}
}

// draw maps bucket (0..99) onto the live versions by weight. Buckets are
// assigned to versions in route order, so a routing key's version changes
// only when the weights move its bucket.
func (rt *route) draw(bucket int) *version {
	if rt.total == 0 {
		return nil
	}
	x := bucket
	if rt.total != 100 {
		x = bucket * rt.total / 100
	}
	for i, c := range rt.cum {
		if x < c {
			return rt.live[i]
		}
	}
	return rt.live[len(rt.live)-1]
}

// randomVersion draws a version for an unpinned request without a key.
func (rt *route) randomVersion() *version { return rt.draw(rand.IntN(100)) }

// stickyVersion hashes key (FNV-1a, stable across restarts) to a bucket.
func (rt *route) stickyVersion(key string) *version {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return rt.draw(int(h % 100))
}

// pick chooses a replica of v by the power of two choices: of two random
// replicas, the one with fewer requests in flight. Replicas in avoid
// (those that just refused a connection) are skipped. It returns nil when
// no replica is left.
func (v *version) pick(avoid []*backend) *backend {
	bs := v.backends
	n := len(bs)
	switch n {
	case 0:
		return nil
	case 1:
		if contains(avoid, bs[0]) {
			return nil
		}
		return bs[0]
	default:
		i := rand.IntN(n)
		j := rand.IntN(n - 1)
		if j >= i {
			j++
		}
		a, b := bs[i], bs[j]
		aOK, bOK := !contains(avoid, a), !contains(avoid, b)
		switch {
		case aOK && bOK:
			if b.inflight.Load() < a.inflight.Load() {
				return b
			}
			return a
		case aOK:
			return a
		case bOK:
			return b
		}
		for _, c := range bs {
			if !contains(avoid, c) {
				return c
			}
		}
		return nil
	}
}

func contains(list []*backend, b *backend) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}
