package gateway_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

func TestWeightsRespected(t *testing.T) {
	v1, v2, v3 := newReplica(t, "v1", nil), newReplica(t, "v2", nil), newReplica(t, "v3", nil)
	g := gateway.New(gateway.Config{})
	t.Cleanup(g.Close)
	g.SetRoute(route("fraud",
		vr("fraud/1", 90, v1.URL()),
		vr("fraud/2", 10, v2.URL()),
		vr("fraud/3", 0, v3.URL()), // pinned only
	))

	const n = 10000
	counts := map[string]int{}
	for range n {
		rec := serveDirect(g, http.MethodPost, "/v2/models/fraud/infer", inferBody)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		counts[rec.Header().Get(gateway.HeaderServedVersion)]++
	}
	// Binomial(10000, 0.1): sd = 30, so ±150 is 5 sd.
	if c := counts["fraud/2"]; c < 850 || c > 1150 {
		t.Errorf("fraud/2 served %d of %d, want 1000±150 (%s)", c, n, fmtCounts(counts))
	}
	if counts["fraud/1"]+counts["fraud/2"] != n || counts["fraud/3"] != 0 {
		t.Errorf("served %s; a weight-0 version must get no unpinned traffic", fmtCounts(counts))
	}
	if got := v2.hits.Load(); int(got) != counts["fraud/2"] {
		t.Errorf("replica v2 saw %d requests, header says %d", got, counts["fraud/2"])
	}
	for id, want := range counts {
		if st := g.Stats("fraud", id); st.Requests != uint64(want) || st.Errors != 0 {
			t.Errorf("Stats(%s) = %d requests %d errors, want %d, 0", id, st.Requests, st.Errors, want)
		}
	}
}

func TestStickyRoutingKey(t *testing.T) {
	a, b := newReplica(t, "a", nil), newReplica(t, "b", nil)
	g := gateway.New(gateway.Config{})
	t.Cleanup(g.Close)
	g.SetRoute(route("ep", vr("m/a", 50, a.URL()), vr("m/b", 50, b.URL())))

	const keys = 300
	first := make(map[string]string, keys)
	onB := 0
	for k := range keys {
		key := fmt.Sprintf("user-%d", k)
		for i := range 3 {
			rec := serveDirect(g, http.MethodPost, "/v2/models/ep/infer", inferBody, gateway.HeaderRoutingKey, key)
			got := rec.Header().Get(gateway.HeaderServedVersion)
			if i == 0 {
				first[key] = got
				if got == "m/b" {
					onB++
				}
			} else if got != first[key] {
				t.Fatalf("key %s went to %s, then %s", key, first[key], got)
			}
		}
	}
	if onB < keys*3/10 || onB > keys*7/10 {
		t.Errorf("%d of %d keys on m/b at 50/50", onB, keys)
	}

	// Moving weight towards b moves keys from a to b only, never back.
	g.SetRoute(route("ep", vr("m/a", 20, a.URL()), vr("m/b", 80, b.URL())))
	moved := 0
	for key, was := range first {
		rec := serveDirect(g, http.MethodPost, "/v2/models/ep/infer", inferBody, gateway.HeaderRoutingKey, key)
		now := rec.Header().Get(gateway.HeaderServedVersion)
		if was == "m/b" && now != "m/b" {
			t.Fatalf("key %s moved from m/b back to %s when m/b's weight grew", key, now)
		}
		if was != now {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no key moved to m/b when its weight went from 50 to 80")
	}
}

func TestPinnedVersion(t *testing.T) {
	r1, r2 := newReplica(t, "r1", nil), newReplica(t, "r2", nil)
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("model/1", 100, r1.URL()), vr("model/2", 0, r2.URL())))

	for range 20 {
		if got := h.infer(t, "ep").served(); got != "model/1" {
			t.Fatalf("unpinned request served by %q, want model/1", got)
		}
	}
	cases := []struct {
		name, path string
		hdr        []string
	}{
		{"header version part", "/v2/models/ep/infer", []string{gateway.HeaderVersion, "2"}},
		{"header full ID", "/v2/models/ep/infer", []string{gateway.HeaderVersion, "model/2"}},
		{"path version part", "/v2/models/ep/versions/2/infer", nil},
		{"path escaped full ID", "/v2/models/ep/versions/model%2F2/infer", nil},
		{"path beats header", "/v2/models/ep/versions/2/infer", []string{gateway.HeaderVersion, "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := r2.hits.Load()
			a := h.do(t, http.MethodPost, tc.path, inferBody, tc.hdr...)
			if a.status != http.StatusOK || a.served() != "model/2" {
				t.Fatalf("got %d served by %q, want 200 from model/2 (%s)", a.status, a.served(), a.body)
			}
			if r2.hits.Load() != before+1 {
				t.Fatal("the pinned version's replica did not get the request")
			}
			last := r2.requests()[len(r2.requests())-1]
			if last.path != "/v2/models/ep/infer" || last.body != inferBody {
				t.Errorf("replica saw %s with body %q; want /v2/models/ep/infer and the original body", last.path, last.body)
			}
		})
	}
	if a := h.do(t, http.MethodGet, "/v2/models/ep/versions/2/ready", ""); a.status != http.StatusOK {
		t.Errorf("pinned ready = %d, want 200", a.status)
	}
	if a := h.do(t, http.MethodGet, "/v2/models/ep/versions/2", ""); a.status != http.StatusOK || a.served() != "model/2" || !strings.Contains(a.body, `"r2"`) {
		t.Errorf("pinned metadata = %d from %q: %s", a.status, a.served(), a.body)
	}
	if st := h.g.Stats("ep", "model/2"); st.Requests != uint64(len(cases)) {
		t.Errorf("Stats(model/2).Requests = %d, want %d (metadata is not counted)", st.Requests, len(cases))
	}
}

