package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
)

// action is what a /v2/models/... path asks for.
type action uint8

const (
	actMetadata action = iota
	actReady
	actInfer
)

// call is the per-request state, pooled to keep the hot path free of
// avoidable allocations.
type call struct {
	g     *Gateway
	w     http.ResponseWriter
	r     *http.Request
	wrote bool // the response header went out; an error can no longer be sent
}

var callPool = sync.Pool{New: func() any { return new(call) }}

// ServeHTTP serves the OIP v2 REST API.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := callPool.Get().(*call)
	c.g, c.w, c.r, c.wrote = g, w, r, false
	defer c.done()
	c.serve()
}

// done recovers a panic into a 500 (or an aborted connection when the
// answer had begun) and returns c to the pool.
func (c *call) done() {
	if p := recover(); p != nil {
		if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(p)
		}
		c.g.log.Error("gateway: panic serving request", "panic", p, "path", c.r.URL.Path, "stack", string(debug.Stack()))
		if c.wrote {
			panic(http.ErrAbortHandler)
		}
		writeError(c.w, http.StatusInternalServerError, "internal error in the inference gateway")
		return
	}
	*c = call{}
	callPool.Put(c)
}

func (c *call) serve() {
	r := c.r
	path := r.URL.Path
	switch path {
	case "/v2/health/live", "/v2/health/ready":
		// The gateway is live and ready whenever it runs: per-model
		// readiness is /v2/models/{endpoint}/ready, and one endpoint
		// without replicas must not take the whole gateway out of a
		// load balancer.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.methodNotAllowed("GET, HEAD")
			return
		}
		c.w.WriteHeader(http.StatusOK)
		return
	}
	const models = "/v2/models/"
	if !strings.HasPrefix(path, models) {
		writeError(c.w, http.StatusNotFound, fmt.Sprintf("no such Open Inference Protocol path %q", path))
		return
	}
	if !c.authorized() {
		c.w.Header()["Www-Authenticate"] = bearerChallenge
		writeError(c.w, http.StatusUnauthorized, "missing or invalid bearer token; send Authorization: Bearer <token>")
		return
	}
	escaped := r.URL.RawPath != ""
	if escaped {
		// An escaped "/" (a full version ID) must not split segments.
		path = r.URL.EscapedPath()
	}
	endpoint, pin, act, ok := parseModelPath(path[len(models):], escaped)
	if !ok {
		writeError(c.w, http.StatusNotFound, fmt.Sprintf("no such Open Inference Protocol path %q", r.URL.Path))
		return
	}
	rt := c.g.table.Load().routes[endpoint]
	if rt == nil {
		writeError(c.w, http.StatusNotFound, fmt.Sprintf("model endpoint %q not found", endpoint))
		return
	}
	if pin == "" {
		if h := r.Header[HeaderVersion]; len(h) > 0 {
			pin = h[0]
		}
	}
	var v *version
	if pin != "" {
		if v = rt.byName[pin]; v == nil {
			writeError(c.w, http.StatusNotFound, fmt.Sprintf("model endpoint %q does not serve version %q", endpoint, pin))
			return
		}
	}

	switch act {
	case actInfer:
		if r.Method != http.MethodPost {
			c.methodNotAllowed("POST")
			return
		}
		c.infer(rt, v)
	case actReady:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.methodNotAllowed("GET, HEAD")
			return
		}
		switch {
		case v != nil && len(v.backends) == 0:
			writeError(c.w, http.StatusServiceUnavailable, fmt.Sprintf("version %q of model endpoint %q has no ready replica", v.id, endpoint))
		case v == nil && rt.total == 0:
			writeError(c.w, http.StatusServiceUnavailable, fmt.Sprintf("model endpoint %q has no ready replica taking traffic", endpoint))
		default:
			c.w.WriteHeader(http.StatusOK)
		}
	case actMetadata:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.methodNotAllowed("GET, HEAD")
			return
		}
		pinned := v != nil
		if v == nil {
			v = rt.meta
		}
		if v == nil {
			writeError(c.w, http.StatusServiceUnavailable, fmt.Sprintf("model endpoint %q has no ready replica taking traffic", endpoint))
			return
		}
		c.forward(rt, v, pinned, rt.metaPath, nil, false)
	}
}

