package lb

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// route is one compiled entry of a frontend's routes (RouteConfig): the
// match, what to do with a match, and the route's per-request features.
// A route is immutable once built, except its counters and its limiter's
// numbers (admin API); a reload builds new routes and carries over, by
// frontend and route name, the hit counter and — while the rate_limit
// block stays the same — the limiter with its buckets.
//
// The request path of a route, on both engines (route_serve.go):
//
//	match → hits++ → CORS preflight (answered here) → rate limit (429
//	here) → redirect / respond (answered here) → strip_prefix → request
//	header rules → [wrap: per-route handlers] → the pool's forward loop →
//	response header rules, CORS and rate-limit fields on the answer.
//
// Hook for per-route features that act on whole responses (a response
// cache, compression): add their compiled config to route (as limit and
// cors are), built in compileRoute (carried across reloads there, as
// the limiter is), and set route.wrap. Both engines run it with next
// the pool's forward loop: the nethttp engine in ServeHTTP
// (proxy_nethttp.go), the fast engine through its bridge to net/http's
// types (engine_bridge.go; routes without wrap keep the byte relay).
type route struct {
	name     string
	index    int
	cfg      RouteConfig
	host     string // lower case; "" any
	wildcard bool   // host is ".domain": any name below it
	prefix   string // path_prefix without a trailing /
	exact    string
	methods  []string
	headers  []headerMatch
	pool     string // "" when the route redirects or responds
	strip    bool
	redirect *RedirectConfig
	respond  *RespondConfig
	limit    *limiter // nil: no rate limit
	reqRules *headerRules
	resRules *headerRules
	cors     *corsPolicy
	drops    []string // answer fields lbd replaces (headers.go)
	hits     *atomic.Uint64
	met      prometheus.Counter
	// wrap, when set, runs around the forwarding of this route's
	// requests (see above). Nothing sets it yet.
	wrap Middleware
	// edge is the route's cache and compression (edge.go), set by
	// buildEdges before the table is published; nil: the frontend's.
	edge *edge
}

// Middleware is a per-route step around the forwarding of a request: it
// may answer by itself (a cache hit) or call next, with the request or
// a writer of its own (compression, storing an answer). next forwards to
// the route's pool and writes the backend's answer (or lbd's error page)
// to the writer it is given.
type Middleware func(w http.ResponseWriter, r *http.Request, next http.HandlerFunc)

type headerMatch struct {
	name, value string // value "*": any
}

// routeTable is a frontend's compiled routes.
type routeTable struct {
	routes    []*route
	defHits   *atomic.Uint64 // requests that matched no route
	requestID string         // the request-ID field's name; "" off
	drops     []string       // answer fields replaced on requests no route took
	// pools are the pools this table's requests go to: set once, before
	// the table is published, to the map in force when it was swapped in
	// (a reload's new pools plus the ones it dropped), so a request that
	// read this table finds every pool it or its frontend config names
	// however many reloads commit meanwhile.
	pools map[string]*pool
}

// pool is the pool named name, as this table's requests see it.
func (t *routeTable) pool(name string) *pool { return t.pools[name] }

// compileRoutes builds fc's table; old is the running one (nil at
// start), whose counters and unchanged limiters are carried over.
func (s *Server) compileRoutes(fc *FrontendConfig, old *routeTable) *routeTable {
	t := &routeTable{defHits: new(atomic.Uint64)}
	if fc.RequestID != "" {
		t.requestID = fc.RequestID // as written: answers carry it so
	}
	byName := map[string]*route{}
	if old != nil {
		t.defHits = old.defHits
		for _, r := range old.routes {
			byName[r.name] = r
		}
	}
	if t.requestID != "" {
		t.drops = []string{t.requestID}
	}
	for i, rc := range fc.Routes {
		r := compileRoute(i, rc, byName[rc.Name])
		r.met = s.met.routeHits.WithLabelValues(fc.Name, rc.Name)
		r.drops = append(r.drops, t.drops...)
		t.routes = append(t.routes, r)
	}
	return t
}