func TestNotFound(t *testing.T) {
	r := newReplica(t, "r", nil)
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))

	expectError(t, h.infer(t, "nope"), http.StatusNotFound, `"nope"`)
	expectError(t, h.do(t, http.MethodGet, "/v2/models/nope/ready", ""), http.StatusNotFound, `"nope"`)
	expectError(t, h.do(t, http.MethodPost, "/v2/models/ep/versions/9/infer", inferBody), http.StatusNotFound, `"9"`)
	expectError(t, h.do(t, http.MethodGet, "/v2/models/ep/versions/9/ready", ""), http.StatusNotFound, `"9"`)
	expectError(t, h.infer(t, "ep", gateway.HeaderVersion, "m/9"), http.StatusNotFound, `"m/9"`)
	expectError(t, h.do(t, http.MethodGet, "/v2/models/ep/bogus", ""), http.StatusNotFound, "no such")
	expectError(t, h.do(t, http.MethodGet, "/v1/models", ""), http.StatusNotFound, "no such")
	if r.hits.Load() != 0 {
		t.Errorf("a 404 reached the replica %d times", r.hits.Load())
	}

	h.g.DeleteRoute("ep")
	expectError(t, h.infer(t, "ep"), http.StatusNotFound, `"ep"`)
}

func TestNoReadyReplica(t *testing.T) {
	r := newReplica(t, "r", nil)
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100)))

	expectError(t, h.infer(t, "ep"), http.StatusServiceUnavailable, "no ready replica")
	expectError(t, h.do(t, http.MethodGet, "/v2/models/ep/ready", ""), http.StatusServiceUnavailable, "no ready replica")
	expectError(t, h.do(t, http.MethodGet, "/v2/models/ep/versions/1/ready", ""), http.StatusServiceUnavailable, "no ready replica")
	expectError(t, h.do(t, http.MethodGet, "/v2/models/ep", ""), http.StatusServiceUnavailable, "no ready replica")
	expectError(t, h.infer(t, "ep", gateway.HeaderVersion, "1"), http.StatusServiceUnavailable, "no ready replica")

	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	if a := h.do(t, http.MethodGet, "/v2/models/ep/ready", ""); a.status != http.StatusOK {
		t.Errorf("ready with a replica = %d, want 200", a.status)
	}

	// A weighted version without replicas hands its share to the others.
	h.g.SetRoute(route("ep", vr("m/1", 50, r.URL()), vr("m/2", 50)))
	for range 50 {
		if a := h.infer(t, "ep"); a.status != http.StatusOK || a.served() != "m/1" {
			t.Fatalf("got %d from %q, want 200 from m/1", a.status, a.served())
		}
	}
}

