package lb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"netsim/lb/backend"
)

// One attempt of the fast engine: the request goes to a kept-alive
// connection of the backend, and the answer streams back to the client,
// all on the client connection's goroutine.

// attempt sends the request to b (the exchange's attempt).
func (c *fastConn) attempt(st *reqState, b *backend.Backend, m *member) error {
	st.cur, st.curM, st.err = b, m, nil
	b.Acquire()
	st.sent = c.f.srv.now()
	err := c.send(st, m)
	if err != nil && st.backend == nil {
		b.Release()
	}
	return err
}

// send writes the request to one of m's connections and relays the
// answer. A kept-alive connection the backend had closed fails before any
// answer byte: an idempotent request without a body is then sent again
// on a fresh connection to the same backend (as http.Transport does).
func (c *fastConn) send(st *reqState, m *member) error {
	bc, reused, err := m.conns.get(c.context())
	if err != nil {
		return err
	}
	replayable := !st.hasBody && isIdempotent(st.method)
	for reused && !replayable && !bc.alive() {
		// A request that cannot be sent twice goes on a connection
		// known to be open; the backend closed this one while it was
		// idle, and most likely its other idle ones with it.
		_ = bc.nc.Close()
		m.conns.closeIdle(false)
		if bc, reused, err = m.conns.get(c.context()); err != nil {
			return err
		}
	}
	for {
		err = c.writeRequest(st, bc)
		if err == nil {
			err = c.readResponseHead(st, bc)
		}
		if err == nil {
			break
		}
		_ = bc.nc.Close()
		if e := st.clientFault(err); e != nil {
			return e
		}
		if !reused || !replayable || isTimeout(err) {
			return err
		}
		m.conns.closeIdle(false) // the others idle as long are likely closed too
		reused = false
		if bc, err = m.conns.dial(c.context()); err != nil {
			return err
		}
	}
	st.answered(c.resp.status)
	keep, err := c.relay(st, bc)
	if keep {
		m.conns.put(bc)
	} else {
		_ = bc.nc.Close()
	}
	return err
}