// infer serves an inference request; v is the pinned version or nil.
func (c *call) infer(rt *route, v *version) {
	body, status, err := c.g.readBody(c.r)
	if err != nil {
		if status == http.StatusRequestEntityTooLarge {
			writeError(c.w, status, fmt.Sprintf("request body is larger than the gateway's limit of %d bytes", c.g.maxBody))
		} else {
			writeError(c.w, status, "could not read the request body")
		}
		return
	}
	defer body.release()

	pinned := v != nil
	if !pinned {
		if k := c.r.Header[HeaderRoutingKey]; len(k) > 0 && k[0] != "" {
			v = rt.stickyVersion(k[0])
		} else {
			v = rt.randomVersion()
		}
		if v == nil {
			writeError(c.w, http.StatusServiceUnavailable, fmt.Sprintf("model endpoint %q has no ready replica taking traffic", rt.endpoint))
			return
		}
		// Only live (unpinned) traffic is mirrored: smoke tests and
		// feature-flag requests are not a sample of production.
		if rt.shadow != nil && rt.shadow != v && rand.IntN(100) < rt.shadowPct {
			c.g.enqueueShadow(rt, body, c.r)
		}
	}
	c.forward(rt, v, pinned, rt.inferPath, body, true)
}

func (c *call) methodNotAllowed(allow string) {
	c.w.Header().Set("Allow", allow)
	writeError(c.w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use %s", c.r.Method, allow))
}

// authorized checks the bearer token in constant time.
func (c *call) authorized() bool {
	want := c.g.auth
	if want == "" {
		return true
	}
	h := c.r.Header["Authorization"]
	if len(h) != 1 {
		return false
	}
	got := h[0]
	const scheme = "Bearer "
	if len(got) != len(want) || !strings.EqualFold(got[:len(scheme)], scheme) {
		return false
	}
	var diff byte
	for i := len(scheme); i < len(got); i++ {
		diff |= got[i] ^ want[i]
	}
	return diff == 0
}

// parseModelPath splits what follows "/v2/models/":
//
//	{endpoint}                          metadata
//	{endpoint}/ready                    readiness
//	{endpoint}/infer                    inference
//	{endpoint}/versions/{version}[/ready|/infer]
//
// {version} is the version part of the ID or the full ID, escaped ("m%2F7")
// or not ("m/7"). escaped says whether rest still needs unescaping.
func parseModelPath(rest string, escaped bool) (endpoint, version string, act action, ok bool) {
	endpoint, tail, _ := strings.Cut(rest, "/")
	if endpoint == "" {
		return "", "", 0, false
	}
	switch {
	case tail == "" && len(rest) == len(endpoint):
		act = actMetadata
	case tail == "ready":
		act = actReady
	case tail == "infer":
		act = actInfer
	case strings.HasPrefix(tail, "versions/"):
		version = tail[len("versions/"):]
		if v, ok := strings.CutSuffix(version, "/infer"); ok {
			version, act = v, actInfer
		} else if v, ok := strings.CutSuffix(version, "/ready"); ok {
			version, act = v, actReady
		}
		if version == "" {
			return "", "", 0, false
		}
	default:
		return "", "", 0, false
	}
	if escaped {
		var err1, err2 error
		endpoint, err1 = url.PathUnescape(endpoint)
		version, err2 = url.PathUnescape(version)
		if err1 != nil || err2 != nil {
			return "", "", 0, false
		}
	}
	return endpoint, version, act, true
}

var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
	bearerChallenge = []string{`Bearer realm="slipway"`}
)

// writeError writes an OIP error object, {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
