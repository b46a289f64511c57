package lb

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

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

func (x *stdExchange) field(name string) ([]byte, bool) {
	vs := x.r.Header.Values(name)
	if len(vs) == 0 {
		return nil, false
	}
	return []byte(vs[0]), true
}

func (x *stdExchange) reply() (http.ResponseWriter, *http.Request) { return x.w, x.r }

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

// rewriteTarget applies what routing changed: the path without the
// route's prefix, and a request ID lbd made.
func (x *stdExchange) rewriteTarget(st *reqState, fwd []byte) {
	r := x.r
	if st.ridNew {
		r.Header.Set(st.tbl.requestID, string(st.rid))
	}
	if st.rt == nil || !st.rt.strip {
		return
	}
	p, _, _ := strings.Cut(string(fwd), "?")
	u := *r.URL
	u.Path, u.RawPath = p, ""
	if dec, err := url.PathUnescape(p); err == nil && dec != p {
		u.Path, u.RawPath = dec, p
	}
	r.URL = &u
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
		gone := st.status == 499
		f.states.put(st)
		if gone {
			// net/http answers 200 for a handler that wrote nothing; a
			// client that only half-closed would read that as success.
			// Close instead (FuzzEngineRequest found it).
			panic(http.ErrAbortHandler)
		}
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
	poolName := fc.Pool
	st.method = r.Method
	tbl := f.routes.Load()
	if len(tbl.routes) > 0 || tbl.requestID != "" {
		var fwd []byte
		var answered bool
		poolName, fwd, answered = f.routed(st, x, fc, []byte(r.Host), []byte(r.URL.RequestURI()), nil)
		if answered {
			return
		}
		x.rewriteTarget(st, fwd)
		tbl = st.tbl // the table routed read
	} else {
		tbl.defHits.Add(1)
	}
	p := tbl.pool(poolName)
	if p == nil {
		st.status = http.StatusServiceUnavailable
		writeProxyError(w, r, st.status, "no_pool", fmt.Sprintf("frontend %s routes to pool %q, which does not exist", f.name, poolName), nil)
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
	if e := st.edgeOf(f); e != nil {
		f.serveEdge(st, x, e)
		return
	}
	if rt := st.rt; rt != nil && rt.wrap != nil {
		sw := &statusWriter{ResponseWriter: w}
		rt.wrap(sw, r, func(w http.ResponseWriter, r *http.Request) {
			x.w, x.r = w, r
			f.forward(x, st)
		})
		if st.status == 0 {
			st.status = sw.status // a handler answered by itself
		}
		return
	}
	f.forward(x, st)
}

// statusWriter notes the status a per-route handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
