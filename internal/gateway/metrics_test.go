package gateway_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	r1, r2 := newReplica(t, "r1", nil), newReplica(t, "r2", nil)
	h := newHarness(t, gateway.Config{Registerer: reg})
	h.g.SetRoute(route("ep", vr("m/1", 90, r1.URL()), vr("m/2", 10, r2.URL())))
	for range 20 {
		h.infer(t, "ep", gateway.HeaderVersion, "1")
	}
	h.infer(t, "ep", gateway.HeaderVersion, "2")

	// promlint applies the naming rules of `promtool check metrics`.
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	fams := scrape(t, reg)
	for _, name := range []string{
		"slipway_gateway_requests_total", "slipway_gateway_request_duration_seconds",
		"slipway_gateway_inflight_requests", "slipway_gateway_shadow_dropped_total",
		"slipway_endpoint_traffic_weight",
	} {
		if fams[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	if got := value(fams, "slipway_gateway_requests_total", "endpoint", "ep", "version", "m/1", "code", "200"); got != 20 {
		t.Errorf("requests_total{m/1,200} = %v, want 20", got)
	}
	if h := find(fams, "slipway_gateway_request_duration_seconds", "endpoint", "ep", "version", "m/2"); h == nil || h.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("duration histogram of m/2 = %v, want 1 sample", h)
	}
	if w := value(fams, "slipway_endpoint_traffic_weight", "endpoint", "ep", "version", "m/2"); w != 10 {
		t.Errorf("weight of m/2 = %v, want 10", w)
	}

	// SetRoute updates the weights; a removed version's weight goes away.
	h.g.SetRoute(route("ep", vr("m/2", 100, r2.URL())))
	fams = scrape(t, reg)
	if w := value(fams, "slipway_endpoint_traffic_weight", "endpoint", "ep", "version", "m/2"); w != 100 {
		t.Errorf("weight of m/2 after the switch = %v, want 100", w)
	}
	if find(fams, "slipway_endpoint_traffic_weight", "endpoint", "ep", "version", "m/1") != nil {
		t.Error("weight of the removed version m/1 is still exported")
	}
	// Cumulative counters survive the switch.
	if got := value(fams, "slipway_gateway_requests_total", "endpoint", "ep", "version", "m/1", "code", "200"); got != 20 {
		t.Errorf("requests_total{m/1,200} after the switch = %v, want 20", got)
	}
}

func TestShadowDroppedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	primary := newReplica(t, "p", nil)
	block := make(chan struct{})
	stuck := newReplica(t, "s", func(w http.ResponseWriter, r *http.Request) bool { <-block; return false })
	h := newHarness(t, gateway.Config{Registerer: reg, ShadowQueue: 1, ShadowWorkers: 1})
	t.Cleanup(func() { close(block) })
	h.g.SetRoute(gateway.Route{
		Endpoint: "ep", Versions: []gateway.VersionRoute{vr("m/1", 100, primary.URL())},
		Shadow: &gateway.ShadowRoute{Version: "m/2", Percent: 100, Backends: []string{stuck.URL()}},
	})
	for range 10 {
		h.infer(t, "ep")
	}
	dropped := h.g.ShadowDropped("ep")
	if dropped < 8 {
		t.Fatalf("ShadowDropped = %d, want ≥ 8", dropped)
	}
	if got := value(scrape(t, reg), "slipway_gateway_shadow_dropped_total", "endpoint", "ep"); got != float64(dropped) {
		t.Errorf("shadow_dropped_total = %v, ShadowDropped = %d", got, dropped)
	}
}

// scrape renders reg in the text exposition format and parses it back, as
// Prometheus would.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("metrics text does not parse: %v\n%s", err, buf.String())
	}
	return fams
}

func find(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := fams[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := find(fams, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return -1
}
