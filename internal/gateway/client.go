package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The client for http:// replicas.
//
// net/http's Transport runs every request through two goroutines per
// connection (a writer and a reader) and hands the request and the answer
// between them and the caller over channels: at loopback latencies those
// handoffs and wake-ups, not the bytes, are most of the proxy's cost.
// Replicas speak plain HTTP/1.1 and the gateway never pipelines, so a
// request here is synchronous: the calling goroutine takes an idle
// connection of the replica, writes the request line, headers and body
// with one write, and parses the answer from the connection's buffered
// reader itself. The connection goes back to the replica's pool only when
// the answer was read to its end and allows keep-alive; any other ending
// closes it. https:// replicas keep using the Transport.

const (
	// maxIdlePerBackend matches the Transport's MaxIdleConnsPerHost: one
	// idle connection per concurrent request at saturation.
	maxIdlePerBackend = 512
	// idleTimeout closes connections unused for this long (the Transport's
	// IdleConnTimeout); the janitor runs every idleTimeout/6, so none
	// lingers past ~105 s, under the 2 min IdleTimeout of slipway workers.
	idleTimeout = 90 * time.Second
	// maxResponseHeaderBytes is the Transport's default limit.
	maxResponseHeaderBytes = 10 << 20
	// connBufSize is the read buffer of a connection (the Transport's
	// ReadBufferSize); writes are built in a buffer that grows as needed.
	connBufSize = 16 << 10
	// inlineWrite is the largest body copied behind the headers so that
	// the whole request goes out in one write(2); larger ones go out with
	// one writev(2) straight from the request buffer.
	inlineWrite = 16 << 10
	// writeErrGrace is how long a failed write waits for the answer the
	// replica may have sent before closing (e.g. an early 413).
	writeErrGrace = 50 * time.Millisecond
)

var dialer = &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}

// connPool is the idle connections to one http:// replica, most recently
// used last: reuse takes the warmest one, the janitor closes the coldest.
type connPool struct {
	addr string // host:port to dial
	host string // Host header

	mu   sync.Mutex
	idle []*pconn
}

// pconn is one connection to a replica. It is used by one request at a
// time; only the context watcher touches it concurrently, and only to set
// a deadline.
type pconn struct {
	pool   *connPool
	conn   net.Conn
	raw    syscall.RawConn // for sendThenRead; nil where unsupported
	br     *bufio.Reader   // reads through pconn.Read
	wbuf   []byte          // the request head (and a small body)
	idleAt time.Time       // when it went back to the pool (guarded by pool.mu)
	reused bool            // taken from the pool: check it before use

	readLimit int64       // bytes the next reads may take: bounds response headers
	stop      func() bool // stops the context watcher of the current use
	body      respBody    // resp.Body of the current answer

	// The request being sent: the first Read after prepare writes it.
	sendPending bool
	sendBody    []byte // a body too large to copy behind the head
	werr        error  // writing it failed

	// sendThenRead's state; ioFn is pc.sendThenReadFD, made once.
	ioFn  func(fd uintptr) bool
	rp    []byte
	rn    int
	rerr  error
	peekB [1]byte
}

func newPool(addr, host string) *connPool { return &connPool{addr: addr, host: host} }

// get returns the most recently used idle connection, or nil.
func (p *connPool) get() *pconn {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	pc := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.mu.Unlock()
	pc.reused = true
	return pc
}