// compileRoute builds one route; old is the running route of that name.
func compileRoute(i int, rc RouteConfig, old *route) *route {
	m := rc.Match
	r := &route{name: rc.Name, index: i, cfg: rc, pool: rc.Pool, strip: rc.StripPrefix, redirect: rc.Redirect, respond: rc.Respond,
		exact: m.Path, prefix: strings.TrimSuffix(m.PathPrefix, "/"), hits: new(atomic.Uint64)}
	if m.PathPrefix == "/" {
		r.prefix = ""
	}
	if h := strings.ToLower(m.Host); strings.HasPrefix(h, "*.") {
		r.host, r.wildcard = h[1:], true
	} else {
		r.host = h
	}
	for _, meth := range m.Methods {
		r.methods = append(r.methods, strings.ToUpper(meth))
	}
	for name, v := range m.Headers {
		r.headers = append(r.headers, headerMatch{name: http.CanonicalHeaderKey(name), value: v})
	}
	r.reqRules = compileHeaderRules(rc.RequestHeaders)
	r.resRules = compileHeaderRules(rc.ResponseHeaders)
	if r.resRules != nil {
		r.drops = append(r.drops, r.resRules.drops...)
	}
	if rc.CORS != nil {
		r.cors = newCORS(*rc.CORS)
		r.drops = append(r.drops, corsFields...)
	}
	if rc.RateLimit != nil {
		r.drops = append(r.drops, rateLimitFields...)
	}
	if old != nil {
		r.hits = old.hits
	}
	if l := rc.RateLimit; l != nil {
		if old != nil && old.limit != nil && old.limit.cfg == *l {
			r.limit = old.limit // same block: the buckets (and numbers set through the API) stay
		} else {
			r.limit = newLimiter(rc.Name, *l)
		}
	}
	return r
}

func (t *routeTable) has(name string) bool {
	for _, r := range t.routes {
		if r.name == name {
			return true
		}
	}
	return false
}

// fieldGetter is how a route reads a request's header fields.
type fieldGetter interface {
	// field is the first value of the field called name; ok is false
	// when the request has none.
	field(name string) (v []byte, ok bool)
}

// match is the first route that takes the request, nil when none does.
// host is the Host field (a port is ignored), path the target's path
// (before any '?').
func (t *routeTable) match(host, path []byte, method string, fg fieldGetter) *route {
	for _, r := range t.routes {
		if r.matches(host, path, method, fg) {
			return r
		}
	}
	return nil
}

func (r *route) matches(host, path []byte, method string, fg fieldGetter) bool {
	if r.host != "" && !hostMatches(host, r.host, r.wildcard) {
		return false
	}
	switch {
	case r.exact != "":
		if string(path) != r.exact {
			return false
		}
	case r.prefix != "":
		if !bytes.HasPrefix(path, []byte(r.prefix)) || (len(path) > len(r.prefix) && path[len(r.prefix)] != '/') {
			return false
		}
	}
	if len(r.methods) > 0 {
		found := false
		for _, m := range r.methods {
			if m == method {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, h := range r.headers {
		v, ok := fg.field(h.name)
		if !ok || (h.value != "*" && string(v) != h.value) {
			return false
		}
	}
	return true
}

// hostMatches compares a Host field (any port and a trailing dot
// ignored, case ignored) with a route's host: exact, or with wildcard any
// name ending in suffix (".example.test") but not the bare domain.
func hostMatches(host []byte, want string, wildcard bool) bool {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host, ']') < i {
		host = host[:i]
	}
	host = bytes.TrimSuffix(host, []byte("."))
	if !wildcard {
		return equalFoldString(host, want)
	}
	return len(host) > len(want) && equalFoldString(host[len(host)-len(want):], want)
}

// stripped is path with the route's prefix taken off ("/" at least);
// dst is scratch space it may use.
func (r *route) stripped(target []byte, dst []byte) []byte {
	if !r.strip || r.prefix == "" {
		return target
	}
	rest := target[len(r.prefix):]
	if len(rest) > 0 && rest[0] == '/' {
		return rest
	}
	return append(append(dst[:0], '/'), rest...)
}
