package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
)

// fastConn is one client connection on the fast engine: one goroutine
// reads a request, runs it through the frontend's loop (selection,
// retries, errors) and writes the answer, then reads the next.
type fastConn struct {
	f        *frontend
	eng      *engine
	nc       net.Conn
	sock     *sockIO // nc's reads and writes, for br and bw
	br       *bufio.Reader
	bw       *bufio.Writer // taken from the engine's pool for each answer
	*heads                 // the request's and the answer's; none while parked
	client   netip.Addr
	clientIP string // for X-Forwarded-For
	remote   string
	host     string   // the last Host, as a string
	fwd      []byte   // the target as forwarded (a route may strip a prefix)
	scratch  []byte   // room for a rewritten target
	num      [24]byte // scratch for numbers
	secure   bool
	state    atomic.Int32 // connNew, connIdle, connActive, connClosed, connParked
	rdl      readDeadline // nc's
	noPark   bool         // parking failed once: keep the goroutine
	parkedAs *parked      // the parker's entry; under its lock

	// per request
	cur       *reqState
	start     time.Time
	bodyLeft  bool // the request body was not (all) read
	closeNext bool // close the connection after this answer
	wrote     bool // something of the answer went to the client
	linger    bool // the client may still be sending: drain before the close
}

const (
	connIdle = iota
	connActive
	connClosed
	connParked // idle with no goroutine: the engine's parker holds it
	// connNew: accepted, its first request not begun. A drain does not
	// close it at once (its client connected before the listener closed
	// and is sending), only after newConnGrace; it does not park.
	connNew
)

// What readRequest found.
const (
	readOK     = iota
	readEnd    // the connection ends
	readParked // idle for long enough: handed to the parker
)

func (c *fastConn) serve() {
	parked := false
	defer func() {
		if !parked {
			c.eng.done(c)
		}
	}()
	for {
		switch c.readRequest() {
		case readParked:
			parked = true // another goroutine may serve c by now
			return
		case readEnd:
			return
		}
		c.handle()
		c.releaseWriter()
		if c.closeNext || c.eng.closing.Load() {
			if c.linger && !c.eng.closing.Load() {
				c.lingerClose()
			}
			return
		}
		if !c.state.CompareAndSwap(connActive, connIdle) {
			return
		}
		if c.eng.closing.Load() {
			return
		}
	}
}

// readRequest waits for the next request (idle_timeout), then reads its
// head (read_header_timeout). A malformed head gets its error answer and
// ends the connection: the stream cannot be trusted after it.
func (c *fastConn) readRequest() int {
	fc := c.f.cfg.Load()
	if c.br == nil { // back from the parker
		if c.sock == nil {
			c.sock = newSockIO(c.nc)
		}
		c.br, c.heads = c.eng.getReader(c.sock), c.eng.getHeads()
	}
	if c.br.Buffered() == 0 {
		var limit time.Time // the idle timeout's; zero: none
		now := time.Now()
		if d := fc.IdleTimeout; d > 0 {
			limit = now.Add(d)
		}
		park := !c.noPark && c.parkable() && (limit.IsZero() || limit.Sub(now) > parkAfter) && c.state.Load() != connNew
		// Either deadline may fire a little late (readDeadline): a
		// connection parks after 20-40 ms idle, and idle_timeout is
		// kept to within an eighth.
		switch {
		case park:
			c.rdl.about(c.nc, now.Add(parkAfter), parkAfter)
		case !limit.IsZero():
			c.rdl.about(c.nc, limit, fc.IdleTimeout/8)
		default:
			c.rdl.clear(c.nc)
		}
		yieldBeforeRead()
		if _, err := c.br.Peek(1); err != nil {
			if park && isTimeout(err) {
				switch c.park(limit) {
				case parkDone:
					return readParked
				case parkNo:
					c.noPark = true
					return c.readRequest() // wait on, the ordinary way
				}
			}
			return readEnd
		}
	}
	if !c.state.CompareAndSwap(connIdle, connActive) && !c.state.CompareAndSwap(connNew, connActive) {
		return readEnd
	}
	c.start = c.f.srv.now()
	// A head that is all in the buffer needs no more reads: no deadline
	// to set (a timer change per request saved).
	if d := fc.ReadHeaderTimeout; d > 0 && !headBuffered(c.br) {
		c.setReadDeadline(c.start.Add(d))
	}
	c.bodyLeft, c.closeNext, c.wrote, c.linger = false, false, false, false
	err := c.req.read(c.br, true)
	if err == nil {
		if c.req.length > 0 || c.req.chunked { // the body is read next
			if d := fc.ReadTimeout; d > 0 {
				c.setReadDeadline(c.start.Add(d))
			} else {
				c.rdl.clear(c.nc)
			}
		}
		if d := fc.WriteTimeout; d > 0 {
			_ = c.nc.SetWriteDeadline(c.start.Add(d))
		}
		return readOK
	}
	var eh *errHead
	if errors.As(err, &eh) {
		c.closeNext = true
		c.plainError(eh.status, eh.msg)
		c.releaseWriter()
		if !c.eng.closing.Load() {
			c.lingerClose()
		}
	}
	return readEnd
}

