package lb

import (
	ctls "crypto/tls"
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

// frontend is one HTTP listener in front of one pool. Its requests run on
// one of two engines (FrontendConfig.Engine): "fast", lbd's own HTTP/1.1
// connection loop (engine*.go), or "nethttp", net/http's server with
// httputil.ReverseProxy (proxy_nethttp.go). Both share the selection and
// retry loop (proxy_forward.go), the routing below and the error pages.
type frontend struct {
	srv    *Server
	name   string
	cfg    atomic.Pointer[FrontendConfig]
	states *statePool
	hs     *http.Server // the nethttp engine, and HTTP/2 by ALPN on the fast one
	eng    *engine      // the fast engine; nil on nethttp
	ln     net.Listener
	fresh  freshConns // nethttp: connections not answered yet (drain_fresh.go)
	routes atomic.Pointer[routeTable]
	edge   atomic.Pointer[edge] // cache and compression (edge.go); nil: none

	// HTTPS frontends only
	store  *nstls.Store
	tlsCfg *ctls.Config
}

func newFrontend(s *Server, fc FrontendConfig) *frontend {
	f := &frontend{srv: s, name: fc.Name}
	f.cfg.Store(&fc)
	f.states = newStatePool(f)
	tbl := s.compileRoutes(&fc, nil)
	tbl.pools = *s.pools.Load() // New applied the pools first
	f.routes.Store(tbl)
	if fc.engine() == EngineFast {
		f.eng = newEngine(f)
	}
	return f
}

// reqFields is what routing reads from a request, whatever the engine.
type reqFields interface {
	header(name string) string // the first value of a field, "" when absent
	cookie(name string) (string, bool)
	clientAddr() netip.Addr
}

// reqInfo describes a request for the access log and lb.request; an
// engine fills it only when one of them wants it.
type reqInfo struct {
	client, method, host, uri, path, proto, userAgent string
}

// route fills the policy's hint and the sticky choice of st from the
// request.
func (st *reqState) route(p *pool, rf reqFields) {
	needClient := p.hashFrom == hashClient || p.table != nil
	if needClient {
		st.hint.Client = rf.clientAddr()
	}
	switch p.hashFrom {
	case hashHeader:
		st.hint.Key = rf.header(p.cfg.HashKey)
	case hashCookie:
		if v, ok := rf.cookie(p.cfg.HashKey); ok {
			st.hint.Key = v
		}
	}
	switch {
	case p.signer != nil:
		if v, ok := rf.cookie(p.signer.name); ok {
			if id, refresh, ok := p.signer.parse(v, st.start); ok {
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
}

// finish releases the backend and records metrics, the lb.request event
// and the access log. info is called only when one of the last two wants
// the request described.
func (f *frontend) finish(st *reqState, info func(*reqState) reqInfo) {
	s := f.srv
	took := s.now().Sub(st.start)
	if st.backend != nil {
		st.backend.Release()
		st.member.met.codes[classIndex(st.status)].Inc()
		st.member.met.dur.Observe(took.Seconds())
	} else if st.pool != nil {
		s.met.requests.WithLabelValues(st.pool.name, "none", codeClass[classIndex(st.status)]).Inc()
	}
	if !st.publish && st.al == nil {
		return
	}
	ri := info(st)
	if st.publish {
		f.publishRequest(&ri, st, took)
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
			zap.String("frontend", f.name), zap.String("client", ri.client), zap.String("method", ri.method),
			zap.String("host", ri.host), zap.String("uri", ri.uri), zap.String("proto", ri.proto),
			zap.Int("status", st.status), zap.String("pool", pool), zap.String("backend", id),
			zap.Duration("duration", took), zap.Int("retries", st.retries),
			zap.Int64("bytes", st.bytes), zap.String("user_agent", ri.userAgent),
		}
		if st.reason != "" {
			fields = append(fields, zap.String("error", st.reason))
		}
		if st.rt != nil {
			fields = append(fields, zap.String("route", st.rt.name))
		}
		if st.rid != nil {
			fields = append(fields, zap.String("request_id", string(st.rid)))
		}
		ce.Write(fields...)
	}
}

// redirectTarget is where a redirect_https frontend sends a request for
// host and uri: 301 for GET and HEAD, 308 for other methods (a 301 lets
// clients turn a POST into a GET).
func (f *frontend) redirectTarget(target, method, host, uri string) (int, string) {
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
	if method != http.MethodGet && method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	return code, "https://" + authority + uri
}

// hstsValue is the Strict-Transport-Security value of an HTTPS frontend.
func hstsValue(fc *FrontendConfig) string {
	return "max-age=" + strconv.FormatInt(int64(fc.HSTSMaxAge/time.Second), 10)
}
