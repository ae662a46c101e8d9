package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxAttempts bounds how many replicas one request may try.
const maxAttempts = 4

// forwardHeaders are the request headers a model server may need. Anything
// else (the gateway's token, cookies, routing headers) stays here.
var forwardHeaders = [...]string{
	"Content-Type",
	"Content-Encoding",
	"Accept",
	"Accept-Encoding",
	"Inference-Header-Content-Length", // OIP binary tensor extension
	"Traceparent",
	"Tracestate",
	"X-Request-Id",
}

// forward proxies the request to version v of snapshot rt and writes the
// answer. A failure to reach a replica before it could have seen the
// request is retried, first on another replica of v, then (unless pinned)
// on the other versions of rt, then on the route as it is now: the replica
// may just have been switched away from and stopped. record says whether
// the request counts in v's Stats (inference does, metadata does not).
func (c *call) forward(rt *route, v *version, pinned bool, path string, body *reqBuf, record bool) {
	ctx := c.r.Context()
	if rt.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.timeout)
		defer cancel()
	}
	start := time.Now()
	var avoidBuf [maxAttempts]*backend
	avoid := avoidBuf[:0]
	replayed := false // an ambiguous failure was already retried
	be := v.pick(nil)
	for attempt := 1; ; attempt++ {
		if be == nil {
			c.fail(v, http.StatusServiceUnavailable, fmt.Sprintf("version %q of model endpoint %q has no ready replica", v.id, rt.endpoint), start, record)
			return
		}
		answered, err := c.try(ctx, v, be, path, body, start, record)
		if answered {
			return
		}
		// (A failed RoundTrip has waited for its writer, so body stays
		// reusable: no settle.)
		ok, ambiguous := retryable(err)
		if !ok || attempt == maxAttempts || ctx.Err() != nil || (ambiguous && replayed) {
			c.upstreamFailed(ctx, rt, v, err, start, record)
			return
		}
		replayed = replayed || ambiguous
		if record {
			v.stats.retries.Add(1)
		}
		avoid = append(avoid, be)
		var nv *version
		if nv, be = c.g.retryTarget(rt, v, pinned, avoid); nv != nil {
			v = nv
		} else {
			c.upstreamFailed(ctx, rt, v, err, start, record)
			return
		}
	}
}

// try makes one attempt on replica be of v. answered means the answer
// (whatever its status) went to the client; otherwise err says why not.
func (c *call) try(ctx context.Context, v *version, be *backend, path string, body *reqBuf, start time.Time, record bool) (answered bool, err error) {
	// Deferred so that even a panic on the way cannot leave a replica
	// looking busy to the autoscaler or to a drain.
	if record {
		v.stats.inflight.Add(1)
		defer v.stats.inflight.Add(-1)
	}
	be.inflight.Add(1)
	defer be.inflight.Add(-1)
	resp, err := c.g.roundTrip(ctx, be, path, c.r, body)
	if err != nil {
		return false, err
	}
	status, cerr := c.writeResponse(ctx, resp, v)
	if be.pool == nil {
		body.settle(cerr == nil)
	}
	if record {
		v.stats.record(status, time.Since(start))
	}
	if cerr != nil {
		// The status line is out; abort so the client sees a truncated
		// answer rather than a short "complete" one.
		panic(http.ErrAbortHandler)
	}
	return true, nil
}

// retryTarget finds another replica for a request whose replica refused it.
func (g *Gateway) retryTarget(rt *route, v *version, pinned bool, avoid []*backend) (*version, *backend) {
	if b := v.pick(avoid); b != nil {
		return v, b
	}
	if !pinned {
		for _, o := range rt.live {
			if b := o.pick(avoid); b != nil {
				return o, b
			}
		}
	}
	cur := g.table.Load().routes[rt.endpoint]
	if cur == nil || cur == rt {
		return nil, nil
	}
	if o := cur.byName[v.id]; o != nil {
		if b := o.pick(avoid); b != nil {
			return o, b
		}
	}
	if !pinned {
		for _, o := range cur.live {
			if b := o.pick(avoid); b != nil {
				return o, b
			}
		}
	}
	return nil, nil
}