// Lingering close (nginx's lingering_close, net/http's closeWriteAndWait):
// a connection closed while the client is still sending its body would
// reset, and a reset can destroy the answer before the client reads it.
// So the write side is shut first and what the client still sends is
// read and dropped, for a bounded time and amount.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

func (c *fastConn) lingerClose() {
	closeWrite(c.nc)
	c.setReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, lingerBytes)
}

func (c *fastConn) setReadDeadline(t time.Time) { c.rdl.set(c.nc, t) }

// headBuffered reports whether br holds a whole message head.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// plainError answers a request that could not be parsed (as net/http
// does: text, and the connection closes).
func (c *fastConn) plainError(status int, msg string) {
	w := c.writer()
	body := fmt.Sprintf("%d %s: %s", status, http.StatusText(status), msg)
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
	_ = w.Flush()
}

func (c *fastConn) writer() *bufio.Writer {
	if c.bw == nil {
		c.bw = c.eng.getWriter(c.sock)
	}
	return c.bw
}

func (c *fastConn) releaseWriter() {
	if c.bw != nil {
		c.eng.putWriter(c.bw)
		c.bw = nil
	}
}

// handle runs one parsed request.
func (c *fastConn) handle() {
	f, s := c.f, c.f.srv
	fc := f.cfg.Load()
	h := &c.req
	st := f.states.get(f)
	st.fast, st.start, st.secure = c, c.start, c.secure
	c.cur = st
	defer func() {
		// Metrics, the lb.request event and the access log first, as
		// net/http's handler does before its last flush: whoever got the
		// answer can count on them.
		f.finish(st, fastInfo)
		c.cur = nil
		f.states.put(st)
		_ = c.flushAnswer()
	}()
	f.observed(c, st)
	st.al = s.sampledAccessLog()
	st.method = methodString(h.method)
	if h.minor == 0 {
		c.closeNext = !h.keepAlive
	} else {
		c.closeNext = h.close
	}
	host := h.host
	if h.minor == 1 && h.hosts != 1 {
		st.status, st.reason = http.StatusBadRequest, "bad_host"
		c.closeNext = true
		c.plainError(http.StatusBadRequest, "an HTTP/1.1 request needs exactly one Host field")
		return
	}
	if len(h.target) > 0 && h.target[0] != '/' && st.method != http.MethodConnect && !c.absoluteTarget(&host) {
		if string(h.target) == "*" && st.method == http.MethodOptions {
			st.status = http.StatusOK
			c.writer().WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			c.bodyLeft = h.length > 0 || h.chunked
			return
		}
		st.status, st.reason = http.StatusBadRequest, "bad_target"
		c.closeNext = true
		c.plainError(http.StatusBadRequest, "the request target is not origin-form or absolute-form")
		return
	}
	both := h.length >= 0 && h.hasTE
	if h.minor == 0 && h.hasTE {
		both = true // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing
	}
	if status, code, msg := f.refusal(fc, st.method, c.hostString(host), both, len(h.fields)); status != 0 {
		c.bodyLeft = h.length > 0 || h.chunked
		if status != http.StatusMethodNotAllowed && code != "bad_host" {
			c.closeNext = true
		}
		w := c.replyWriter()
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allowMethods)
		}
		st.status, st.reason = status, code
		s.met.errors.WithLabelValues(fc.Pool, code).Inc()
		writeProxyError(w, c.errRequest(), status, code, msg, nil)
		return
	}
	c.bodyLeft = h.length > 0 || h.chunked
	if fc.RedirectHTTPS != "" {
		code, loc := f.redirectTarget(fc.RedirectHTTPS, st.method, string(host), string(h.target))
		w := c.replyWriter()
		w.Header().Set("Location", loc)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(code)
		st.status = code
		return
	}
	poolName, fwd, answered := f.routed(st, c, fc, host, h.target, c.scratch)
	if answered {
		return
	}
	c.fwd = fwd
	if st.rt != nil && st.rt.strip {
		c.scratch = fwd[:0]
	}
	p := st.tbl.pool(poolName)
	if p == nil {
		st.status = http.StatusServiceUnavailable
		writeProxyError(c.replyWriter(), c.errRequest(), st.status, "no_pool", fmt.Sprintf("frontend %s routes to pool %q, which does not exist", f.name, poolName), nil)
		return
	}
	st.pool, st.snap = p, p.snap.Load()
	if max := fc.MaxBodyBytes; max > 0 && h.length > max {
		st.status = http.StatusRequestEntityTooLarge
		s.met.errors.WithLabelValues(p.name, "body_too_large").Inc()
		writeProxyError(c.replyWriter(), c.errRequest(), st.status, "body_too_large", fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", h.length, max), nil)
		return
	}
	st.hasBody = h.length > 0 || h.chunked
	if h.expect && st.hasBody {
		// The backend gets no Expect: lbd asks for the body itself, as
		// net/http's server does on the first read.
		c.writer().WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if c.flushAnswer() != nil {
			return
		}
	}
	st.route(p, c)
	if e := st.edgeOf(f); e != nil && c.edge(e, st) {
		return
	}
	if rt := st.rt; rt != nil && rt.wrap != nil {
		c.bridge(st, rt.wrap) // per-route handlers work on net/http's types
		return
	}
	f.forward(c, st)
}

