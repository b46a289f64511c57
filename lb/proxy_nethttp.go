package lb

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"netsim/lb/backend"
)

// The nethttp engine: net/http's server calls ServeHTTP, and each attempt
// goes through httputil.ReverseProxy and the backend's *http.Transport.

// stdExchange is a request of the nethttp engine.
type stdExchange struct {
	f *frontend
	w http.ResponseWriter
	r *http.Request
}

func (x *stdExchange) context() context.Context { return x.r.Context() }

func (x *stdExchange) header(name string) string { return x.r.Header.Get(name) }

func (x *stdExchange) cookie(name string) (string, bool) {
	c, err := x.r.Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

func (x *stdExchange) clientAddr() netip.Addr {
	if ap, err := netip.ParseAddrPort(x.r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (x *stdExchange) fail(st *reqState, err error) { x.f.fail(x.w, x.r, st, err) }

// attempt sends the request to b through its own transport. It returns
// nil when the backend's answer went to the client, else what failed; on
// failure b is released again.
func (x *stdExchange) attempt(st *reqState, b *backend.Backend, m *member) error {
	st.cur, st.curM, st.err = b, m, nil
	st.rp.Transport = m.tr
	if st.explain {
		x.w.Header().Set("X-LB-Decision", st.decisionHeader(b))
	}
	b.Acquire()
	st.sent = st.fe.srv.now()
	st.rp.ServeHTTP(x.w, x.r)
	if st.err != nil && st.backend == nil {
		b.Release()
	}
	return st.err
}

// stdInfo describes a nethttp request for the access log and events.
func stdInfo(st *reqState) reqInfo {
	r := st.std.r
	return reqInfo{client: r.RemoteAddr, method: r.Method, host: r.Host, uri: r.RequestURI, path: r.URL.Path,
		proto: r.Proto, userAgent: r.UserAgent()}
}

// ServeHTTP is the nethttp engine's handler.
func (f *frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := f.srv
	fc := f.cfg.Load()
	st := f.states.get(f)
	st.start, st.secure = s.now(), r.TLS != nil
	st.std = stdExchange{f: f, w: w, r: r}
	x := &st.std
	f.observed(x, st)
	defer func() {
		if st.cw != nil {
			st.bytes = st.cw.n
		}
		f.finish(st, stdInfo)
		f.states.put(st)
	}()

	if st.al = s.sampledAccessLog(); st.al != nil {
		st.cw = &countingWriter{ResponseWriter: w}
		w = st.cw
		x.w = w
	}
	if f.refuse(w, r, st, fc) {
		return
	}
	if fc.RedirectHTTPS != "" {
		code, loc := f.redirectTarget(fc.RedirectHTTPS, r.Method, r.Host, r.URL.RequestURI())
		w.Header().Set("Location", loc)
		w.WriteHeader(code)
		st.status = code
		return
	}
	if fc.HSTSMaxAge > 0 && r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", hstsValue(fc))
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
	st.method, st.hasBody = r.Method, st.body != nil && r.ContentLength != 0
	st.route(p, x)
	f.serveEdge(st, x)
}