// retryable classifies a failed attempt. RoundTrip only fails before the
// response header arrived, so the client has seen nothing either way.
//
// A failed dial never reached the replica: retry freely. A connection that
// broke before any answer (EOF, reset, broken pipe, closed, or net/http's
// "server closed idle connection") is what a pooled keep-alive connection
// does when the replica closes it just as our request goes out, which is
// exactly what happens to a replica stopped right after a switch. The
// replica may in principle have started on such a request, so it is
// retried only once: inference is a pure function of its input, and a
// single retry cannot carry a request that crashes replicas through the
// whole fleet.
func retryable(err error) (ok, ambiguous bool) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true, false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || // the Transport closed the conn on the replica's EOF mid-write
		err.Error() == "http: server closed idle connection" { // unexported errServerClosedIdle
		return true, true
	}
	return false, false
}

// upstreamFailed answers 504 when the route's timeout expired, 502 when no
// replica answered, and nothing when the client went away.
func (c *call) upstreamFailed(ctx context.Context, rt *route, v *version, err error, start time.Time, record bool) {
	if c.r.Context().Err() != nil {
		if record {
			v.stats.record(statusClientGone, time.Since(start))
		}
		return
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		c.fail(v, http.StatusGatewayTimeout, fmt.Sprintf("version %q of model endpoint %q did not answer within %s", v.id, rt.endpoint, rt.timeout), start, record)
		return
	}
	// Per-request failures are counted in metrics; logging each one
	// would flood the log exactly when a replica is down.
	c.g.log.Debug("gateway: replica unreachable", "endpoint", rt.endpoint, "version", v.id, "err", err)
	c.fail(v, http.StatusBadGateway, fmt.Sprintf("no replica of version %q of model endpoint %q could be reached", v.id, rt.endpoint), start, record)
}

func (c *call) fail(v *version, status int, msg string, start time.Time, record bool) {
	c.w.Header()[HeaderServedVersion] = v.servedHdr
	writeError(c.w, status, msg)
	if record {
		v.stats.record(status, time.Since(start))
	}
}

// roundTrip sends one attempt to be: over the replica's own connection
// pool for http:// (client.go), else through the Transport, used directly
// because an http.Client would add redirect and cookie handling a proxy
// must not do.
func (g *Gateway) roundTrip(ctx context.Context, be *backend, path string, src *http.Request, body *reqBuf) (*http.Response, error) {
	if be.pool != nil {
		rq := syncRequest{path: be.prefix + path, query: src.URL.RawQuery, hdr: src.Header, body: body}
		return roundTripSync(ctx, be.pool, &rq)
	}
	method := http.MethodGet
	if body != nil {
		method = http.MethodPost
	}
	req := g.newRequest(ctx, be, method, path, src.URL.RawQuery)
	for _, k := range forwardHeaders {
		if vv := src.Header[k]; len(vv) > 0 {
			req.Header[k] = vv
		}
	}
	body.attach(req)
	return g.transport.RoundTrip(req)
}

// newRequest builds an outgoing request without parsing a URL string: the
// request target is the already-escaped path, set as Opaque so net/http
// writes it verbatim.
func (g *Gateway) newRequest(ctx context.Context, be *backend, method, path, query string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, "", nil)
	if err != nil {
		panic(err) // unreachable: the method is a constant and the URL empty
	}
	req.URL.Scheme = be.scheme
	req.URL.Host = be.host
	req.URL.Opaque = be.prefix + path
	req.URL.RawQuery = query
	req.Host = be.host
	return req
}

