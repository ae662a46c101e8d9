// Package loadgen drives closed-loop HTTP load: each of N clients sends one
// request, waits for the answer, and sends the next, for a fixed duration.
// It records every latency, so percentiles are exact, not estimated.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Result summarises one run.
type Result struct {
	Requests  int
	Failures  int
	Duration  time.Duration
	Latencies []time.Duration // sorted
}

// Throughput is successful requests per second.
func (r Result) Throughput() float64 {
	return float64(r.Requests-r.Failures) / r.Duration.Seconds()
}

// Quantile returns the q-quantile (0..1) of the latencies.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Latencies)-1))
	return r.Latencies[i]
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests (%d failed) in %s: %.0f req/s, p50 %s, p99 %s",
		r.Requests, r.Failures, r.Duration.Round(time.Millisecond), r.Throughput(), r.Quantile(0.5), r.Quantile(0.99))
}

// Run POSTs body to url from clients concurrent loops for d. A request that
// fails or answers other than 200 counts as a failure.
func Run(ctx context.Context, url string, body []byte, clients int, d time.Duration) Result {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	var (
		mu  sync.Mutex
		res Result
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			failures := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						break // the run ended mid-request: not a failure
					}
					failures++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures++
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Requests += len(lat)
			res.Failures += failures
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	slices.Sort(res.Latencies)
	return res
}
