package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// shadowJob is one request copy waiting for a shadow worker. It holds a
// reference on the buffered body, so enqueueing copies no bytes.
type shadowJob struct {
	rt    *route
	buf   *reqBuf
	ctype []string
	query string
}

var shadowFlag = []string{"1"}

// enqueueShadow offers a copy of the request to the shadow workers without
// ever waiting: when the queue is full the copy is dropped and counted.
func (g *Gateway) enqueueShadow(rt *route, body *reqBuf, r *http.Request) {
	if g.closed.Load() || len(rt.shadow.backends) == 0 {
		return
	}
	body.refs.Add(1)
	select {
	case g.shadowQ <- shadowJob{rt: rt, buf: body, ctype: r.Header["Content-Type"], query: r.URL.RawQuery}:
	default:
		body.release()
		rt.ep.shadowDropped.Add(1)
	}
}

func (g *Gateway) shadowWorker() {
	defer g.shadowWG.Done()
	for {
		select {
		case <-g.shadowCtx.Done():
			return
		case j := <-g.shadowQ:
			g.sendShadow(j)
		}
	}
}

// sendShadow sends one copy, discards the answer and records its status
// and latency under the shadow version, where rollout analysis compares it
// with the primary.
func (g *Gateway) sendShadow(j shadowJob) {
	defer j.buf.release()
	v := j.rt.shadow
	be := v.pick(nil)
	if be == nil {
		return
	}
	timeout := j.rt.timeout
	if timeout <= 0 {
		timeout = defaultShadowTimeout
	}
	ctx, cancel := context.WithTimeout(g.shadowCtx, timeout)
	defer cancel()

	start := time.Now()
	v.stats.inflight.Add(1)
	be.inflight.Add(1)
	defer v.stats.inflight.Add(-1)
	defer be.inflight.Add(-1)

	var resp *http.Response
	var err error
	if be.pool != nil {
		var hdr http.Header
		if j.ctype != nil {
			hdr = http.Header{"Content-Type": j.ctype}
		}
		rq := syncRequest{path: be.prefix + j.rt.inferPath, query: j.query, hdr: hdr, shadow: true, body: j.buf}
		resp, err = roundTripSync(ctx, be.pool, &rq)
	} else {
		req := g.newRequest(ctx, be, http.MethodPost, j.rt.inferPath, j.query)
		if j.ctype != nil {
			req.Header["Content-Type"] = j.ctype
		}
		req.Header[HeaderShadow] = shadowFlag
		j.buf.attach(req)
		resp, err = g.transport.RoundTrip(req)
	}
	status := http.StatusBadGateway
	if err == nil {
		status = resp.StatusCode
		if _, err = io.Copy(io.Discard, resp.Body); err != nil {
			status = http.StatusBadGateway
		}
		resp.Body.Close()
		if be.pool == nil {
			j.buf.settle(err == nil)
		}
	}
	if g.shadowCtx.Err() != nil {
		return // shutting down: not the version's fault
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	v.stats.record(status, time.Since(start))
}