// hostString is host as a string: the connection's last one when it is
// the same (a kept-alive client sends the same Host every time).
func (c *fastConn) hostString(host []byte) string {
	if string(host) != c.host {
		c.host = string(host)
	}
	return c.host
}

// absoluteTarget turns an absolute-form target (http://host/path) into
// origin-form; its authority replaces the Host field (RFC 9112 §3.2.2).
func (c *fastConn) absoluteTarget(host *[]byte) bool {
	t := c.req.target
	var rest []byte
	switch {
	case len(t) > 7 && equalFoldString(t[:7], "http://"):
		rest = t[7:]
	case len(t) > 8 && equalFoldString(t[:8], "https://"):
		rest = t[8:]
	default:
		return false
	}
	i := bytes.IndexAny(rest, "/?")
	if i < 0 {
		*host, c.req.target = rest, []byte("/")
		return true
	}
	*host, c.req.target = rest[:i], rest[i:]
	if c.req.target[0] == '?' {
		c.req.target = append([]byte("/"), c.req.target...)
	}
	return true
}

// flushAnswer sends what is buffered; a failed write ends the connection.
func (c *fastConn) flushAnswer() error {
	if c.bodyLeft {
		c.closeNext, c.linger = true, true
	}
	if c.bw == nil {
		return nil
	}
	err := c.bw.Flush()
	if err != nil {
		c.closeNext = true
	}
	return err
}

func (c *fastConn) context() context.Context { return context.Background() }

func (c *fastConn) header(name string) string {
	if v := c.req.get(name); v != nil {
		return string(v)
	}
	return ""
}

func (c *fastConn) field(name string) ([]byte, bool) {
	v := c.req.get(name)
	return v, v != nil
}

func (c *fastConn) reply() (http.ResponseWriter, *http.Request) {
	return c.replyWriter(), c.errRequest()
}

func (c *fastConn) clientAddr() netip.Addr { return c.client }

// fastInfo describes a fast-engine request for the access log and events.
func fastInfo(st *reqState) reqInfo {
	c := st.fast
	h := &c.req
	path := h.target
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	proto := "HTTP/1.1"
	if h.minor == 0 {
		proto = "HTTP/1.0"
	}
	return reqInfo{client: c.remote, method: st.method, host: string(h.host), uri: string(h.target), path: string(path),
		proto: proto, userAgent: string(h.get("User-Agent"))}
}

// methodString is the method as a string, without allocating for the
// common ones.
func methodString(m []byte) string {
	for _, s := range knownMethods {
		if string(m) == s {
			return s
		}
	}
	return string(m)
}

var knownMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodOptions, http.MethodPatch, http.MethodConnect, http.MethodTrace}
