package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// Analysis verdicts (GateMetrics.Verdict).
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
)

// latencySlack is the smallest p99 worsening max_regression acts on: below
// it the gateway's histogram cannot tell two versions apart.
const latencySlack = 5 * time.Millisecond

// snapshot is the cumulative counters of the candidate and the baseline at
// one instant; two of them make a window.
type snapshot struct{ to, from gateway.Stats }

func (w *watcher) snapshot() snapshot {
	m := w.e.cfg.Metrics
	s := snapshot{to: m.Stats(w.endpoint, w.d.ToVersion)}
	if w.d.FromVersion != "" {
		s.from = m.Stats(w.endpoint, w.d.FromVersion)
	}
	return s
}

// bake holds the current split for dur, analysing the candidate every
// analysis interval and once more at the end. Each window starts where the
// last conclusive one ended. ok is false when a gate failed, and the
// deployment then rolled back or parked.
func (w *watcher) bake(dur time.Duration, where string) (ok bool, err error) {
	if dur <= 0 {
		return true, nil
	}
	a := w.p.Analysis
	if a == nil {
		if err := w.sleep(dur); err != nil {
			return false, err
		}
		return true, nil
	}
	interval := max(apitypes.PolicyDuration(a.Interval), 100*time.Millisecond)
	clock := w.e.cfg.Clock
	end := clock.Now().Add(dur)
	prev := w.snapshot()
	for {
		if wait := min(interval, end.Sub(clock.Now())); wait > 0 {
			if err := w.sleep(wait); err != nil {
				return false, err
			}
		}
		final := !clock.Now().Before(end)
		m, failure, cur := w.analyzeWindow(prev, interval, true)
		if m.Verdict != VerdictInconclusive {
			// An inconclusive window carries over: the next one judges
			// its requests too, so thin traffic (say a slow candidate
			// holding its callers up) adds up to a verdict.
			prev = cur
		}
		ev := w.event(fmt.Sprintf("analysis %s: %s", where, describe(m, failure)))
		ev.Metrics = &m
		switch m.Verdict {
		case VerdictFail:
			return false, w.gateFailed(failure+" "+where, &ev)
		case VerdictInconclusive:
			if final {
				ev.Message += "; the bake ends without enough requests to judge, so it passes with a warning"
			}
		}
		if err := w.save(ev); err != nil {
			return false, err
		}
		if final {
			return true, nil
		}
	}
}

// analyzeWindow judges the window since prev. When live traffic is too
// thin (and synthetic allows) it makes up the difference with synthetic
// requests built from the smoke test, sent to the candidate through the
// gateway so they count in its Stats. It returns the snapshot that closes
// the window.
func (w *watcher) analyzeWindow(prev snapshot, interval time.Duration, synthetic bool) (apitypes.GateMetrics, string, snapshot) {
	a := w.p.Analysis
	cur := w.snapshot()
	cand, base := cur.to.Sub(prev.to), cur.from.Sub(prev.from)
	need := uint64(max(a.MinRequests, 1))
	sent := false
	if synthetic && cand.Requests < need && w.smokeRequests() > 0 {
		w.synthetic(int(need-cand.Requests), max(interval, 2*time.Second))
		cur = w.snapshot()
		cand, base = cur.to.Sub(prev.to), cur.from.Sub(prev.from)
		sent = true
	}
	verdict, failure := judge(a, cand, base)
	m := apitypes.GateMetrics{
		Requests:   int64(cand.Requests),
		Errors:     int64(cand.Errors),
		ErrorRate:  cand.ErrorRate(),
		LatencyP99: fmtDur(cand.Quantile(0.99)),
		Synthetic:  sent,
		Verdict:    verdict,
	}
	if base.Requests > 0 {
		m.BaselineRequests = int64(base.Requests)
		m.BaselineErrorRate = base.ErrorRate()
		m.BaselineP99 = fmtDur(base.Quantile(0.99))
	}
	return m, failure, cur
}

