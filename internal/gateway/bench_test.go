package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// The benchmarks compare a client calling a replica directly with the same
// client going through the gateway, serially (added latency per request)
// and in parallel (throughput at saturation). BenchmarkReverseProxy is the
// httputil.ReverseProxy baseline the gateway is meant to beat.
//
//	go test ./internal/gateway/ -run '^$' -bench . -benchtime 3s

var echoAnswer = []byte(`{"model_name":"ep","id":"42","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[3]}]}`)

// benchReplica answers a small JSON, after running a small dense layer
// when model is set; without it the benchmark is the proxy-bound worst case.
func benchReplica(b *testing.B, model bool) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if model {
			sink.Add(uint64(denseLayer()))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(echoAnswer)
	}))
	b.Cleanup(s.Close)
	return s
}

func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func post(b *testing.B, c *http.Client, u string) {
	resp, err := c.Post(u, "application/json", strings.NewReader(inferBody))
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
	}
}

func runBoth(b *testing.B, u string) {
	c := benchClient(b)
	post(b, c, u) // warm the connection pools
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		lat := make([]time.Duration, 0, 1<<16)
		cpu := cpuTime()
		for b.Loop() {
			start := time.Now()
			post(b, c, u)
			lat = append(lat, time.Since(start))
		}
		reportCPU(b, cpu)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8) // 16 clients on 2 cores: saturation, not ping-pong
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post(b, c, u)
			}
		})
		reportCPU(b, cpu)
	})
}

func runParallel(b *testing.B, u string) {
	c := benchClient(b)
	post(b, c, u)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, c, u)
		}
	})
	reportCPU(b, cpu)
}

// cpuTime is the CPU time of the whole process: client, gateway and
// replica together. Per request it is a steadier measure than wall time
// on a shared machine, and at saturation on a CPU-bound box throughput is
// its inverse.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(b.N), "cpu-µs/op")
}

// gatewayFor puts a gateway in front of the replica at target.
func gatewayFor(b *testing.B, target string) string {
	g := gateway.New(gateway.Config{})
	b.Cleanup(g.Close)
	g.SetRoute(route("ep", vr("m/1", 100, target)))
	front := httptest.NewServer(g.Handler())
	b.Cleanup(front.Close)
	return front.URL
}

// denseLayer is a 384×384 float32 matrix-vector product (~150k
// multiply-adds): a stand-in for a small model's CPU work, fixed in work
// rather than in wall time so concurrency does not distort it.
func denseLayer() float32 {
	const n = 384
	var acc float32
	for i := range n {
		var s float32
		for j := range n {
			s += float32(i^j) * 0.5
		}
		acc += s
	}
	return acc
}

var sink atomic.Uint64

func BenchmarkDirect(b *testing.B) {
	runBoth(b, benchReplica(b, false).URL+"/v2/models/ep/infer")
}

func BenchmarkGateway(b *testing.B) {
	runBoth(b, gatewayFor(b, benchReplica(b, false).URL)+"/v2/models/ep/infer")
}

// The Model variants give the replica a small model's CPU work, so
// the throughput ratio shows the gateway's cost next to real inference
// rather than next to an empty handler on the same two cores.
func BenchmarkDirectModel(b *testing.B) {
	runParallel(b, benchReplica(b, true).URL+"/v2/models/ep/infer")
}

func BenchmarkGatewayModel(b *testing.B) {
	runParallel(b, gatewayFor(b, benchReplica(b, true).URL)+"/v2/models/ep/infer")
}

func BenchmarkReverseProxy(b *testing.B) {
	target, _ := url.Parse(benchReplica(b, false).URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	front := httptest.NewServer(rp)
	b.Cleanup(front.Close)
	runBoth(b, front.URL+"/v2/models/ep/infer")
}
