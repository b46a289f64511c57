package lb

import (
	ctls "crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	nstls "netsim/tls"
)

// frontend is one HTTP listener in front of one pool.
type frontend struct {
	srv    *Server
	name   string
	cfg    atomic.Pointer[FrontendConfig]
	states *statePool
	hs     *http.Server
	ln     net.Listener

	// HTTPS frontends only
	store  *nstls.Store
	tlsCfg *ctls.Config
}

func newFrontend(s *Server, fc FrontendConfig) *frontend {
	f := &frontend{srv: s, name: fc.Name}
	f.cfg.Store(&fc)
	f.states = newStatePool(f)
	return f
}

// ServeHTTP is the frontend's handler.
func (f *frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := f.srv
	fc := f.cfg.Load()
	st := f.states.get(f)
	st.start, st.secure = s.now(), r.TLS != nil
	f.observed(r, st)
	defer func() {
		f.finish(st, r)
		f.states.put(st)
	}()

	if st.al = s.sampledAccessLog(); st.al != nil {
		st.cw = &countingWriter{ResponseWriter: w}
		w = st.cw
	}
	if f.refuse(w, r, st, fc) {
		return
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
	f.forward(w, r, st)
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
	if st.publish {
		f.publishRequest(r, st, took)
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
