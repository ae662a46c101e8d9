package gateway

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the latency histogram buckets, the
// same for Stats and the Prometheus histogram. They are dense between 5 ms
// and 1 s, where rollout latency objectives live, so a p99 estimated from
// them is within a few milliseconds there.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	7500 * time.Microsecond, 10 * time.Millisecond, 15 * time.Millisecond,
	20 * time.Millisecond, 30 * time.Millisecond, 40 * time.Millisecond,
	50 * time.Millisecond, 75 * time.Millisecond, 100 * time.Millisecond,
	150 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond,
	300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond,
	750 * time.Millisecond, 1 * time.Second, 1500 * time.Millisecond,
	2 * time.Second, 3 * time.Second, 5 * time.Second, 7500 * time.Millisecond,
	10 * time.Second, 15 * time.Second, 30 * time.Second, 60 * time.Second,
}

// NumBuckets is the number of latency buckets, the last one unbounded.
const NumBuckets = len(latencyBounds) + 1

// LatencyBounds returns the upper bounds of Stats.Buckets[0:NumBuckets-1];
// the last bucket holds everything slower.
func LatencyBounds() []time.Duration { return append([]time.Duration(nil), latencyBounds[:]...) }

// Stats are cumulative counters of one version of one endpoint. Subtract
// an earlier Stats (Sub) to get a window.
type Stats struct {
	Requests   uint64 // answered infer requests (any status), = sum of Buckets
	Errors     uint64 // 5xx answers, including the gateway's own 502/503/504
	LatencySum time.Duration
	// Buckets[i] counts requests with latency in
	// (LatencyBounds()[i-1], LatencyBounds()[i]]; not cumulative.
	Buckets [NumBuckets]uint64
}

// Sub returns s minus prev: the traffic of the window between them.
func (s Stats) Sub(prev Stats) Stats {
	d := Stats{
		Requests:   sub(s.Requests, prev.Requests),
		Errors:     sub(s.Errors, prev.Errors),
		LatencySum: max(s.LatencySum-prev.LatencySum, 0),
	}
	for i := range s.Buckets {
		d.Buckets[i] = sub(s.Buckets[i], prev.Buckets[i])
	}
	return d
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// ErrorRate is Errors/Requests, 0 without requests.
func (s Stats) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

// Mean is the mean latency, 0 without requests.
func (s Stats) Mean() time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return s.LatencySum / time.Duration(s.Requests)
}

// Quantile estimates the q-quantile (0 < q ≤ 1) of latency by linear
// interpolation inside the bucket holding it, as Prometheus'
// histogram_quantile does. Beyond the last bound it returns that bound.
// Without requests it returns 0.
func (s Stats) Quantile(q float64) time.Duration {
	var total uint64
	for _, c := range s.Buckets {
		total += c
	}
	if total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(total)
	var seen uint64
	for i, c := range s.Buckets {
		if c == 0 || float64(seen+c) < rank {
			seen += c
			continue
		}
		if i == len(latencyBounds) {
			return latencyBounds[i-1]
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = latencyBounds[i-1]
		}
		hi := latencyBounds[i]
		frac := (rank - float64(seen)) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return latencyBounds[len(latencyBounds)-1]
}

// statKey names the counters of one version of one endpoint.
type statKey struct{ endpoint, version string }

// maxCode bounds the per-status counters; net/http only accepts 3-digit
// status codes from a replica.
const maxCode = 1000

// statusClientGone is recorded when the client went away before the
// answer (nginx's convention); it is not an error of the version.
const statusClientGone = 499

// verStats are the live counters behind Stats and the Prometheus metrics of
// one endpoint/version. The hot path only does atomic adds here.
type verStats struct {
	errors   atomic.Uint64
	sumNanos atomic.Int64
	buckets  [NumBuckets]atomic.Uint64
	codes    [maxCode]atomic.Uint64
	inflight atomic.Int64
	retries  atomic.Uint64 // attempts on this version that failed before a response and were retried
}

// record counts one answered request.
func (s *verStats) record(code int, d time.Duration) {
	if code >= 500 {
		s.errors.Add(1)
	}
	if code <= 0 || code >= maxCode {
		code = 0
	}
	s.codes[code].Add(1)
	s.sumNanos.Add(int64(d))
	s.buckets[bucketOf(d)].Add(1)
}

// bucketOf is a binary search over latencyBounds.
func bucketOf(d time.Duration) int {
	lo, hi := 0, len(latencyBounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if latencyBounds[m] < d {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (s *verStats) snapshot() Stats {
	var st Stats
	for i := range s.buckets {
		st.Buckets[i] = s.buckets[i].Load()
		st.Requests += st.Buckets[i]
	}
	st.Errors = s.errors.Load()
	st.LatencySum = time.Duration(s.sumNanos.Load())
	return st
}

// endpointStats are counters kept per endpoint.
type endpointStats struct {
	shadowDropped atomic.Uint64
}
