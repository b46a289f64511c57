package lb

import (
	"context"
	ctls "crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	nstls "netsim/tls"

	"netsim/lb/backend"
	"netsim/lb/policy"
)

// frontend is one HTTP listener in front of one pool.
type frontend struct {
	srv   *Server
	name  string
	cfg   atomic.Pointer[FrontendConfig]
	proxy *httputil.ReverseProxy
	hs    *http.Server
	ln    net.Listener

	// HTTPS frontends only
	store  *nstls.Store
	tlsCfg *ctls.Config
}

type stateKey struct{}

// reqState follows one request through the handler, the transport and the
// error handler. Pooled: it is reset before reuse.
type reqState struct {
	fe       *frontend
	pool     *pool
	snap     *snapshot
	hint     policy.Hint
	sticky   *backend.Backend // preferred by cookie or stick table
	stickyID string           // backend named by a valid cookie
	refresh  bool             // re-issue the cookie even if it matches
	secure   bool
	backend  *backend.Backend // the one that answered (Acquired)
	member   *member
	failed   *backend.Backend // the last one that failed, for messages
	body     *reqBody         // the request body, when there is one
	al       *zap.Logger      // access logger when this request is sampled
	cw       *countingWriter  // counts response bytes for the access log
	status   int
	retries  int
	reason   string
	start    time.Time
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

func newFrontend(s *Server, fc FrontendConfig) *frontend {
	f := &frontend{srv: s, name: fc.Name}
	f.cfg.Store(&fc)
	f.proxy = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    (*lbTransport)(f),
		ErrorHandler: f.proxyError,
		BufferPool:   bufPool{},
		ErrorLog:     serverErrorLog(s.log.With(zap.String("frontend", fc.Name))),
	}
	return f
}

// rewrite runs after ReverseProxy has removed hop-by-hop headers and any
// X-Forwarded-* the client sent. The client's X-Forwarded-For chain is kept
// and extended (HAProxy's "option forwardfor"); -Host and -Proto describe
// this hop. The Host header is passed through; the backend address is set
// by the transport, which chooses the backend.
func rewrite(pr *httputil.ProxyRequest) {
	if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	pr.Out.Host = pr.In.Host
	pr.Out.URL.Scheme = "http"
	st, _ := pr.In.Context().Value(stateKey{}).(*reqState)
	if st != nil && st.pool != nil && st.pool.tlsCfg != nil {
		pr.Out.URL.Scheme = "https" // re-encryption (pool tls)
	}
	// The sticky cookie is lbd's business, not the application's
	// (HAProxy's "cookie … insert indirect").
	if st != nil && st.pool != nil && st.pool.signer != nil {
		stripCookie(pr.Out.Header, st.pool.signer.name)
	}
}