// hopByHop reports headers that describe one connection, not the message.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// writeResponse copies resp to the client. It returns the status and a
// non-nil error if the body could not be copied completely.
func (c *call) writeResponse(ctx context.Context, resp *http.Response, v *version) (int, error) {
	defer resp.Body.Close()
	h := c.w.Header()
	for k, vv := range resp.Header {
		if !hopByHop(k) {
			h[k] = vv
		}
	}
	if _, ok := resp.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil // pass the absence on; net/http would sniff one
	}
	h[HeaderServedVersion] = v.servedHdr
	c.wrote = true
	c.w.WriteHeader(resp.StatusCode)
	if c.r.Method == http.MethodHead {
		return resp.StatusCode, nil
	}
	// An answer of unknown length may be a stream: pass each piece on as
	// it comes instead of letting it sit in the server's buffer.
	var flusher http.Flusher
	if resp.ContentLength < 0 {
		flusher, _ = c.w.(http.Flusher)
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := c.w.Write(buf[:n]); werr != nil {
				return statusClientGone, werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		switch {
		case rerr == io.EOF:
			return resp.StatusCode, nil
		case rerr != nil:
			switch {
			case c.r.Context().Err() != nil:
				return statusClientGone, rerr
			case ctx.Err() != nil:
				return http.StatusGatewayTimeout, rerr
			}
			return http.StatusBadGateway, rerr
		}
	}
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// reqBuf holds a request body, read once and shared read-only by every
// attempt, the Transport's own replays and the shadow copy.
//
// The client of http:// replicas (client.go) is done with the buffer when
// it returns, so after its attempts the buffer is always free again.
//
// For https:// replicas the body goes to the Transport as a plain
// bytes.Reader: net/http then writes the request line, headers and a
// small body with one write(2) (any other reader type costs a second write
// and a second wake-up of the replica). The price is that the Transport
// gives no signal when it has stopped reading the buffer, so it is reused
// only when that is certain: the attempt failed (net/http waits for its
// writer then), or the answer was read to the end and the body was small
// enough to be copied into the connection's write buffer before the
// request was sent (inlineBody). Otherwise the buffer is left to the
// garbage collector.
type reqBuf struct {
	b       []byte
	refs    atomic.Int32 // holders: the handler and a queued shadow copy
	unsafe  atomic.Bool  // a Transport may still read b: never reuse it
	getBody func() (io.ReadCloser, error)
}

const (
	// inlineBody is the largest body that, with its headers, surely fits
	// the Transport's 16 KiB write buffer.
	inlineBody = 8 << 10
	// maxPooledBody keeps one rare huge request from pinning its buffer.
	maxPooledBody = 1 << 20
)

var bodyPool = sync.Pool{New: func() any {
	p := &reqBuf{b: make([]byte, 0, 4<<10)}
	// Made once per buffer: a method value would allocate per request.
	p.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p.b)), nil }
	return p
}}

func getBuf() *reqBuf {
	p := bodyPool.Get().(*reqBuf)
	p.refs.Store(1)
	p.unsafe.Store(false)
	return p
}

// release drops one hold; the last one returns the buffer to the pool
// when that is safe.
func (p *reqBuf) release() {
	if p.refs.Add(-1) != 0 || p.unsafe.Load() || cap(p.b) > maxPooledBody {
		return
	}
	bodyPool.Put(p)
}

// settle records how a use of the buffer by the Transport ended; clean
// means the Transport has provably finished reading it.
func (p *reqBuf) settle(clean bool) {
	if p != nil && (!clean || len(p.b) > inlineBody) {
		p.unsafe.Store(true)
	}
}

// attach makes p the body of req, with GetBody so the Transport can replay
// it on a fresh connection when a pooled one turns out dead. A nil p is no
// body.
func (p *reqBuf) attach(req *http.Request) {
	if p == nil {
		return
	}
	req.ContentLength = int64(len(p.b))
	if len(p.b) == 0 {
		req.Body = http.NoBody
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(p.b))
	req.GetBody = p.getBody
}

// readBody reads the request body into a pooled buffer holding one
// reference. On error it returns the HTTP status to answer.
func (g *Gateway) readBody(r *http.Request) (*reqBuf, int, error) {
	cl := r.ContentLength
	if cl > g.maxBody {
		return nil, http.StatusRequestEntityTooLarge, errTooLarge
	}
	p := getBuf()
	if cl >= 0 {
		if int64(cap(p.b)) < cl {
			p.b = make([]byte, cl)
		}
		p.b = p.b[:cl]
		if _, err := io.ReadFull(r.Body, p.b); err != nil {
			p.release()
			return nil, http.StatusBadRequest, err
		}
		return p, 0, nil
	}
	// Unknown length (chunked): grow up to one byte past the limit.
	b := p.b[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		p.b = b
		if int64(len(b)) > g.maxBody {
			p.release()
			return nil, http.StatusRequestEntityTooLarge, errTooLarge
		}
		if err == io.EOF {
			return p, 0, nil
		}
		if err != nil {
			p.release()
			return nil, http.StatusBadRequest, err
		}
	}
}

var errTooLarge = errors.New("request body too large")
