package loadgen_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/loadgen"
)

func TestRunCountsRequestsFailuresAndLatencies(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		time.Sleep(time.Millisecond)
	}))
	defer srv.Close()
	res := loadgen.Run(context.Background(), srv.URL, []byte(`{}`), 2, 300*time.Millisecond)
	if res.Requests < 20 || int64(res.Requests) > n.Load() {
		t.Fatalf("requests = %d, server saw %d", res.Requests, n.Load())
	}
	if res.Failures < res.Requests/10-2 || res.Failures > res.Requests/10+2 {
		t.Errorf("failures = %d of %d; every 10th answer was a 500", res.Failures, res.Requests)
	}
	if p50 := res.Quantile(0.5); p50 < time.Millisecond {
		t.Errorf("p50 = %s; every successful request slept 1ms", p50)
	}
	if res.Quantile(0.99) < res.Quantile(0.5) {
		t.Error("p99 below p50")
	}
}
