package lb

import (
	"net/http"
	"strconv"
	"sync"

	"netsim/lb/httpcache"
)

// The edge on the fast engine. A cache hit is written straight from the
// stored entry's serialized fields into the connection (no header map,
// no backend). What goes to a backend through the edge (a miss, a
// revalidation, a response to compress, an unsafe request that
// invalidates) leaves the byte-level relay through the bridge to
// net/http's types (engine_bridge.go): the forwarding is the nethttp
// engine's, into an http.ResponseWriter on the connection. That costs
// allocations, paid only where a cache fill or an encoder costs far
// more anyway. Upgrades and requests with a body keep the relay.

// fastHeader lets the cache read the fast engine's parsed fields.
type fastHeader struct{ h *head }

func (fh fastHeader) Get(name string) string {
	if v := fh.h.get(name); v != nil {
		return string(v)
	}
	return ""
}

// edge runs the request through e; it reports false when the
// byte-level relay should forward it instead.
func (c *fastConn) edge(e *edge, st *reqState) bool {
	h := &c.req
	if h.upgrade {
		return false
	}
	// The key is the target the client asked for (before strip_prefix).
	req := httpcache.Request{Method: st.method, Host: c.hostString(h.host), Target: string(h.target), Header: fastHeader{h}}
	res := e.lookup(c, req)
	switch res.Kind {
	case httpcache.Cached:
		c.writeHit(st, res.Hit)
		return true
	case httpcache.GatewayTimeout:
		w := c.replyWriter()
		st.answerFields(headerSink(w.Header()))
		notCached(w, c.errRequest(), st)
		return true
	}
	if st.hasBody {
		// Relayed as it came: the bridge hands the body to the transport's
		// writing goroutine, which may still read the connection when the
		// backend answered early (a race with the next request's read), so
		// requests with a body are not compressed on this engine.
		if res.Fill != nil { // an unsafe request: the cache forgets the target once it succeeded
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
	c.bridge(st, func(http.ResponseWriter, *http.Request, http.HandlerFunc) {
		c.f.edgeForward(e, st, &st.std, res)
	})
	return true
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
	if st.rt != nil || st.rid != nil {
		st.answerFields(appendSink{&b}) // the route's own fields: rate limit, CORS, request ID, rules
	}
	if fc := c.f.cfg.Load(); fc.HSTSMaxAge > 0 && st.secure {
		b = append(b, "Strict-Transport-Security: "...)
		b = append(b, hstsValue(fc)...)
		b = append(b, "\r\n"...)
	}
	if c.bodyLeft {
		c.closeNext = true // the body was not read: the stream cannot go on past it
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

// appendSink is a fieldSink that appends "Name: value" lines to a buffer.
type appendSink struct{ b *[]byte }

func (s appendSink) set(name, value string) { s.add(name, value) }

func (s appendSink) add(name, value string) {
	*s.b = append(append(append(append(*s.b, name...), ": "...), value...), "\r\n"...)
}
