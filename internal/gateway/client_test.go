package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// The tests below pin down how the gateway talks to http:// replicas:
// connection reuse, replicas closing connections, and answers of every
// framing.

// countingReplica is a replica whose handler is h and which counts the
// connections it accepted; configure, if any, runs before it starts.
func countingReplica(t *testing.T, h http.HandlerFunc, configure ...func(*http.Server)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(h)
	for _, f := range configure {
		f(s.Config)
	}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func TestReplicaConnectionsAreReused(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"content-length", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		}},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = w.Write([]byte(`{"ok":`))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(`true}`))
		}},
		{"chunked with trailer", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = w.Write([]byte(`{"ok":`))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(`true}`))
			w.Header().Set("X-Checksum", "1")
		}},
		{"no content", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, conns := countingReplica(t, tc.h)
			h := newHarness(t, gateway.Config{})
			h.g.SetRoute(route("ep", vr("m/1", 100, s.URL)))
			for i := range 20 {
				a := h.infer(t, "ep")
				if a.status/100 != 2 {
					t.Fatalf("request %d: status %d: %s", i, a.status, a.body)
				}
				if a.status == http.StatusOK && a.body != `{"ok":true}` {
					t.Fatalf("request %d: body %q", i, a.body)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("20 serial requests used %d connections to the replica, want 1", n)
			}
		})
	}
}

func TestReplicaConnectionClose(t *testing.T) {
	s, conns := countingReplica(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte(`{}`))
	})
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, s.URL)))
	for i := range 5 {
		if a := h.infer(t, "ep"); a.status != http.StatusOK || a.body != `{}` {
			t.Fatalf("request %d: %d %q", i, a.status, a.body)
		}
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("%d connections for 5 answers with Connection: close, want 5", n)
	}
	if st := h.g.Stats("ep", "m/1"); st.Errors != 0 {
		t.Errorf("Stats.Errors = %d", st.Errors)
	}
}

// A replica that closes idle connections (its IdleTimeout, or a restart)
// must not cost requests, nor even retries.
func TestReplicaClosesIdleConnections(t *testing.T) {
	s, conns := countingReplica(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}, func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond })
	reg := prometheus.NewRegistry()
	h := newHarness(t, gateway.Config{Registerer: reg})
	h.g.SetRoute(route("ep", vr("m/1", 100, s.URL)))
	for i := range 4 {
		if a := h.infer(t, "ep"); a.status != http.StatusOK {
			t.Fatalf("request %d: %d %q", i, a.status, a.body)
		}
		time.Sleep(80 * time.Millisecond)
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections, want 4 (one per idle period)", n)
	}
	if st := h.g.Stats("ep", "m/1"); st.Errors != 0 || st.Requests != 4 {
		t.Errorf("Stats = %d requests, %d errors; want 4, 0", st.Requests, st.Errors)
	}
	// On Linux a closed idle connection is noticed before the request is
	// written to it, so it does not even cost a retry.
	if runtime.GOOS == "linux" {
		if n := value(scrape(t, reg), "slipway_gateway_retries_total", "endpoint", "ep", "version", "m/1"); n != 0 {
			t.Errorf("retries_total = %v, want 0", n)
		}
	}
}

func TestLargeBodies(t *testing.T) {
	r := newReplica(t, "r", func(w http.ResponseWriter, r *http.Request) bool {
		return false
	})
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	for _, n := range []int{0, 1, 16 << 10, 16<<10 + 1, 1 << 20} {
		body := `{"id":"` + strings.Repeat("x", n) + `"}`
		if a := h.do(t, http.MethodPost, "/v2/models/ep/infer", body); a.status != http.StatusOK {
			t.Fatalf("%d-byte id: status %d", n, a.status)
		}
		reqs := r.requests()
		if got := reqs[len(reqs)-1]; got.body != body || got.header.Get("Content-Length") != fmt.Sprint(len(body)) {
			t.Fatalf("%d-byte id: replica got %d bytes (Content-Length %q)", n, len(got.body), got.header.Get("Content-Length"))
		}
	}

	// A large answer, of known and of unknown length.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, chunked := range []bool{false, true} {
		s, _ := countingReplica(t, func(w http.ResponseWriter, r *http.Request) {
			if !chunked {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			}
			_, _ = w.Write(big)
		})
		h.g.SetRoute(route("ep", vr("m/1", 100, s.URL)))
		if a := h.infer(t, "ep"); a.status != http.StatusOK || a.body != string(big) {
			t.Fatalf("chunked=%v: %d, %d bytes of %d", chunked, a.status, len(a.body), len(big))
		}
	}
}

// A replica that answers before reading the whole request (an early 413)
// has its answer passed on, as net/http's Transport would.
func TestEarlyAnswer(t *testing.T) {
	s, _ := countingReplica(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = w.Write([]byte(`{"error":"too large for this replica"}`))
	})
	h := newHarness(t, gateway.Config{MaxBodyBytes: 64 << 20})
	h.g.SetRoute(route("ep", vr("m/1", 100, s.URL)))
	body := `{"id":"` + strings.Repeat("x", 32<<20) + `"}`
	a := h.do(t, http.MethodPost, "/v2/models/ep/infer", body)
	if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, "too large for this replica") {
		t.Fatalf("got %d %q, want the replica's 413", a.status, a.body)
	}
}

// Header values that would split the request to the replica are refused.
func TestInvalidForwardedHeader(t *testing.T) {
	r := newReplica(t, "r", nil)
	g := gateway.New(gateway.Config{})
	t.Cleanup(g.Close)
	g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	rec := serveDirect(g, http.MethodPost, "/v2/models/ep/infer", inferBody, "X-Request-Id", "a\r\nX-Evil: 1")
	if rec.Code != http.StatusBadGateway {
		t.Errorf("status %d, want 502", rec.Code)
	}
	for _, s := range r.requests() {
		if s.header.Get("X-Evil") != "" {
			t.Fatal("a header value split the request to the replica")
		}
	}
	if rec := serveDirect(g, http.MethodPost, "/v2/models/ep/infer", inferBody, "X-Request-Id", "  ok\t"); rec.Code != http.StatusOK {
		t.Errorf("status %d for a clean header", rec.Code)
	} else if got := r.requests()[len(r.requests())-1].header.Get("X-Request-Id"); got != "ok" {
		t.Errorf("X-Request-Id = %q at the replica, want it trimmed to %q", got, "ok")
	}
}