func TestBackendDown(t *testing.T) {
	live := newReplica(t, "live", nil)
	dead := deadURL(t)

	t.Run("retry on another replica of the version", func(t *testing.T) {
		h := newHarness(t, gateway.Config{})
		h.g.SetRoute(route("ep", vr("m/1", 100, dead, live.URL())))
		for range 100 {
			if a := h.infer(t, "ep"); a.status != http.StatusOK {
				t.Fatalf("status %d (%s), want 200 after retrying on the live replica", a.status, a.body)
			}
		}
		if st := h.g.Stats("ep", "m/1"); st.Requests != 100 || st.Errors != 0 {
			t.Errorf("Stats = %+v, want 100 requests and no errors", st)
		}
		if n := h.g.BackendInFlight(dead); n != 0 {
			t.Errorf("BackendInFlight(dead) = %d after the requests", n)
		}
	})
	t.Run("retry on another version", func(t *testing.T) {
		h := newHarness(t, gateway.Config{})
		h.g.SetRoute(route("ep", vr("m/1", 50, dead), vr("m/2", 50, live.URL())))
		for range 50 {
			if a := h.infer(t, "ep"); a.status != http.StatusOK || a.served() != "m/2" {
				t.Fatalf("got %d from %q, want 200 from m/2", a.status, a.served())
			}
		}
	})
	t.Run("no replica reachable", func(t *testing.T) {
		h := newHarness(t, gateway.Config{})
		h.g.SetRoute(route("ep", vr("m/1", 100, dead)))
		a := h.infer(t, "ep")
		expectError(t, a, http.StatusBadGateway, "could be reached")
		if a.served() != "m/1" {
			t.Errorf("%s = %q on a 502, want m/1", gateway.HeaderServedVersion, a.served())
		}
		if st := h.g.Stats("ep", "m/1"); st.Requests != 1 || st.Errors != 1 {
			t.Errorf("Stats = %d requests %d errors, want 1, 1", st.Requests, st.Errors)
		}
	})
	t.Run("pinned request does not change version", func(t *testing.T) {
		h := newHarness(t, gateway.Config{})
		h.g.SetRoute(route("ep", vr("m/1", 50, dead), vr("m/2", 50, live.URL())))
		expectError(t, h.infer(t, "ep", gateway.HeaderVersion, "1"), http.StatusBadGateway, "m/1")
	})
}

func TestTimeout(t *testing.T) {
	slow := newReplica(t, "slow", func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return true
	})
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(gateway.Route{Endpoint: "ep", Versions: []gateway.VersionRoute{vr("m/1", 100, slow.URL())}, RequestTimeout: 100 * time.Millisecond})
	start := time.Now()
	expectError(t, h.infer(t, "ep"), http.StatusGatewayTimeout, "did not answer within 100ms")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the 504 took %s", d)
	}
	if st := h.g.Stats("ep", "m/1"); st.Errors != 1 {
		t.Errorf("Stats.Errors = %d, want 1", st.Errors)
	}
}

func TestBodyLimit(t *testing.T) {
	r := newReplica(t, "r", nil)
	h := newHarness(t, gateway.Config{MaxBodyBytes: 1024})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))

	big := `{"id":"` + strings.Repeat("x", 2000) + `"}`
	expectError(t, h.do(t, http.MethodPost, "/v2/models/ep/infer", big), http.StatusRequestEntityTooLarge, "1024 bytes")

	// Without Content-Length (chunked) the limit still holds.
	req, _ := http.NewRequest(http.MethodPost, h.front.URL+"/v2/models/ep/infer", io.MultiReader(strings.NewReader(big)))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body: status %d, want 413", resp.StatusCode)
	}
	// A chunked body under the limit is buffered and sent with its length.
	req, _ = http.NewRequest(http.MethodPost, h.front.URL+"/v2/models/ep/infer", io.MultiReader(strings.NewReader(inferBody)))
	resp, err = h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chunked small body: status %d", resp.StatusCode)
	}
	if got := r.requests(); len(got) != 1 || got[0].body != inferBody || got[0].header.Get("Content-Length") != fmt.Sprint(len(inferBody)) {
		t.Errorf("replica saw %+v, want exactly the small body with its Content-Length", got)
	}
}