func (p *connPool) put(pc *pconn) {
	now := time.Now()
	p.mu.Lock()
	if len(p.idle) < maxIdlePerBackend {
		pc.idleAt = now
		p.idle = append(p.idle, pc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = pc.conn.Close()
}

// closeIdle closes the connections idle since before cutoff; a zero
// cutoff closes them all.
func (p *connPool) closeIdle(cutoff time.Time) {
	p.mu.Lock()
	n := 0
	if cutoff.IsZero() {
		n = len(p.idle)
	} else {
		for n < len(p.idle) && p.idle[n].idleAt.Before(cutoff) {
			n++
		}
	}
	if n == 0 {
		p.mu.Unlock()
		return
	}
	old := make([]*pconn, n)
	copy(old, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.mu.Unlock()
	for _, pc := range old {
		_ = pc.conn.Close()
	}
}

func (p *connPool) dial(ctx context.Context) (*pconn, error) {
	c, err := dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	pc := &pconn{pool: p, conn: c, wbuf: make([]byte, 0, 1024)}
	pc.br = bufio.NewReaderSize(pc, connBufSize)
	if sc, ok := c.(syscall.Conn); ok && rawIO {
		if raw, err := sc.SyscallConn(); err == nil {
			pc.raw = raw
			pc.ioFn = pc.sendThenReadFD
		}
	}
	return pc, nil
}

// Read feeds br. The first read of an answer also sends the request (see
// sendThenRead); the header of the answer is bounded by readLimit.
func (pc *pconn) Read(p []byte) (int, error) {
	if pc.readLimit <= 0 {
		return 0, fmt.Errorf("gateway: replica response headers exceeded %d bytes", maxResponseHeaderBytes)
	}
	if int64(len(p)) > pc.readLimit {
		p = p[:pc.readLimit]
	}
	var n int
	var err error
	if pc.sendPending {
		n, err = pc.sendThenRead(p)
	} else {
		n, err = pc.conn.Read(p)
	}
	pc.readLimit -= int64(n)
	return n, err
}

// errStale is a pooled connection found closed (or carrying unasked-for
// bytes) before anything was sent on it.
var errStale = errors.New("gateway: idle connection closed by the replica")

// sendThenRead writes the pending request and reads the first bytes of
// the answer into p.
//
// Where the socket is reachable (Linux, macOS, the BSDs), it all happens
// in one RawConn.Read: for a pooled connection a non-blocking MSG_PEEK
// recv(2) first checks that the replica has not closed it while idle
// (errStale: nothing was sent, so another connection can take the request
// without it counting as a retry); then the request is written and,
// instead of a read(2) that could only say EAGAIN this early, the
// goroutine waits for the socket to become readable and reads once. The
// wait is armed before the write, so an answer cannot slip by unnoticed.
func (pc *pconn) sendThenRead(p []byte) (int, error) {
	if pc.raw == nil {
		pc.sendPending = false
		if err := pc.send(); err != nil {
			pc.werr = err
			return 0, err
		}
		return pc.conn.Read(p)
	}
	pc.rp, pc.rn, pc.rerr = p, 0, nil
	err := pc.raw.Read(pc.ioFn)
	pc.rp = nil
	if err == nil {
		err = pc.rerr
	}
	return pc.rn, err
}

// send writes the prepared request: one write(2), or one writev(2) for a
// large body.
func (pc *pconn) send() error {
	if pc.sendBody == nil {
		_, err := pc.conn.Write(pc.wbuf)
		return err
	}
	bufs := net.Buffers{pc.wbuf, pc.sendBody}
	_, err := bufs.WriteTo(pc.conn)
	return err
}

// watch makes cancellation of ctx (the client went away, or the route's
// timeout expired) abort whatever the connection is blocked in.
func (pc *pconn) watch(ctx context.Context) {
	if ctx.Done() == nil {
		return
	}
	conn := pc.conn
	pc.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
}

var aLongTimeAgo = time.Unix(1, 0)

// release ends a use of pc: back to the pool when reusable, else closed.
func (pc *pconn) release(reusable bool) {
	if pc.stop != nil {
		if !pc.stop() {
			reusable = false // the watcher fired: the deadline is in the past
		}
		pc.stop = nil
	}
	pc.sendBody = nil
	if reusable && pc.br.Buffered() == 0 {
		pc.pool.put(pc)
		return
	}
	_ = pc.conn.Close()
}

// syncRequest is one request to an http:// replica.
type syncRequest struct {
	path, query string
	hdr         http.Header // forwardHeaders are taken from it
	shadow      bool
	body        *reqBuf // nil: GET without a body
}

// roundTripSync sends rq to the replica of p and reads the answer header.
// On success resp.Body is the connection's, and closing it releases the
// connection. Errors are shaped like the Transport's so that retryable
// classifies them the same way: dial failures are *net.OpError with Op
// "dial", a connection that breaks before an answer gives EOF, reset or
// broken pipe. The request buffer is not referenced once it returns.
func roundTripSync(ctx context.Context, p *connPool, rq *syncRequest) (*http.Response, error) {
	for {
		pc := p.get()
		if pc == nil {
			var err error
			if pc, err = p.dial(ctx); err != nil {
				return nil, err
			}
		}
		if err := pc.prepare(rq); err != nil {
			pc.release(true) // nothing was sent
			return nil, err
		}
		pc.watch(ctx)
		resp, err := pc.readResponse()
		switch {
		case err == nil:
			return resp, nil
		case errors.Is(err, errStale):
			pc.release(false)
			continue
		case pc.werr != nil:
			werr := pc.werr
			if resp, err = pc.readAfterWriteError(ctx); err == nil {
				return resp, nil
			}
			pc.release(false)
			return nil, werr
		}
		pc.release(false)
		return nil, err
	}
}

// prepare builds the request line, headers and (when small) the body in
// wbuf, for the next Read to send.
func (pc *pconn) prepare(rq *syncRequest) error {
	b := pc.wbuf[:0]
	if rq.body != nil {
		b = append(b, "POST "...)
	} else {
		b = append(b, "GET "...)
	}
	b = append(b, rq.path...)
	if rq.query != "" {
		b = append(b, '?')
		b = append(b, rq.query...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, pc.pool.host...)
	b = append(b, "\r\nUser-Agent: Go-http-client/1.1\r\n"...)
	if rq.body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(rq.body.b)), 10)
		b = append(b, "\r\n"...)
	}
	for _, k := range forwardHeaders {
		for _, v := range rq.hdr[k] {
			if !validHeaderValue(v) {
				pc.wbuf = b[:0]
				return fmt.Errorf("gateway: invalid header field value for %q", k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimHeaderValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if rq.shadow {
		b = append(b, HeaderShadow+": 1\r\n"...)
	}
	b = append(b, "\r\n"...)
	pc.sendBody = nil
	if rq.body != nil && len(rq.body.b) > 0 {
		if len(rq.body.b) <= inlineWrite {
			b = append(b, rq.body.b...)
		} else {
			pc.sendBody = rq.body.b
		}
	}
	pc.wbuf = b
	pc.sendPending, pc.werr = true, nil
	return nil
}

// readAfterWriteError looks for an answer the replica sent before it
// stopped reading the request (an early error, typically): the Transport
// would deliver it, so this client does too.
func (pc *pconn) readAfterWriteError(ctx context.Context) (*http.Response, error) {
	pc.sendPending, pc.sendBody = false, nil
	if pc.stop != nil {
		fired := !pc.stop()
		pc.stop = nil
		if fired {
			return nil, ctx.Err()
		}
	}
	_ = pc.conn.SetReadDeadline(time.Now().Add(writeErrGrace))
	resp, err := pc.readResponse()
	if err != nil {
		return nil, err
	}
	// The body gets the route's timeout again, and the connection,
	// out of step with its request, is never reused.
	_ = pc.conn.SetReadDeadline(time.Time{})
	pc.watch(ctx)
	pc.body.close = true
	return resp, nil
}

// readResponse parses the answer header, skipping informational (1xx)
// answers as the Transport does, and wraps the body.
func (pc *pconn) readResponse() (*http.Response, error) {
	// The limit covers the informational answers too, so that a replica
	// cannot send them forever.
	pc.readLimit = maxResponseHeaderBytes
	for {
		resp, err := http.ReadResponse(pc.br, nil)
		if err != nil {
			pc.readLimit = math.MaxInt64
			return nil, err
		}
		if c := resp.StatusCode; c >= 100 && c < 200 && c != http.StatusSwitchingProtocols {
			continue
		}
		pc.readLimit = math.MaxInt64 // bodies are not bounded here
		pc.body = respBody{pc: pc, r: resp.Body, close: resp.Close || resp.StatusCode == http.StatusSwitchingProtocols}
		if resp.Body == http.NoBody {
			pc.body.eof = true
		}
		resp.Body = &pc.body
		return resp, nil
	}
}

// respBody is the body of an answer on a pooled connection. Close returns
// the connection to the pool if the body was read to its end, and closes
// it otherwise (it never drains: the answer may be an endless stream).
type respBody struct {
	pc    *pconn
	r     io.ReadCloser
	eof   bool
	close bool // the answer ends the connection
	done  bool
}

func (b *respBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, errBodyClosed
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *respBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	b.pc.release(b.eof && !b.close)
	return nil
}

var errBodyClosed = errors.New("gateway: read on a closed response body")

// validHeaderValue is httpguts.ValidHeaderFieldValue: no control
// characters but tab. The Transport refuses such a request; so does this
// client, rather than let a value split the header.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// trimHeaderValue trims what the Transport trims (textproto.TrimString).
func trimHeaderValue(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
