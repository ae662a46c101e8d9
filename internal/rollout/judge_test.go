package rollout

import (
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// window builds Stats of n requests, errs of them 5xx, all at latency.
func window(n, errs int, latency time.Duration) gateway.Stats {
	var s gateway.Stats
	if n == 0 {
		return s
	}
	b := len(gateway.LatencyBounds())
	for i, bound := range gateway.LatencyBounds() {
		if latency <= bound {
			b = i
			break
		}
	}
	s.Requests, s.Errors, s.LatencySum = uint64(n), uint64(errs), time.Duration(n)*latency
	s.Buckets[b] = uint64(n)
	return s
}

func TestJudge(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name       string
		a          apitypes.Analysis
		cand, base gateway.Stats
		verdict    string
		failure    string
	}{
		{"pass", apitypes.Analysis{MinRequests: 10, MaxErrorRate: f(0.01), MaxLatencyP99: "250ms"}, window(100, 1, 20*time.Millisecond), window(900, 0, 20*time.Millisecond), VerdictPass, ""},
		{"error rate", apitypes.Analysis{MinRequests: 10, MaxErrorRate: f(0.01)}, window(100, 2, 20*time.Millisecond), gateway.Stats{}, VerdictFail, "error rate 2.0% > 1.0%"},
		{"p99", apitypes.Analysis{MaxLatencyP99: "250ms"}, window(100, 0, 400*time.Millisecond), gateway.Stats{}, VerdictFail, "p99 399ms > 250ms"},
		{"both", apitypes.Analysis{MaxErrorRate: f(0), MaxLatencyP99: "250ms"}, window(100, 1, 400*time.Millisecond), gateway.Stats{}, VerdictFail, "error rate 1.0% > 0.0% and p99 399ms > 250ms"},
		{"too few", apitypes.Analysis{MinRequests: 50, MaxErrorRate: f(0.1)}, window(10, 1, 20*time.Millisecond), gateway.Stats{}, VerdictInconclusive, "10 of the 50 requests needed to judge; the window carries over"},
		{"no traffic at all", apitypes.Analysis{}, gateway.Stats{}, gateway.Stats{}, VerdictInconclusive, "0 of the 1 requests needed to judge; the window carries over"},
		{"too many errors already", apitypes.Analysis{MinRequests: 50, MaxErrorRate: f(0.1)}, window(10, 6, 20*time.Millisecond), gateway.Stats{}, VerdictFail, "6 errors in 10 requests already exceed the 10.0% error rate allowed over min_requests 50"},
		{"latency regression", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 0, 100*time.Millisecond), window(100, 0, 40*time.Millisecond), VerdictFail, "p99 100ms is 150.0% above the baseline's 40ms (max_regression 20.0%)"},
		{"latency within regression", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 0, 48*time.Millisecond), window(100, 0, 45*time.Millisecond), VerdictPass, ""},
		{"small latency differences are noise", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 0, 4*time.Millisecond), window(100, 0, 900*time.Microsecond), VerdictPass, ""},
		{"error regression", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 10, 10*time.Millisecond), window(1000, 10, 10*time.Millisecond), VerdictFail, "error rate 10.0% against the baseline's 1.0% (max_regression 20.0%)"},
		{"one error is not a regression", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 1, 10*time.Millisecond), window(1000, 0, 10*time.Millisecond), VerdictPass, ""},
		{"two errors against none are", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 2, 10*time.Millisecond), window(1000, 0, 10*time.Millisecond), VerdictFail, "error rate 2.0% against the baseline's 0.0% (max_regression 20.0%)"},
		{"no baseline traffic skips regression", apitypes.Analysis{MaxRegression: f(0.2)}, window(100, 50, 900*time.Millisecond), gateway.Stats{}, VerdictPass, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, failure := judge(&tc.a, tc.cand, tc.base)
			if v != tc.verdict || failure != tc.failure {
				t.Errorf("judge = %s %q, want %s %q", v, failure, tc.verdict, tc.failure)
			}
		})
	}
}