// TestRouteSwapUnderLoad switches an endpoint to a new version several
// times while clients keep sending, and stops the old replica right after
// each switch: no request may fail.
func TestRouteSwapUnderLoad(t *testing.T) {
	h := newHarness(t, gateway.Config{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const clients, total, swaps = 8, 3000, 4
	reps := make([]*replica, swaps+1)
	for i := range reps {
		reps[i] = newReplica(t, fmt.Sprint("r", i), nil)
	}
	h.g.SetRoute(route("ep", vr("m/0", 100, reps[0].URL())))

	var sent, failed atomic.Int64
	var firstErr atomic.Value
	served := make([]atomic.Int64, swaps+1)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for sent.Add(1) <= total {
				a, err := h.try(http.MethodPost, "/v2/models/ep/infer", inferBody)
				if err != nil || a.status != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("err=%v status=%d body=%s", err, a.status, a.body))
					continue
				}
				var i int
				if _, err := fmt.Sscanf(a.served(), "m/%d", &i); err != nil {
					t.Errorf("served version %q: %v", a.served(), err)
				}
				served[i].Add(1)
			}
		})
	}
	for i := 1; i <= swaps; i++ {
		for sent.Load() < int64(i*total/(swaps+1)) {
			time.Sleep(time.Millisecond)
		}
		h.g.SetRoute(route("ep", vr(fmt.Sprint("m/", i), 100, reps[i].URL())))
		reps[i-1].srv.Close() // waits for requests it is serving
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across %d switches; first: %v", n, total, swaps, firstErr.Load())
	}
	for i := range served {
		if served[i].Load() == 0 {
			t.Errorf("version m/%d served nothing; the switches did not happen under load", i)
		}
	}
}

func TestShadowDoesNotChangePrimary(t *testing.T) {
	primary := newReplica(t, "primary", nil)
	shadow := newReplica(t, "shadow", func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, `{"outputs":"different"}`)
		return true
	})
	h := newHarness(t, gateway.Config{})
	plain := route("ep", vr("m/1", 100, primary.URL()))
	h.g.SetRoute(plain)
	want := h.infer(t, "ep")

	shadowed := plain
	shadowed.Shadow = &gateway.ShadowRoute{Version: "m/2", Percent: 100, Backends: []string{shadow.URL()}}
	h.g.SetRoute(shadowed)
	const n = 30
	for range n {
		got := h.infer(t, "ep")
		if got.status != want.status || got.body != want.body || got.served() != "m/1" ||
			got.header.Get("Content-Type") != want.header.Get("Content-Type") || got.header.Get("X-Replica") != "primary" {
			t.Fatalf("shadowed answer %d %q %v differs from unshadowed %d %q %v", got.status, got.body, got.header, want.status, want.body, want.header)
		}
	}
	// Pinned traffic is not mirrored.
	h.infer(t, "ep", gateway.HeaderVersion, "1")

	eventually(t, "shadow copies", func() bool { return shadow.hits.Load() == n })
	for _, s := range shadow.requests() {
		if s.body != inferBody || s.path != "/v2/models/ep/infer" || s.header.Get(gateway.HeaderShadow) == "" {
			t.Fatalf("shadow replica saw %s %q (shadow header %q)", s.path, s.body, s.header.Get(gateway.HeaderShadow))
		}
	}
	eventually(t, "shadow stats", func() bool { return h.g.Stats("ep", "m/2").Requests == n })
	if st := h.g.Stats("ep", "m/1"); st.Requests != n+2 {
		t.Errorf("primary Stats.Requests = %d, want %d", st.Requests, n+2)
	}
}

