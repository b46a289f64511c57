package lb

import (
	"bufio"
	"net/http"
	"strconv"
)

// lbd's own answers on the fast engine (error pages, redirects) go
// through replyWriter, an http.ResponseWriter over the connection's
// buffered writer, so that both engines write them with the same code
// (writeProxyError). They are rare: a header map is fine here.
type replyWriter struct {
	c      *fastConn
	h      http.Header
	status int
}

func (c *fastConn) replyWriter() *replyWriter {
	return &replyWriter{c: c, h: http.Header{}}
}

func (w *replyWriter) Header() http.Header { return w.h }

func (w *replyWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	c := w.c
	bw := c.writer()
	if w.h.Get("Connection") == "close" || c.bodyLeft {
		// Also when the request body is not all read: the stream cannot
		// be read past it, so the client must know not to reuse it.
		c.closeNext = true
	}
	w.h.Del("Connection")
	if c.closeNext {
		w.h.Set("Connection", "close")
	}
	c.wrote = true
	writeHead(bw, status, w.h)
}

// writeHead writes a status line and the fields of h.
func writeHead(bw *bufio.Writer, status int, h http.Header) {
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(status))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(status))
	bw.WriteString("\r\n")
	_ = h.Write(bw)
	bw.WriteString("\r\n")
}

func (w *replyWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.c.st().bytes += int64(len(p))
	return w.c.writer().Write(p)
}

// st is the state of the connection's current request.
func (c *fastConn) st() *reqState { return c.cur }

// errRequest is what writeProxyError and fail read of the request: its
// method and Accept field.
func (c *fastConn) errRequest() *http.Request {
	r := &http.Request{Method: methodString(c.req.method), Header: http.Header{}}
	if a := c.req.get("Accept"); a != nil {
		r.Header.Set("Accept", string(a))
	}
	return r
}

// fail answers st with lbd's error page for err.
func (c *fastConn) fail(st *reqState, err error) {
	if c.wrote {
		// The backend's answer had begun: the client's connection is
		// all that can tell it something went wrong.
		c.closeNext = true
		return
	}
	w := c.replyWriter()
	if fc := c.f.cfg.Load(); fc.HSTSMaxAge > 0 && st.secure {
		w.h.Set("Strict-Transport-Security", hstsValue(fc))
	}
	c.f.fail(w, c.errRequest(), st, err)
}