// stripCookie removes the cookie called name from the Cookie headers of h.
func stripCookie(h http.Header, name string) {
	vals := h["Cookie"]
	found := false
	for _, v := range vals {
		if strings.Contains(v, name) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var out []string
	for _, v := range vals {
		var keep []string
		for _, part := range strings.Split(v, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if n, _, _ := strings.Cut(p, "="); n == name {
				continue
			}
			keep = append(keep, p)
		}
		if len(keep) > 0 {
			out = append(out, strings.Join(keep, "; "))
		}
	}
	if len(out) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = out
}

// ServeHTTP is the frontend's handler.
func (f *frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := f.srv
	fc := f.cfg.Load()
	st := statePool.Get().(*reqState)
	*st = reqState{fe: f, start: s.now(), secure: r.TLS != nil}
	defer func() {
		f.finish(st, r)
		*st = reqState{}
		statePool.Put(st)
	}()

	if st.al = s.sampledAccessLog(); st.al != nil {
		st.cw = &countingWriter{ResponseWriter: w}
		w = st.cw
	}
	if fc.RedirectHTTPS != "" {
		st.status = f.redirectHTTPS(w, r, fc.RedirectHTTPS)
		return
	}
	if fc.HSTSMaxAge > 0 && r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", "max-age="+strconv.FormatInt(int64(fc.HSTSMaxAge/time.Second), 10))
	}
	p := s.pool(fc.Pool)
	if p == nil {
		st.status = http.StatusServiceUnavailable
		writeProxyError(w, r, st.status, "no_pool", fmt.Sprintf("frontend %s routes to pool %q, which does not exist", f.name, fc.Pool), nil)
		return
	}
	st.pool = p
	st.snap = p.snap.Load()
	if max := fc.MaxBodyBytes; max > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > max {
			st.status = http.StatusRequestEntityTooLarge
			s.met.errors.WithLabelValues(p.name, "body_too_large").Inc()
			writeProxyError(w, r, st.status, "body_too_large", fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max), nil)
			return
		}
		st.body = &reqBody{ReadCloser: http.MaxBytesReader(w, r.Body, max)}
		r.Body = st.body
	} else if r.Body != nil && r.Body != http.NoBody {
		st.body = &reqBody{ReadCloser: r.Body}
		r.Body = st.body
	}

	needClient := p.hashFrom == hashClient || p.table != nil
	if needClient {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			st.hint.Client = ap.Addr().Unmap()
		}
	}
	switch p.hashFrom {
	case hashHeader:
		st.hint.Key = r.Header.Get(p.cfg.HashKey)
	case hashCookie:
		if c, err := r.Cookie(p.cfg.HashKey); err == nil {
			st.hint.Key = c.Value
		}
	}
	switch {
	case p.signer != nil:
		if c, err := r.Cookie(p.signer.name); err == nil {
			if id, refresh, ok := p.signer.parse(c.Value, st.start); ok {
				st.stickyID, st.refresh = id, refresh
				if m := st.snap.byID[id]; m != nil && m.b.Available() {
					st.sticky = m.b
				}
			}
		}
	case p.table != nil && st.hint.Client.IsValid():
		if id, ok := p.table.get(st.hint.Client, st.start); ok {
			if m := st.snap.byID[id]; m != nil && m.b.Available() {
				st.sticky = m.b
			}
		}
	}
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// finish releases the backend and records metrics and the access log.
func (f *frontend) finish(st *reqState, r *http.Request) {
	s := f.srv
	took := s.now().Sub(st.start)
	if st.backend != nil {
		st.backend.Release()
		st.member.met.codes[classIndex(st.status)].Inc()
		st.member.met.dur.Observe(took.Seconds())
	} else if st.pool != nil {
		s.met.requests.WithLabelValues(st.pool.name, "none", codeClass[classIndex(st.status)]).Inc()
	}
	if st.al == nil {
		return
	}
	if ce := st.al.Check(zap.InfoLevel, "access"); ce != nil {
		id := "-"
		if st.backend != nil {
			id = st.backend.ID()
		}
		pool := "-"
		if st.pool != nil {
			pool = st.pool.name
		}
		fields := []zap.Field{
			zap.String("frontend", f.name), zap.String("client", r.RemoteAddr), zap.String("method", r.Method),
			zap.String("host", r.Host), zap.String("uri", r.RequestURI), zap.String("proto", r.Proto),
			zap.Int("status", st.status), zap.String("pool", pool), zap.String("backend", id),
			zap.Duration("duration", took), zap.Int("retries", st.retries),
			zap.Int64("bytes", st.cw.n), zap.String("user_agent", r.UserAgent()),
		}
		if st.reason != "" {
			fields = append(fields, zap.String("error", st.reason))
		}
		ce.Write(fields...)
	}
}

// countingWriter counts the response body bytes for the access log. Unwrap
// lets http.ResponseController (used by ReverseProxy for flushing and for
// WebSocket hijacking) reach the real writer.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// lbTransport chooses the backend, sends the request with that backend's
// connection pool, and retries once elsewhere when that is safe.
type lbTransport frontend

var (
	errNoBackend    = errors.New("no backend available")
	errQueueTimeout = errors.New("queue timeout")
)

// reqBody wraps the client's request body. Close does nothing, so the
// body survives a transport that failed before reading it (a refused
// connection: the transport closes what it was given) and can be sent to
// another backend; the server closes the real body when the handler
// returns. It also notes when the body went over max_body_bytes, read by
// the transport's writer goroutine.
type reqBody struct {
	io.ReadCloser
	tooBig atomic.Pointer[http.MaxBytesError]
}

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.tooBig.Store(mbe)
		}
	}
	return n, err
}

func (*reqBody) Close() error { return nil }

type noCloseBody struct{ io.ReadCloser }

func (noCloseBody) Close() error { return nil }

func isIdempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// RoundTrip implements http.RoundTripper.
func (t *lbTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if st == nil || st.pool == nil {
		return nil, errNoBackend
	}
	p, sn := st.pool, st.snap
	b := st.sticky
	if b == nil || !b.Available() {
		b = p.pick(sn, st.hint)
	}
	if b == nil && p.cfg.QueueTimeout > 0 && sn.queueable() {
		b = p.waitPick(req.Context(), sn, st.hint, p.cfg.QueueTimeout)
		if b == nil && req.Context().Err() == nil {
			return nil, errQueueTimeout
		}
	}
	if b == nil {
		return nil, errNoBackend
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody {
		// ReverseProxy's own body wrapper refuses reads once closed, and
		// the transport closes it even when the connect failed: shield it
		// so a retry can still send the body.
		req.Body = noCloseBody{req.Body}
	}
	var tried [4]*backend.Backend
	retries := *p.cfg.Retries
	for attempt := 0; ; attempt++ {
		tried[attempt] = b
		m := sn.byPtr[b]
		req.URL.Host = b.Address()
		b.Acquire()
		sent := t.srv.now()
		resp, err := m.tr.RoundTrip(req)
		if err == nil && st.body != nil {
			if mbe := st.body.tooBig.Load(); mbe != nil {
				// The backend answered a truncated body; the client
				// gets 413, not whatever the backend made of it.
				resp.Body.Close()
				b.Release()
				return nil, mbe
			}
		}
		if err == nil {
			b.ObserveLatency(t.srv.now().Sub(sent))
			if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
				b.Failure(p.ejectThreshold(sn, b), "status "+strconv.Itoa(resp.StatusCode))
			} else {
				b.Success()
			}
			st.backend, st.member, st.status = b, m, resp.StatusCode
			t.decorate(st, resp)
			return resp, nil
		}
		b.Release()
		st.failed = b
		if st.body != nil {
			if mbe := st.body.tooBig.Load(); mbe != nil {
				return nil, mbe
			}
		}
		if req.Context().Err() != nil {
			return nil, err // the client went away: neither the backend's fault nor retryable
		}
		dial := isDialError(err)
		timeout := !dial && isTimeout(err)
		if !timeout {
			b.Failure(p.ejectThreshold(sn, b), shortErr(err))
		}
		// Retry a refused/unreachable connect for any method (nothing was
		// sent), and a reset before any response byte for an idempotent
		// request without a body. Never a timeout: the backend may still
		// be working on it.
		retryable := dial || (!timeout && isIdempotent(req.Method) && !hasBody)
		if !retryable || attempt >= retries || attempt+1 >= len(tried) {
			return nil, err
		}
		next := p.pickOther(sn, st.hint, tried[:attempt+1])
		if next == nil {
			return nil, err
		}
		reason := "reset"
		if dial {
			reason = "connect"
		}
		t.srv.met.retries.WithLabelValues(p.name, reason).Inc()
		if ce := t.srv.log.Check(zap.DebugLevel, "retrying on another backend"); ce != nil {
			ce.Write(zap.String("pool", p.name), zap.String("from", b.ID()), zap.String("to", next.ID()), zap.Error(err))
		}
		st.retries++
		b = next
	}
}

// decorate adds the debugging header and the sticky cookie to a backend's
// response.
func (t *lbTransport) decorate(st *reqState, resp *http.Response) {
	f := (*frontend)(t)
	fc := f.cfg.Load()
	if fc.BackendHeader {
		resp.Header.Set("X-LB-Backend", st.backend.ID())
	}
	if fc.HSTSMaxAge > 0 && st.secure {
		resp.Header.Del("Strict-Transport-Security") // lbd's policy replaces the backend's
	}
	p := st.pool
	switch {
	case p.signer != nil:
		if st.stickyID != st.backend.ID() || st.refresh {
			// New client, forged or expired cookie, or its backend is gone,
			// down or draining: the cookie now names the backend that
			// actually answered (the Traefik #1299 fix).
			resp.Header.Add("Set-Cookie", p.signer.cookie(st.backend.ID(), st.start, st.secure).String())
			// A shared cache must not hand this cookie to other clients
			// (HAProxy's "nocache").
			if resp.Header.Get("Cache-Control") == "" {
				resp.Header.Set("Cache-Control", "private")
			}
		}
	case p.table != nil && st.hint.Client.IsValid():
		p.table.put(st.hint.Client, st.backend.ID(), st.start)
	}
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial tcp") {
		return "connect: " + s[i+2:]
	}
	return s
}