func TestShadowNeverFailsOrSlowsPrimary(t *testing.T) {
	primary := newReplica(t, "primary", nil)
	release := make(chan struct{})
	slow := newReplica(t, "slow", func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-time.After(500 * time.Millisecond):
		}
		w.WriteHeader(http.StatusInternalServerError)
		return true
	})
	t.Cleanup(func() { close(release) })
	dead := deadURL(t)

	for _, tc := range []struct{ name, backend string }{{"slow failing", slow.URL()}, {"unreachable", dead}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, gateway.Config{ShadowQueue: 8, ShadowWorkers: 2})
			measure := func() time.Duration {
				var worst time.Duration
				for range 20 {
					start := time.Now()
					if a := h.infer(t, "ep"); a.status != http.StatusOK || a.served() != "m/1" {
						t.Fatalf("primary got %d from %q: %s", a.status, a.served(), a.body)
					}
					worst = max(worst, time.Since(start))
				}
				return worst
			}
			h.g.SetRoute(route("ep", vr("m/1", 100, primary.URL())))
			base := measure()
			h.g.SetRoute(gateway.Route{
				Endpoint: "ep", Versions: []gateway.VersionRoute{vr("m/1", 100, primary.URL())},
				Shadow: &gateway.ShadowRoute{Version: "m/2", Percent: 100, Backends: []string{tc.backend}},
			})
			with := measure()
			// The slow shadow takes 500 ms per copy; a primary that waited
			// for even one would blow this bound.
			if with > base+200*time.Millisecond {
				t.Errorf("worst primary latency %s with shadowing vs %s without", with, base)
			}
			eventually(t, "shadow errors recorded", func() bool { return h.g.Stats("ep", "m/2").Errors > 0 })
			if st := h.g.Stats("ep", "m/1"); st.Errors != 0 {
				t.Errorf("primary errors = %d", st.Errors)
			}
		})
	}
}

func TestShadowQueueFullDrops(t *testing.T) {
	primary := newReplica(t, "primary", nil)
	block := make(chan struct{})
	stuck := newReplica(t, "stuck", func(w http.ResponseWriter, r *http.Request) bool {
		<-block
		return false
	})
	h := newHarness(t, gateway.Config{ShadowQueue: 2, ShadowWorkers: 1})
	t.Cleanup(func() { close(block) }) // runs before the servers close
	h.g.SetRoute(gateway.Route{
		Endpoint: "ep", Versions: []gateway.VersionRoute{vr("m/1", 100, primary.URL())},
		Shadow: &gateway.ShadowRoute{Version: "m/2", Percent: 100, Backends: []string{stuck.URL()}},
	})
	const n = 20
	for range n {
		if a := h.infer(t, "ep"); a.status != http.StatusOK {
			t.Fatalf("primary status %d with a full shadow queue", a.status)
		}
	}
	// One copy in the worker, two in the queue: the rest are dropped.
	if d := h.g.ShadowDropped("ep"); d < n-3 || d > n-2 {
		t.Errorf("ShadowDropped = %d, want %d or %d", d, n-3, n-2)
	}
}

func TestAuthToken(t *testing.T) {
	r := newReplica(t, "r", nil)
	h := newHarness(t, gateway.Config{Token: "s3cret"})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))

	a := h.infer(t, "ep")
	expectError(t, a, http.StatusUnauthorized, "bearer token")
	if a.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	expectError(t, h.infer(t, "ep", "Authorization", "Bearer wrong!"), http.StatusUnauthorized, "bearer token")
	expectError(t, h.infer(t, "ep", "Authorization", "Bearer s3cre"), http.StatusUnauthorized, "bearer token")
	expectError(t, h.do(t, http.MethodGet, "/v2/models/ep/ready", ""), http.StatusUnauthorized, "bearer token")
	if r.hits.Load() != 0 {
		t.Fatal("an unauthorized request reached the replica")
	}
	for _, tok := range []string{"Bearer s3cret", "bearer s3cret"} {
		if a := h.infer(t, "ep", "Authorization", tok); a.status != http.StatusOK {
			t.Errorf("Authorization %q: status %d", tok, a.status)
		}
	}
	for _, p := range []string{"/v2/health/live", "/v2/health/ready"} {
		if a := h.do(t, http.MethodGet, p, ""); a.status != http.StatusOK {
			t.Errorf("%s without a token: %d, want 200", p, a.status)
		}
	}
	if got := r.requests()[0].header.Get("Authorization"); got != "" {
		t.Errorf("the gateway token leaked to the replica: %q", got)
	}
}