// judge applies the policy's gates to one window of the candidate (cand)
// and the previous version (base). failure says in words which gates
// failed, with the numbers.
func judge(a *apitypes.Analysis, cand, base gateway.Stats) (verdict, failure string) {
	need := uint64(max(a.MinRequests, 1))
	var fails []string
	if a.MaxErrorRate != nil {
		limit := *a.MaxErrorRate
		switch {
		case cand.Requests >= need && cand.ErrorRate() > limit:
			fails = append(fails, fmt.Sprintf("error rate %s > %s", pct(cand.ErrorRate()), pct(limit)))
		case cand.Requests < need && float64(cand.Errors) > limit*float64(need):
			// Even if every missing request succeeded the rate would be
			// too high: no need to wait for more.
			fails = append(fails, fmt.Sprintf("%d errors in %d requests already exceed the %s error rate allowed over min_requests %d", cand.Errors, cand.Requests, pct(limit), need))
		}
	}
	if cand.Requests < need {
		if len(fails) > 0 {
			return VerdictFail, strings.Join(fails, " and ")
		}
		return VerdictInconclusive, fmt.Sprintf("%d of the %d requests needed to judge; the window carries over", cand.Requests, need)
	}
	p99 := cand.Quantile(0.99)
	if a.MaxLatencyP99 != "" {
		if limit := apitypes.PolicyDuration(a.MaxLatencyP99); p99 > limit {
			fails = append(fails, fmt.Sprintf("p99 %s > %s", fmtDur(p99), fmtDur(limit)))
		}
	}
	if a.MaxRegression != nil && base.Requests > 0 {
		r := *a.MaxRegression
		bp99 := base.Quantile(0.99)
		if float64(p99) > float64(bp99)*(1+r) && p99-bp99 > latencySlack {
			fails = append(fails, fmt.Sprintf("p99 %s is %s above the baseline's %s (max_regression %s)", fmtDur(p99), pct(float64(p99-bp99)/math.Max(float64(bp99), 1)), fmtDur(bp99), pct(r)))
		}
		// One error is the least a window can measure: a baseline
		// without errors does not make a single candidate error a
		// regression.
		allowed := math.Max(base.ErrorRate(), 1/float64(cand.Requests)) * (1 + r)
		if cand.ErrorRate() > allowed {
			fails = append(fails, fmt.Sprintf("error rate %s against the baseline's %s (max_regression %s)", pct(cand.ErrorRate()), pct(base.ErrorRate()), pct(r)))
		}
	}
	if len(fails) > 0 {
		return VerdictFail, strings.Join(fails, " and ")
	}
	return VerdictPass, ""
}

// describe is an analysis event's message after "analysis ...: ".
func describe(m apitypes.GateMetrics, failure string) string {
	var b strings.Builder
	b.WriteString(m.Verdict)
	if failure != "" {
		fmt.Fprintf(&b, " (%s)", failure)
	}
	fmt.Fprintf(&b, "; candidate %d requests", m.Requests)
	if m.Synthetic {
		b.WriteString(" including synthetic ones")
	}
	fmt.Fprintf(&b, ", error rate %s, p99 %s", pct(m.ErrorRate), m.LatencyP99)
	if m.BaselineRequests > 0 {
		fmt.Fprintf(&b, "; baseline %d requests, error rate %s, p99 %s", m.BaselineRequests, pct(m.BaselineErrorRate), m.BaselineP99)
	}
	return b.String()
}

// synthetic sends n requests built from the smoke test to the candidate,
// a few at a time, within timeout. Their answers count in the candidate's
// Stats like live traffic; failures to send are not the candidate's.
func (w *watcher) synthetic(n int, timeout time.Duration) {
	reqs := w.p.SmokeTest.Requests
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	defer cancel()
	next := make(chan []byte)
	var wg sync.WaitGroup
	for range min(n, w.e.cfg.SyntheticConcurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				_, _, _ = w.e.cfg.Prober.Infer(ctx, w.endpoint, w.d.ToVersion, body)
			}
		}()
	}
send:
	for i := range n {
		select {
		case next <- []byte(reqs[i%len(reqs)].Body):
		case <-ctx.Done():
			break send
		}
	}
	close(next)
	wg.Wait()
}

// checkSmoke says what is wrong with a smoke request's answer, or "".
func checkSmoke(r apitypes.SmokeRequest, status int, body []byte, err error) string {
	if err != nil {
		return fmt.Sprintf("could not be sent: %v", err)
	}
	want := r.ExpectStatus
	if want == 0 {
		want = apitypes.DefaultExpectStatus
	}
	if status != want {
		return fmt.Sprintf("answered status %d, want %d (%s)", status, want, excerpt(body))
	}
	if len(r.ExpectOutputs) == 0 {
		return ""
	}
	var resp apitypes.InferResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&resp); err != nil {
		return fmt.Sprintf("answered a body that is not an infer response: %v (%s)", err, excerpt(body))
	}
	if len(resp.Outputs) == 0 {
		return "answered no outputs"
	}
	got, ok := numbers(resp.Outputs[0].Data)
	if !ok {
		return fmt.Sprintf("answered non-numeric data in output %q", resp.Outputs[0].Name)
	}
	if len(got) != len(r.ExpectOutputs) {
		return fmt.Sprintf("answered %d values in output %q, want %d", len(got), resp.Outputs[0].Name, len(r.ExpectOutputs))
	}
	for i, g := range got {
		if want := r.ExpectOutputs[i]; math.Abs(g-want) > r.Tolerance || math.IsNaN(g) {
			return fmt.Sprintf("answered %s[%d] = %g, want %g ± %g", resp.Outputs[0].Name, i, g, want, r.Tolerance)
		}
	}
	return ""
}

// numbers flattens tensor data (possibly nested) into float64s.
func numbers(data []any) ([]float64, bool) {
	var out []float64
	for _, v := range data {
		switch x := v.(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return nil, false
			}
			out = append(out, f)
		case float64:
			out = append(out, x)
		case bool:
			out = append(out, map[bool]float64{false: 0, true: 1}[x])
		case []any:
			inner, ok := numbers(x)
			if !ok {
				return nil, false
			}
			out = append(out, inner...)
		default:
			return nil, false
		}
	}
	return out, true
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "empty body"
	}
	return s
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// fmtDur prints a latency to the precision that means something.
func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