// proxyError is ReverseProxy's ErrorHandler: every failure ends here with
// a status and a body that says why.
func (f *frontend) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		writeProxyError(w, r, http.StatusBadGateway, "proxy_error", err.Error(), nil)
		return
	}
	pool := st.pool.name
	var (
		status int
		code   string
		msg    string
		extra  map[string]any
	)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errNoBackend):
		status, code = http.StatusServiceUnavailable, "no_backend"
		msg = fmt.Sprintf("pool %s has no backend able to take the request", pool)
		extra = map[string]any{"backends": st.snap.summary()}
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, errQueueTimeout):
		status, code = http.StatusServiceUnavailable, "queue_timeout"
		msg = fmt.Sprintf("every backend of pool %s stayed at its max_connections for %v", pool, st.pool.cfg.QueueTimeout)
		extra = map[string]any{"backends": st.snap.summary()}
		w.Header().Set("Retry-After", "1")
	case errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, "body_too_large"
		msg = fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)
	case r.Context().Err() != nil:
		// The client went away; nobody reads this answer. 499 as nginx logs it.
		st.status, st.reason = 499, "client closed request"
		f.srv.met.errors.WithLabelValues(pool, "client_closed").Inc()
		return
	case isDialError(err):
		status, code = http.StatusBadGateway, "backend_unreachable"
		msg = fmt.Sprintf("could not connect to backend %s: %s", failedName(st), shortErr(err))
	case isTimeout(err):
		status, code = http.StatusGatewayTimeout, "backend_timeout"
		msg = fmt.Sprintf("backend %s did not answer within %v", failedName(st), st.pool.cfg.ResponseTimeout)
	default:
		status, code = http.StatusBadGateway, "backend_error"
		msg = fmt.Sprintf("backend %s failed: %v", failedName(st), err)
	}
	if st.retries > 0 {
		msg += fmt.Sprintf(" (after %d retry on another backend)", st.retries)
	}
	st.status, st.reason = status, code
	f.srv.met.errors.WithLabelValues(pool, code).Inc()
	if ce := f.srv.log.Check(zap.DebugLevel, "proxy error"); ce != nil {
		ce.Write(zap.String("pool", pool), zap.Int("status", status), zap.String("reason", msg))
	}
	writeProxyError(w, r, status, code, msg, extra)
}

func failedName(st *reqState) string {
	if st.failed != nil {
		return st.failed.String()
	}
	return "?"
}

// writeProxyError answers with JSON, or HTML when the client prefers it
// (a browser).
func writeProxyError(w http.ResponseWriter, r *http.Request, status int, code, msg string, extra map[string]any) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-LB-Error", code)
	var body string
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		body = fmt.Sprintf("<!doctype html>\n<html><head><title>%d %s</title></head><body>\n<h1>%d %s</h1>\n<p>%s</p>\n<p><small>lbd: %s</small></p>\n</body></html>\n",
			status, http.StatusText(status), status, http.StatusText(status), html.EscapeString(msg), code)
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
		e := map[string]any{"code": code, "message": msg, "status": status}
		if extra != nil {
			e["context"] = extra
		}
		body = string(jsonIndent(map[string]any{"error": e}))
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// bufPool recycles the 32 KiB copy buffers of ReverseProxy.
type bufPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufPool) Get() []byte  { return *(copyBufs.Get().(*[]byte)) }
func (bufPool) Put(b []byte) { copyBufs.Put(&b) }

// redirectHTTPS sends the client to the same host and URI on the HTTPS
// frontend named target: 301 for GET and HEAD, 308 for other methods (a
// 301 lets clients turn a POST into a GET). It returns the status.
func (f *frontend) redirectHTTPS(w http.ResponseWriter, r *http.Request, target string) int {
	s := f.srv
	port := "443"
	var listen string
	for _, fc := range s.Config().Frontends {
		if fc.Name == target {
			listen = fc.Listen
		}
	}
	if a, ok := s.Addr(target).(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	} else if _, p, err := net.SplitHostPort(listen); err == nil {
		port = p
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		host, _, _ = net.SplitHostPort(listen)
	}
	authority := host
	if strings.Contains(host, ":") {
		authority = "[" + host + "]"
	}
	if port != "443" {
		authority = net.JoinHostPort(host, port)
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	w.Header().Set("Location", "https://"+authority+r.URL.RequestURI())
	w.WriteHeader(code)
	return code
}