func TestMetadataAndHeaders(t *testing.T) {
	r1, r2 := newReplica(t, "r1", nil), newReplica(t, "r2", nil)
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 30, r2.URL()), vr("m/2", 70, r1.URL())))

	for range 10 {
		a := h.do(t, http.MethodGet, "/v2/models/ep", "")
		if a.status != http.StatusOK || a.served() != "m/2" || !strings.Contains(a.body, `"name":"ep"`) {
			t.Fatalf("metadata: %d from %q: %s; want the highest-weight version m/2", a.status, a.served(), a.body)
		}
	}
	a := h.do(t, http.MethodPost, "/v2/models/ep/infer?trace=1", inferBody,
		"Cookie", "session=1", gateway.HeaderRoutingKey, "k", "Traceparent", "00-abc-def-01", "Inference-Header-Content-Length", "88")
	if a.status != http.StatusOK || a.header.Get("X-Replica") == "" {
		t.Fatalf("infer: %d, replica header %q", a.status, a.header.Get("X-Replica"))
	}
	rp := r1
	if a.served() == "m/1" {
		rp = r2
	}
	reqs := rp.requests()
	got := reqs[len(reqs)-1]
	if got.method != http.MethodPost || got.path != "/v2/models/ep/infer" || got.query != "trace=1" {
		t.Errorf("replica saw %s %s?%s", got.method, got.path, got.query)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "Traceparent": "00-abc-def-01", "Inference-Header-Content-Length": "88",
		"Cookie": "", gateway.HeaderRoutingKey: "",
	} {
		if v := got.header.Get(k); v != want {
			t.Errorf("replica header %s = %q, want %q", k, v, want)
		}
	}
}

func TestHealthAndMethods(t *testing.T) {
	r := newReplica(t, "r", nil)
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/ep/ready"} {
		if a := h.do(t, http.MethodGet, p, ""); a.status != http.StatusOK {
			t.Errorf("GET %s = %d", p, a.status)
		}
	}
	a := h.do(t, http.MethodGet, "/v2/models/ep/infer", "")
	expectError(t, a, http.StatusMethodNotAllowed, "POST")
	if a.header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", a.header.Get("Allow"))
	}
	expectError(t, h.do(t, http.MethodPost, "/v2/health/live", "x"), http.StatusMethodNotAllowed, "GET")
}

func TestInFlight(t *testing.T) {
	release := make(chan struct{})
	r := newReplica(t, "r", func(w http.ResponseWriter, r *http.Request) bool {
		<-release
		return false
	})
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { h.infer(t, "ep") })
	}
	eventually(t, "3 in flight", func() bool {
		return h.g.InFlight("ep", "m/1") == 3 && h.g.BackendInFlight(r.URL()) == 3
	})
	// Draining: the replica leaves the route, its requests still count.
	h.g.SetRoute(route("ep", vr("m/1", 100)))
	if n := h.g.BackendInFlight(r.URL()); n != 3 {
		t.Errorf("BackendInFlight after removal = %d, want 3", n)
	}
	close(release)
	wg.Wait()
	if a, b := h.g.InFlight("ep", "m/1"), h.g.BackendInFlight(r.URL()); a != 0 || b != 0 {
		t.Errorf("after completion InFlight = %d, BackendInFlight = %d", a, b)
	}
}

func TestLatencyStats(t *testing.T) {
	r := newReplica(t, "r", func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(20 * time.Millisecond)
		return false
	})
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	h.infer(t, "ep")
	before := h.g.Stats("ep", "m/1")
	for range 10 {
		h.infer(t, "ep")
	}
	win := h.g.Stats("ep", "m/1").Sub(before)
	if win.Requests != 10 || win.Errors != 0 {
		t.Fatalf("window = %d requests, %d errors", win.Requests, win.Errors)
	}
	if p50 := win.Quantile(0.5); p50 < 20*time.Millisecond || p50 > 60*time.Millisecond {
		t.Errorf("p50 = %s for a 20 ms replica", p50)
	}
	if m := win.Mean(); m < 20*time.Millisecond {
		t.Errorf("mean = %s for a 20 ms replica", m)
	}
}

