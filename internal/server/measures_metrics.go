package server

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/measures"
)

// measuresCollector exposes the key measures on /metrics. It computes them
// from the store at scrape time, so they are never stale and cost nothing
// between scrapes.
type measuresCollector struct {
	s         *Server
	total     *prometheus.Desc
	share     *prometheus.Desc
	success   *prometheus.Desc
	leadTime  *prometheus.Desc
	restore   *prometheus.Desc
	frequency *prometheus.Desc
}

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 10 * time.Second

func newMeasuresCollector(s *Server) *measuresCollector {
	// endpoint="" is the measure over every endpoint; PromQL reads an empty
	// label as an absent one.
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help+" Over the last 90 days; endpoint=\"\" is every endpoint.", []string{"endpoint"}, nil)
	}
	return &measuresCollector{
		s: s,
		// Per endpoint only: an overall series would be counted twice by sum().
		total: prometheus.NewDesc("slipway_deployments_total",
			"Deployments created in the last 90 days, by endpoint and current phase.", []string{"endpoint", "phase"}, nil),
		share:     desc("slipway_pipeline_share", "Share of deployments made through Terraform (source terraform), 0 to 1."),
		success:   desc("slipway_deployment_success_rate", "Succeeded deployments over finished ones, 0 to 1."),
		leadTime:  desc("slipway_mean_lead_time_seconds", "Mean time from a model version's registration to all traffic on it, over succeeded deployments."),
		restore:   desc("slipway_mean_time_to_restore_seconds", "Mean time from the start of a failed or rolled back deployment to traffic fully restored."),
		frequency: desc("slipway_deployment_frequency_per_day", "Deployments per day."),
	}
}

func (c *measuresCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.share, c.success, c.leadTime, c.restore, c.frequency} {
		ch <- d
	}
}

func (c *measuresCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	now := c.s.now()
	deps, versions, err := c.s.measureInputs(ctx, "", now)
	if err != nil {
		// Logged rather than reported as an invalid metric: that would fail
		// the whole scrape and lose the gateway's metrics with these.
		c.s.log.Error("computing key measures for /metrics", "err", err)
		return
	}
	type key struct{ endpoint, phase string }
	counts := map[key]int{}
	endpoints := map[string]bool{}
	for _, d := range deps {
		counts[key{d.Endpoint, d.Phase}]++
		endpoints[d.Endpoint] = true
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(n), k.endpoint, k.phase)
	}
	for _, e := range append(slices.Sorted(maps.Keys(endpoints)), "") {
		c.measure(ch, measures.Compute(deps, versions, e, now))
	}
}

func (c *measuresCollector) measure(ch chan<- prometheus.Metric, m apitypes.KeyMeasures) {
	for desc, v := range map[*prometheus.Desc]float64{
		c.share:     m.PipelineShare,
		c.success:   m.SuccessRate,
		c.leadTime:  m.MeanLeadTimeSeconds,
		c.restore:   m.MeanTimeToRestoreSeconds,
		c.frequency: m.DeploymentsPerDay,
	} {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, m.Endpoint)
	}
}
