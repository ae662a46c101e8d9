package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics are produced at scrape time from the same atomic counters
// that back Stats, instead of being kept a second time in client_golang
// vectors: the request path then pays for one set of atomic adds, with no
// label lookup at all, and /metrics and Stats can never disagree.
var (
	descRequests = prometheus.NewDesc("slipway_gateway_requests_total",
		"Inference requests answered, by endpoint, serving model version and HTTP status (499: client went away). Shadow copies count under the shadow version.",
		[]string{"endpoint", "version", "code"}, nil)
	descDuration = prometheus.NewDesc("slipway_gateway_request_duration_seconds",
		"Latency of inference requests from the body being read to the answer being written, by endpoint and serving model version.",
		[]string{"endpoint", "version"}, nil)
	descInFlight = prometheus.NewDesc("slipway_gateway_inflight_requests",
		"Inference requests in progress, by endpoint and model version.",
		[]string{"endpoint", "version"}, nil)
	descRetries = prometheus.NewDesc("slipway_gateway_retries_total",
		"Attempts on a model version that failed before the replica could see the request and were retried elsewhere.",
		[]string{"endpoint", "version"}, nil)
	descShadowDropped = prometheus.NewDesc("slipway_gateway_shadow_dropped_total",
		"Shadow copies dropped because the shadow queue was full, by endpoint.",
		[]string{"endpoint"}, nil)
	descWeight = prometheus.NewDesc("slipway_endpoint_traffic_weight",
		"Configured share (0-100) of unpinned traffic per endpoint and model version in the current routing table.",
		[]string{"endpoint", "version"}, nil)
)

// bucketBounds are latencyBounds in seconds, for the histogram.
var bucketBounds = func() []float64 {
	s := make([]float64, len(latencyBounds))
	for i, d := range latencyBounds {
		s[i] = d.Seconds()
	}
	return s
}()

type collector struct{ g *Gateway }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descInFlight, descRetries, descShadowDropped, descWeight} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	type entry struct {
		key statKey
		s   *verStats
	}
	type drop struct {
		endpoint string
		e        *endpointStats
	}
	g := c.g
	g.mu.Lock()
	entries := make([]entry, 0, len(g.stats))
	for k, s := range g.stats {
		entries = append(entries, entry{k, s})
	}
	drops := make([]drop, 0, len(g.endpoints))
	for ep, e := range g.endpoints {
		drops = append(drops, drop{ep, e})
	}
	g.mu.Unlock()

	for _, e := range entries {
		ep, ver := e.key.endpoint, e.key.version
		for code := range e.s.codes {
			if n := e.s.codes[code].Load(); n > 0 {
				label := "unknown"
				if code > 0 {
					label = strconv.Itoa(code)
				}
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), ep, ver, label)
			}
		}
		st := e.s.snapshot()
		cum := make(map[float64]uint64, len(bucketBounds))
		var running uint64
		for i, ub := range bucketBounds {
			running += st.Buckets[i]
			cum[ub] = running
		}
		ch <- prometheus.MustNewConstHistogram(descDuration, st.Requests, st.LatencySum.Seconds(), cum, ep, ver)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(e.s.inflight.Load()), ep, ver)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(e.s.retries.Load()), ep, ver)
	}
	for _, d := range drops {
		ch <- prometheus.MustNewConstMetric(descShadowDropped, prometheus.CounterValue, float64(d.e.shadowDropped.Load()), d.endpoint)
	}
	for _, rt := range g.table.Load().routes {
		for _, v := range rt.versions {
			ch <- prometheus.MustNewConstMetric(descWeight, prometheus.GaugeValue, float64(v.weight), rt.endpoint, v.id)
		}
	}
}