func TestStatsArithmetic(t *testing.T) {
	bounds := gateway.LatencyBounds()
	if len(bounds) != gateway.NumBuckets-1 {
		t.Fatalf("%d bounds for %d buckets", len(bounds), gateway.NumBuckets)
	}
	idx := func(d time.Duration) int {
		for i, b := range bounds {
			if b == d {
				return i
			}
		}
		t.Fatalf("%s is not a bound", d)
		return -1
	}
	var s gateway.Stats
	// 90 requests in (7.5ms, 10ms], 10 in (200ms, 250ms].
	s.Buckets[idx(10*time.Millisecond)] = 90
	s.Buckets[idx(250*time.Millisecond)] = 10
	s.Requests, s.Errors = 100, 5
	if q := s.Quantile(0.5); q <= 7500*time.Microsecond || q > 10*time.Millisecond {
		t.Errorf("p50 = %s, want in (7.5ms, 10ms]", q)
	}
	if q := s.Quantile(0.99); q <= 200*time.Millisecond || q > 250*time.Millisecond {
		t.Errorf("p99 = %s, want in (200ms, 250ms]", q)
	}
	if s.ErrorRate() != 0.05 {
		t.Errorf("ErrorRate = %v", s.ErrorRate())
	}
	d := s.Sub(s)
	if d.Requests != 0 || d.Quantile(0.99) != 0 || d.ErrorRate() != 0 {
		t.Errorf("s.Sub(s) = %+v, want empty", d)
	}
	var slow gateway.Stats
	slow.Buckets[gateway.NumBuckets-1] = 1
	if q := slow.Quantile(0.5); q != bounds[len(bounds)-1] {
		t.Errorf("quantile in the open bucket = %s, want the last bound", q)
	}
}

func TestStreamedAnswerIsPassedOn(t *testing.T) {
	more := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(more) }) }
	r := newReplica(t, "r", func(w http.ResponseWriter, r *http.Request) bool {
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush() // no Content-Length: chunked
		<-more
		fmt.Fprint(w, "second\n")
		return true
	})
	h := newHarness(t, gateway.Config{})
	t.Cleanup(finish) // before the servers close, whatever happens
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))

	first, rest := make(chan string, 1), make(chan string, 1)
	go func() {
		resp, err := h.client.Post(h.front.URL+"/v2/models/ep/infer", "application/json", strings.NewReader(inferBody))
		if err != nil {
			first <- err.Error()
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 6)
		_, _ = io.ReadFull(resp.Body, buf)
		first <- string(buf)
		b, _ := io.ReadAll(resp.Body)
		rest <- string(b)
	}()
	select {
	case got := <-first:
		if got != "first\n" {
			t.Fatalf("first piece = %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first piece of a streamed answer was held back until the replica finished")
	}
	finish()
	if got := <-rest; got != "second\n" {
		t.Errorf("rest = %q", got)
	}
}

func TestClientGoneIsNotAnError(t *testing.T) {
	r := newReplica(t, "r", func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	})
	h := newHarness(t, gateway.Config{})
	h.g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	h.client.Timeout = 100 * time.Millisecond
	if _, err := h.try(http.MethodPost, "/v2/models/ep/infer", inferBody); err == nil {
		t.Fatal("expected the client to time out")
	}
	eventually(t, "the abandoned request to be counted", func() bool { return h.g.Stats("ep", "m/1").Requests == 1 })
	if st := h.g.Stats("ep", "m/1"); st.Errors != 0 {
		t.Errorf("a client giving up counted as %d version errors", st.Errors)
	}
}

// panicky is a ResponseWriter whose first Header call panics, standing in
// for a bug anywhere on the request path.
type panicky struct {
	*httptest.ResponseRecorder
	armed bool
}

func (p *panicky) Header() http.Header {
	if p.armed {
		p.armed = false
		panic("boom")
	}
	return p.ResponseRecorder.Header()
}

func TestPanicBecomes500(t *testing.T) {
	r := newReplica(t, "r", nil)
	g := gateway.New(gateway.Config{})
	t.Cleanup(g.Close)
	g.SetRoute(route("ep", vr("m/1", 100, r.URL())))
	w := &panicky{ResponseRecorder: httptest.NewRecorder(), armed: true}
	req := httptest.NewRequest(http.MethodPost, "/v2/models/ep/infer", strings.NewReader(inferBody))
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the handler panicked: %v", p)
			}
		}()
		g.Handler().ServeHTTP(w, req)
	}()
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("after a panic: %d %q, want a 500 OIP error", w.Code, w.Body.String())
	}
	if a, b := g.InFlight("ep", "m/1"), g.BackendInFlight(r.URL()); a != 0 || b != 0 {
		t.Errorf("after a panic InFlight = %d, BackendInFlight = %d; want 0", a, b)
	}
	// The gateway keeps serving.
	if rec := serveDirect(g, http.MethodPost, "/v2/models/ep/infer", inferBody); rec.Code != http.StatusOK {
		t.Errorf("next request: %d", rec.Code)
	}
}
