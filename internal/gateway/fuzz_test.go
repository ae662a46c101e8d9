package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// FuzzGatewayRequest sends arbitrary methods, paths, pins, routing keys and
// bodies through a gateway whose endpoint "ep" has two live versions and a
// shadow. Whatever the request, the gateway answers: it never panics, never
// answers 5xx (both replicas are up, so any 5xx would be the gateway's own
// fault), and every 4xx is an Open Inference Protocol error object. A 200
// comes from a version of the route and says which in its header.
func FuzzGatewayRequest(f *testing.F) {
	r1, r2 := newReplica(f, "m/1", nil), newReplica(f, "m/2", nil)
	g := gateway.New(gateway.Config{Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 4 << 10})
	f.Cleanup(g.Close)
	g.SetRoute(gateway.Route{Endpoint: "ep", Versions: []gateway.VersionRoute{vr("m/1", 90, r1.URL()), vr("m/2", 10, r2.URL())},
		Shadow: &gateway.ShadowRoute{Version: "m/2", Percent: 50, Backends: []string{r2.URL()}}})

	methods := []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodHead, http.MethodOptions, "PROPFIND"}
	f.Add(byte(0), "/v2/models/ep/infer", inferBody, "", "")
	f.Add(byte(0), "/v2/models/ep/versions/2/infer", inferBody, "", "user-1")
	f.Add(byte(0), "/v2/models/ep/versions/m%2F1/infer", inferBody, "", "")
	f.Add(byte(0), "/v2/models/ep/infer", `{"inputs":[]}`, "m/2", "")
	f.Add(byte(1), "/v2/models/ep", "", "m/9", "")
	f.Add(byte(1), "/v2/models/ep/ready", "", "", "")
	f.Add(byte(1), "/v2/health/ready", "", "", "")
	f.Add(byte(2), "/v2/models/ep/infer", "{", "", "")
	f.Add(byte(0), "/v2/models/%zz/infer", "", "", "")
	f.Add(byte(0), "/v2/models//versions//infer", "", "", "")
	f.Add(byte(5), "/v2/models/nope/infer", inferBody, "", "")
	f.Fuzz(func(t *testing.T, method byte, path, body, pin, key string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method = methods[int(method)%len(methods)]
		req.URL.Path, req.URL.RawPath = path, ""
		req.Body = httpBody(body)
		req.ContentLength = int64(len(body))
		if pin != "" && validHeader(pin) {
			req.Header.Set(gateway.HeaderVersion, pin)
		}
		if key != "" && validHeader(key) {
			req.Header.Set(gateway.HeaderRoutingKey, key)
		}
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q pin %q body %q: status %d %s", req.Method, path, pin, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && req.Method != http.MethodHead {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %q: status %d without an OIP error object: %q", req.Method, path, rec.Code, rec.Body)
			}
		}
		if rec.Code == http.StatusOK && req.Method == http.MethodPost {
			if v := rec.Header().Get(gateway.HeaderServedVersion); v != "m/1" && v != "m/2" {
				t.Fatalf("POST %q: 200 served by %q, not a version of the route", path, v)
			}
		}
	})
}

func httpBody(s string) *nopCloser { return &nopCloser{bytes.NewBufferString(s)} }

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// validHeader is what net/http lets a client send as a header value.
func validHeader(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