// writeRequest writes the request head, as this hop forwards it, and its
// body to bc.
func (c *fastConn) writeRequest(st *reqState, bc *bconn) error {
	h := &c.req
	w := bc.bw
	w.Write(h.method)
	w.WriteByte(' ')
	w.Write(c.fwd)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if len(h.host) > 0 {
		w.Write(h.host)
	} else {
		w.WriteString(st.cur.Address())
	}
	w.WriteString("\r\n")
	var signer *cookieSigner
	if st.pool != nil {
		signer = st.pool.signer
	}
	var rules *headerRules
	if st.rt != nil {
		rules = st.rt.reqRules
	}
	for _, f := range h.fields {
		switch f.kind {
		case fPass, fLB:
			if rules != nil && dropsField(rules.drops, f.name) {
				continue
			}
		case fCookie:
			if signer != nil {
				if v, ok := stripCookieValue(f.value, signer.name); ok {
					if len(v) == 0 {
						continue
					}
					f.value = v
				}
			}
		default:
			continue
		}
		w.Write(f.name)
		w.WriteString(": ")
		w.Write(f.value)
		w.WriteString("\r\n")
	}
	// The client's X-Forwarded-For chain, extended (HAProxy's "option
	// forwardfor").
	xff := false
	for _, f := range h.fields {
		if f.kind != fXFF {
			continue
		}
		listItem(w, xff, "X-Forwarded-For")
		w.Write(f.value)
		xff = true
	}
	if c.clientIP != "" {
		listItem(w, xff, "X-Forwarded-For")
		w.WriteString(c.clientIP)
		xff = true
	}
	if xff {
		w.WriteString("\r\n")
	}
	if st.ridNew {
		bufSink{w}.set(st.tbl.requestID, string(st.rid))
	}
	if rules != nil {
		rules.write(bufSink{w}, st)
	}
	w.WriteString("X-Forwarded-Host: ")
	w.Write(h.host)
	if c.secure {
		w.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
	if h.upgrade {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.Write(h.get("Upgrade"))
		w.WriteString("\r\n")
	}
	switch {
	case h.chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case h.length >= 0:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(c.num[:0], h.length, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if c.bodyLeft {
		bc := bodyCopy{dst: w, src: c.br, limit: c.f.cfg.Load().MaxBodyBytes}
		var err error
		if h.chunked {
			err = bc.chunked(true)
		} else {
			err = bc.exact(h.length)
		}
		if err != nil {
			var se *srcError
			if errors.As(err, &se) {
				return &clientBodyError{err: se.err}
			}
			return err
		}
		c.bodyLeft = false
	}
	return w.Flush()
}

// listItem starts the next item of a list field: its name first.
func listItem(w *bufio.Writer, started bool, name string) {
	if started {
		w.WriteString(", ")
		return
	}
	w.WriteString(name)
	w.WriteString(": ")
}

// readResponseHead reads the backend's answer head within the pool's
// response_timeout, passing informational (1xx) answers on to the client.
func (c *fastConn) readResponseHead(st *reqState, bc *bconn) error {
	d := st.pool.cfg.ResponseTimeout
	if d > 0 {
		bc.rdl.about(bc.nc, time.Now().Add(d), d/8) // up to an eighth late
	} else {
		bc.rdl.clear(bc.nc)
	}
	for {
		if bc.br.Buffered() == 0 {
			yieldBeforeRead()
		}
		if err := c.resp.read(bc.br, false); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if s := c.resp.status; s >= 200 || s == http.StatusSwitchingProtocols {
			break
		}
		w := c.writer()
		w.WriteString("HTTP/1.1 ")
		w.Write(strconv.AppendInt(c.num[:0], int64(c.resp.status), 10))
		w.WriteByte(' ')
		w.Write(c.resp.reason)
		w.WriteString("\r\n")
		c.writeFields(st, false)
		w.WriteString("\r\n")
		if err := w.Flush(); err != nil {
			c.closeNext = true
		}
	}
	// response_timeout is for the head: the body may take its time. A
	// body already in the buffer needs no more reads, and the next
	// request sets its own deadline (a timer change saved).
	r := &c.resp
	inBuffer := st.method == http.MethodHead || r.status == http.StatusNoContent || r.status == http.StatusNotModified ||
		(!r.chunked && r.length >= 0 && int64(bc.br.Buffered()) >= r.length)
	if !inBuffer {
		bc.rdl.clear(bc.nc)
	}
	return nil
}

// writeFields writes the backend's end-to-end response fields.
func (c *fastConn) writeFields(st *reqState, withLength bool) {
	fc := c.f.cfg.Load()
	w := c.bw
	for _, f := range c.resp.fields {
		switch f.kind {
		case fLength:
			if !withLength {
				continue
			}
		case fLB:
			if (len(f.name) == len("x-lb-backend") && fc.BackendHeader) || (len(f.name) != len("x-lb-backend") && fc.HSTSMaxAge > 0 && st.secure) {
				continue
			}
		case fHop, fTE, fConn, fUpgrade, fNamed:
			continue
		default:
			if st.drops != nil && dropsField(st.drops, f.name) {
				continue
			}
		}
		w.Write(f.name)
		w.WriteString(": ")
		w.Write(f.value)
		w.WriteString("\r\n")
	}
}

// yieldBeforeRead lets the other connections run before a read that
// would most likely find nothing yet (the answer to what was just
// written): Go reads first and waits for the poller only after EAGAIN, so
// reading at once costs a failed read and a park per request; after the
// other goroutines had their turn, the answer is usually there.
func yieldBeforeRead() { runtime.Gosched() }

// How a response body is framed.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyEOF
)

// relay writes the answer's head and streams its body to the client. It
// reports whether bc may carry another request. An error is returned only
// when the answer could not be used at all (a protocol switch nobody
// asked for); a failure in the middle of a body closes the client's
// connection, which is all that can tell the client.
func (c *fastConn) relay(st *reqState, bc *bconn) (keep bool, err error) {
	r, h := &c.resp, &c.req
	fc := c.f.cfg.Load()
	if r.status == http.StatusSwitchingProtocols && !h.upgrade {
		return false, errors.New("backend switched protocols when none was asked for")
	}
	mode := bodyNone
	switch {
	case st.method == http.MethodHead || r.status == http.StatusNoContent || r.status == http.StatusNotModified || r.status < 200:
	case r.chunked:
		mode = bodyChunked
	case r.length >= 0:
		mode = bodyLength
	default:
		mode = bodyEOF
	}
	toChunked := (mode == bodyChunked || mode == bodyEOF) && h.minor == 1
	if (mode == bodyChunked || mode == bodyEOF) && h.minor == 0 {
		c.closeNext = true
	}
	w := c.writer()
	c.wrote = true
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(c.num[:0], int64(r.status), 10))
	w.WriteByte(' ')
	w.Write(r.reason)
	w.WriteString("\r\n")
	c.writeFields(st, mode == bodyLength || mode == bodyNone)
	if fc.BackendHeader {
		w.WriteString("X-LB-Backend: ")
		w.WriteString(st.backend.ID())
		w.WriteString("\r\n")
	}
	if fc.HSTSMaxAge > 0 && st.secure {
		w.WriteString("Strict-Transport-Security: ")
		w.WriteString(hstsValue(fc))
		w.WriteString("\r\n")
	}
	if st.explain {
		w.WriteString("X-LB-Decision: ")
		w.WriteString(st.decisionHeader(st.backend))
		w.WriteString("\r\n")
	}
	if st.rt != nil || st.rid != nil {
		st.answerFields(bufSink{w})
	}
	if ck := st.stickyCookie(); ck != "" {
		w.WriteString("Set-Cookie: ")
		w.WriteString(ck)
		w.WriteString("\r\n")
		if r.get("Cache-Control") == nil {
			w.WriteString("Cache-Control: private\r\n")
		}
	}
	switch {
	case r.status == http.StatusSwitchingProtocols:
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.Write(r.get("Upgrade"))
		w.WriteString("\r\n\r\n")
		c.tunnel(st, bc)
		return false, nil
	case toChunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if c.closeNext {
		w.WriteString("Connection: close\r\n")
	} else if h.minor == 0 {
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
	bcp := bodyCopy{dst: w, src: bc.br, flush: true}
	var cerr error
	switch mode {
	case bodyLength:
		cerr = bcp.exact(r.length)
	case bodyChunked:
		cerr = bcp.chunked(toChunked)
	case bodyEOF:
		cerr = bcp.untilEOF(toChunked)
	}
	st.bytes = bcp.n
	if cerr != nil {
		c.closeNext = true
		var se *srcError
		if errors.As(cerr, &se) {
			st.backend.Failure(st.pool.ejectThreshold(st.snap, st.backend), "response body: "+shortErr(se.err))
		}
		return false, nil
	}
	return mode != bodyEOF && !r.close && r.minor == 1, nil
}

// tunnel joins the client and the backend after a protocol switch
// (WebSocket) until either side closes; the client connection ends with it.
func (c *fastConn) tunnel(st *reqState, bc *bconn) {
	c.closeNext = true
	if err := c.bw.Flush(); err != nil {
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() { // owned by this call, which waits for it
		defer close(done)
		_, _ = io.Copy(bc.nc, c.br)
		closeWrite(bc.nc)
	}()
	n, _ := io.Copy(c.nc, bc.br)
	st.bytes = n
	closeWrite(c.nc)
	_ = bc.nc.Close()
	_ = c.nc.Close()
	<-done
}

func closeWrite(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// stripCookieValue removes the cookie called name from a Cookie field's
// value; ok is false when it was not there (nothing to change).
func stripCookieValue(v []byte, name string) ([]byte, bool) {
	if _, ok := cookieValue(v, name); !ok {
		return nil, false
	}
	out := make([]byte, 0, len(v))
	for len(v) > 0 {
		var part []byte
		part, v = nextCookie(v)
		if len(part) == 0 {
			continue
		}
		if eq := bytes.IndexByte(part, '='); (eq >= 0 && string(part[:eq]) == name) || (eq < 0 && string(part) == name) {
			continue
		}
		if len(out) > 0 {
			out = append(out, ';', ' ')
		}
		out = append(out, part...)
	}
	return out, true
}
