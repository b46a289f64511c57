package lb

import (
	ctls "crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The fast engine's bridge to net/http's types, for the requests of a
// route with per-route handlers (route.wrap: a response cache,
// compression), which are written against http.ResponseWriter and
// *http.Request. The request becomes an *http.Request whose body reads
// the connection; the answer goes through bridgeWriter, which writes
// HTTP/1.1 (chunked when it has no length) to the connection; the
// forwarding inside is the nethttp engine's (ReverseProxy over the
// member's transport). Requests of other routes never come here.

// bridge runs st (routed, pool chosen) through mw: a route's wrap, or
// the edge's cache fill and compression (edge_fast.go).
func (c *fastConn) bridge(st *reqState, mw Middleware) {
	f, h := c.f, &c.req
	u, err := url.ParseRequestURI(string(c.fwd))
	if err != nil {
		st.status, st.reason = http.StatusBadRequest, "bad_target"
		c.closeNext = true
		c.plainError(http.StatusBadRequest, "the request target is not a valid URI")
		return
	}
	r := &http.Request{Method: st.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: h.minor,
		Header: make(http.Header, len(h.fields)), Host: c.host, RemoteAddr: c.remote, RequestURI: string(h.target)}
	if h.minor == 0 {
		r.Proto = "HTTP/1.0"
	}
	for _, fl := range h.fields {
		switch fl.kind {
		case fPass, fLB, fCookie, fXFF, fXForward:
			r.Header.Add(string(fl.name), string(fl.value))
		}
	}
	if tc, ok := c.nc.(*ctls.Conn); ok {
		cs := tc.ConnectionState()
		r.TLS = &cs
	}
	w := &bridgeWriter{c: c, st: st, h: http.Header{}, head: st.method == http.MethodHead}
	body := &eofReader{}
	switch {
	case h.chunked:
		// The chunked reader stops before the trailer section: the
		// connection closes after the answer rather than parse it here.
		body.r, r.ContentLength = httputil.NewChunkedReader(c.br), -1
		body.noReuse.Store(true)
	case h.length > 0:
		body.r, r.ContentLength = io.LimitReader(c.br, h.length), h.length
	default:
		body.eof.Store(true)
	}
	if !body.eof.Load() {
		var rc io.ReadCloser = io.NopCloser(body)
		if max := f.cfg.Load().MaxBodyBytes; max > 0 {
			rc = http.MaxBytesReader(w, rc, max)
		}
		st.body = &reqBody{ReadCloser: rc}
		r.Body = st.body
	} else {
		r.Body = http.NoBody
	}
	w.body = body
	x := &st.std
	*x = stdExchange{f: f, w: w, r: r}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { // ReverseProxy's panic when a body breaks off
				panic(v)
			}
			c.closeNext = true // the answer broke off in its body
		}
		w.finish()
		c.bodyLeft = !body.stop(c)
		if st.status == 0 {
			st.status = w.status // a handler answered by itself
		}
	}()
	mw(w, r, func(w http.ResponseWriter, r *http.Request) {
		x.w, x.r = w, r
		f.forward(x, st)
	})
}

// eofReader notes whether a request body was read to its end. net/http's
// Transport reads it from a goroutine of its own, which can still be
// reading when the answer is done (a backend that answers before it has
// read the body): stop ends that before the connection reads on.
type eofReader struct {
	mu      sync.Mutex // held by a Read, taken by stop
	r       io.Reader
	stopped bool
	eof     atomic.Bool
	noReuse atomic.Bool // read or not, the stream cannot be reused after it
}

var errBodyStopped = errors.New("the answer is done: the request body is no longer read")

func (b *eofReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return 0, errBodyStopped
	}
	if b.eof.Load() {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if lr, ok := b.r.(*io.LimitedReader); err == io.EOF || ok && lr.N == 0 {
		// all of a body of known length is read: the stream is at the
		// next request even if nobody reads on to see io.EOF
		b.eof.Store(true)
	}
	return n, err
}

// done reports whether the body was read to its end and the stream is at
// the next request.
func (b *eofReader) done() bool { return b.eof.Load() && !b.noReuse.Load() }

// stop ends the body's reads once the answer is done: a read still
// blocked on the client is cut short by a deadline (the connection then
// closes). It reports whether the stream is at the next request.
func (b *eofReader) stop(c *fastConn) bool {
	if !b.mu.TryLock() {
		c.setReadDeadline(time.Now()) // the transport is still reading: cut it short
		b.mu.Lock()
		b.noReuse.Store(true)
	}
	b.stopped = true
	b.mu.Unlock()
	return b.done()
}

// bridgeWriter is an http.ResponseWriter over the fast connection.
type bridgeWriter struct {
	c       *fastConn
	st      *reqState
	h       http.Header
	body    *eofReader
	status  int
	head    bool // a HEAD request: no body whatever the fields say
	chunked bool
	noBody  bool
}

func (w *bridgeWriter) Header() http.Header { return w.h }

func (w *bridgeWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	c := w.c
	bw := c.writer()
	if code < 100 || code > 999 {
		// http.Transport takes a backend's status 000 as 0, and
		// ReverseProxy passes it on (net/http's own ResponseWriter
		// panics on it): the client gets a 502 with none of the
		// backend's fields or body, and the connection closes.
		code, w.noBody, c.closeNext = http.StatusBadGateway, true, true
		w.h = http.Header{"Content-Length": {"0"}}
		w.st.reason = "bad_status"
	}
	if code >= 100 && code < 200 {
		writeStatusLine(bw, code)
		_ = w.h.Write(bw)
		bw.WriteString("\r\n")
		_ = bw.Flush()
		return
	}
	w.status, c.wrote = code, true
	h := w.h
	switch {
	case w.head || code == http.StatusNoContent || code == http.StatusNotModified:
		w.noBody = true
	case h.Get("Content-Length") != "":
	case c.req.minor == 1:
		h.Set("Transfer-Encoding", "chunked")
		w.chunked = true
	default:
		c.closeNext = true // HTTP/1.0 without a length: the close ends the body
	}
	if w.body != nil && !w.body.done() {
		c.closeNext = true // the stream is not at the next request
	}
	h.Del("Connection")
	if c.closeNext {
		h.Set("Connection", "close")
	} else if c.req.minor == 0 {
		h.Set("Connection", "keep-alive")
	}
	writeStatusLine(bw, code)
	_ = h.Write(bw)
	bw.WriteString("\r\n")
}

func writeStatusLine(bw interface{ WriteString(string) (int, error) }, code int) {
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteString(" ")
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
}

func (w *bridgeWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	bw := w.c.writer()
	if w.chunked {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.st.bytes += int64(n)
	return n, err
}

// Flush sends what is buffered (ReverseProxy flushes streamed answers).
func (w *bridgeWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.c.writer().Flush()
}

// finish ends the answer: an empty one if nothing was written, the last
// chunk of a chunked one.
func (w *bridgeWriter) finish() {
	if w.status == 0 {
		w.h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
	if w.chunked {
		w.c.writer().WriteString("0\r\n\r\n")
	}
}
