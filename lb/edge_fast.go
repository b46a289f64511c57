package lb

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"netsim/lb/httpcache"
)

// The edge on the fast engine. A cache hit is written straight from the
// stored entry's serialized fields into the connection's buffer (no
// header map, no backend). What goes to a backend through the edge (a
// miss, a revalidation, any response to compress) leaves the byte-level
// relay: the request is turned into an *http.Request and forwarded by
// the nethttp path (httputil.ReverseProxy on the backend's transport)
// into fastWriter, an http.ResponseWriter on the client's connection.
// That costs allocations, paid only where a cache fill or an encoder
// costs far more anyway. Requests with a body, and upgrades, keep the
// relay (a POST is not cached, and the body stays on the connection):
// compression is for bodiless requests on this engine.

// fastHeader lets the cache read the fast engine's parsed fields.
type fastHeader struct{ h *head }

func (fh fastHeader) Get(name string) string {
	if v := fh.h.get(name); v != nil {
		return string(v)
	}
	return ""
}

// edge runs the request through f's edge; it reports false when the
// byte-level relay should forward it instead.
func (c *fastConn) edge(e *edge, st *reqState) bool {
	h := &c.req
	if h.upgrade {
		return false
	}
	req := httpcache.Request{Method: st.method, Host: c.hostString(h.host), Target: string(h.target), Header: fastHeader{h}}
	res := e.lookup(c, req)
	switch res.Kind {
	case httpcache.Cached:
		c.writeHit(st, res.Hit)
		return true
	case httpcache.GatewayTimeout:
		notCached(c.replyWriter(), c.errRequest(), st)
		return true
	}
	if st.hasBody {
		if res.Fill != nil { // an unsafe request: the relay forwards it, the cache forgets the target
			c.f.forward(c, st)
			if st.status > 0 && st.status < 400 {
				e.cache.Invalidate(req)
			}
			return true
		}
		return false
	}
	if res.Fill == nil && e.comp == nil {
		return false
	}
	r, err := c.stdRequest(req)
	if err != nil {
		st.status, st.reason = http.StatusBadRequest, "bad_target"
		writeProxyError(c.replyWriter(), c.errRequest(), st.status, st.reason, err.Error(), nil)
		return true
	}
	fw := &fastWriter{c: c, st: st, h: http.Header{}, head: st.method == http.MethodHead}
	st.std = stdExchange{f: c.f, w: fw, r: r}
	c.f.edgeForward(e, st, &st.std, res)
	fw.finish()
	return true
}

// stdRequest builds the *http.Request the nethttp path forwards: the
// client's end-to-end fields (the hop-by-hop ones, framing and lbd's
// X-Forwarded-* are left out, as ReverseProxy would), no body.
func (c *fastConn) stdRequest(req httpcache.Request) (*http.Request, error) {
	u, err := url.ParseRequestURI(req.Target)
	if err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(c.req.fields))
	for _, f := range c.req.fields {
		switch f.kind {
		case fPass, fCookie, fXFF, fLB:
			k := http.CanonicalHeaderKey(string(f.name))
			hdr[k] = append(hdr[k], string(f.value))
		}
	}
	return &http.Request{Method: req.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Body: http.NoBody, Host: req.Host, RemoteAddr: c.remote, RequestURI: req.Target}, nil
}

// hitScratch is what writing a hit borrows: room for its head, and for
// head and body together when they go out in one write.
type hitScratch struct {
	head []byte
	one  []byte
}

var hitScratches = sync.Pool{New: func() any { return &hitScratch{head: make([]byte, 0, 2048)} }}

// oneWriteMax bounds the answers copied whole into one buffer: larger
// than the connection's 16 KiB writer (which would split them into two
// writes: the listener's connection wrapper hides writev), up to this
// size a copy costs less than the second syscall.
const oneWriteMax = 128 << 10

// writeHit answers from the cache: status line, the stored fields with
// Age, X-Cache and Content-Length, this hop's fields, and the body.
func (c *fastConn) writeHit(st *reqState, hit httpcache.Hit) {
	c.wrote = true
	st.status = hit.Status
	hs := hitScratches.Get().(*hitScratch)
	defer hitScratches.Put(hs)
	b := append(hs.head[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(hit.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(hit.Status)...)
	b = append(b, "\r\n"...)
	b = hit.AppendFields(b)
	if fc := c.f.cfg.Load(); fc.HSTSMaxAge > 0 && st.secure {
		b = append(b, "Strict-Transport-Security: "...)
		b = append(b, hstsValue(fc)...)
		b = append(b, "\r\n"...)
	}
	if c.closeNext {
		b = append(b, "Connection: close\r\n"...)
	} else if c.req.minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	hs.head = b
	var body []byte
	if st.method != http.MethodHead && !hit.Bodyless() {
		body = hit.Entry.Body
		st.bytes = int64(len(body))
	}
	w := c.writer()
	if n := len(b) + len(body); n <= w.Available() || n > oneWriteMax || w.Buffered() > 0 {
		w.Write(b)
		w.Write(body)
		return
	}
	hs.one = append(append(hs.one[:0], b...), body...)
	if _, err := c.nc.Write(hs.one); err != nil {
		c.closeNext = true
	}
}

// fastWriter is an http.ResponseWriter on a fast-engine connection: the
// head is written from the header map, and a body of unknown length goes
// chunked (or until close, to an HTTP/1.0 client).
type fastWriter struct {
	c       *fastConn
	st      *reqState
	h       http.Header
	status  int
	head    bool // a HEAD request
	bodyOK  bool
	chunked bool
	length  int64 // Content-Length announced; -1 none
	n       int64
}

func (w *fastWriter) Header() http.Header { return w.h }

func (w *fastWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	c := w.c
	bw := c.writer()
	if status < 200 {
		if status == http.StatusSwitchingProtocols {
			return // no upgrade comes this way
		}
		writeHead(bw, status, w.h)
		return
	}
	w.status = status
	c.wrote = true
	w.bodyOK = !w.head && status != http.StatusNoContent && status != http.StatusNotModified
	w.length = -1
	if cl := w.h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			w.length = n
		}
	}
	if w.bodyOK && w.length < 0 {
		if c.req.minor == 1 {
			w.chunked = true
			w.h.Set("Transfer-Encoding", "chunked")
		} else {
			c.closeNext = true
		}
	}
	w.h.Del("Connection")
	if c.closeNext {
		w.h.Set("Connection", "close")
	} else if c.req.minor == 0 {
		w.h.Set("Connection", "keep-alive")
	}
	writeHead(bw, status, w.h)
}

func (w *fastWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyOK || len(p) == 0 {
		return len(p), nil
	}
	bw := w.c.writer()
	if w.chunked {
		if err := writeChunkSize(bw, int64(len(p))); err != nil {
			return 0, err
		}
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.n += int64(n)
	w.st.bytes = w.n
	return n, err
}

// Flush sends what is buffered (http.Flusher: a streamed response).
func (w *fastWriter) Flush() {
	if err := w.c.writer().Flush(); err != nil {
		w.c.closeNext = true
	}
}

// finish ends the body: the last chunk, or, when the body came out
// shorter than announced, a close (the client cannot tell otherwise).
func (w *fastWriter) finish() {
	switch {
	case w.status == 0:
	case w.chunked:
		w.c.writer().WriteString("0\r\n\r\n")
	case w.bodyOK && w.length >= 0 && w.n != w.length:
		w.c.closeNext = true
	}
}
