package lb

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fields is a fieldGetter over a map (canonical names).
type fields map[string]string

func (f fields) field(name string) ([]byte, bool) {
	v, ok := f[name]
	if !ok {
		return nil, false
	}
	return []byte(v), true
}

// testRoutes compiles routes as a frontend of a server would.
func testRoutes(t *testing.T, routes []RouteConfig) *routeTable {
	t.Helper()
	cfg := testConfig("127.0.0.1:1")
	cfg.Pools = append(cfg.Pools, PoolConfig{Name: "api", Backends: []BackendConfig{{ID: "a1", Address: "127.0.0.1:2"}}},
		PoolConfig{Name: "static", Backends: []BackendConfig{{ID: "s1", Address: "127.0.0.1:3"}}})
	cfg.Frontends[0].Routes = routes
	return newServer(t, cfg).frontends[0].routes.Load()
}

// TestRoutePrecedence: the first route whose every condition holds wins;
// host matching ignores the port and case, *.domain is not the domain;
// path prefixes match at segment boundaries.
func TestRoutePrecedence(t *testing.T) {
	tbl := testRoutes(t, []RouteConfig{
		{Name: "canary", Match: RouteMatch{PathPrefix: "/api", Headers: map[string]string{"x-canary": "1"}}, Pool: "web"},
		{Name: "api-write", Match: RouteMatch{PathPrefix: "/api/", Methods: []string{"post", "PUT"}}, Pool: "web"},
		{Name: "api", Match: RouteMatch{PathPrefix: "/api"}, Pool: "api"},
		{Name: "health", Match: RouteMatch{Path: "/health"}, Respond: &RespondConfig{Body: "ok"}},
		{Name: "www", Match: RouteMatch{Host: "www.example.test", PathPrefix: "/static"}, Pool: "static"},
		{Name: "sub", Match: RouteMatch{Host: "*.example.test"}, Pool: "static"},
		{Name: "traced", Match: RouteMatch{Headers: map[string]string{"X-Trace": "*"}}, Pool: "web"},
		{Name: "old", Match: RouteMatch{PathPrefix: "/old"}, Redirect: &RedirectConfig{Location: "/new%{path}"}, StripPrefix: true},
	})
	cases := []struct {
		name, host, path, method string
		hdr                      fields
		want                     string // "" = the frontend's pool
	}{
		{"prefix itself", "h", "/api", "GET", nil, "api"},
		{"prefix and below", "h", "/api/orders/7", "GET", nil, "api"},
		{"not a segment boundary", "h", "/apiary", "GET", nil, ""},
		{"trailing slash prefix is the same prefix", "h", "/api/x", "POST", nil, "api-write"},
		{"method is case-normalised in config", "h", "/api", "PUT", nil, "api-write"},
		{"method not listed falls through", "h", "/api/x", "DELETE", nil, "api"},
		{"header match wins by order", "h", "/api/x", "POST", fields{"X-Canary": "1"}, "canary"},
		{"header with another value", "h", "/api/x", "GET", fields{"X-Canary": "0"}, "api"},
		{"exact path", "h", "/health", "GET", nil, "health"},
		{"exact path is not a prefix", "h", "/health/x", "GET", nil, ""},
		{"exact host and prefix", "www.example.test", "/static/app.css", "GET", nil, "www"},
		{"host port ignored", "www.example.test:8080", "/static/app.css", "GET", nil, "www"},
		{"host case ignored", "WWW.Example.TEST", "/static", "GET", nil, "www"},
		{"exact host, other path: wildcard next", "www.example.test", "/", "GET", nil, "sub"},
		{"wildcard one level", "a.example.test", "/", "GET", nil, "sub"},
		{"wildcard two levels", "a.b.example.test:80", "/x", "GET", nil, "sub"},
		{"wildcard not the bare domain", "example.test", "/", "GET", nil, ""},
		{"wildcard not a suffix without a dot", "badexample.test", "/", "GET", nil, ""},
		{"wildcard trailing dot", "a.example.test.", "/", "GET", nil, "sub"},
		{"header present with any value", "h", "/", "GET", fields{"X-Trace": ""}, "traced"},
		{"header absent", "h", "/", "GET", nil, ""},
		{"IPv6 host with port", "[::1]:8080", "/", "GET", nil, ""},
		{"redirect route", "h", "/old/page", "GET", nil, "old"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := c.hdr
			if hdr == nil {
				hdr = fields{}
			}
			got := ""
			if r := tbl.match([]byte(c.host), []byte(c.path), c.method, hdr); r != nil {
				got = r.name
			}
			if got != c.want {
				t.Fatalf("%s %s%s: route %q, want %q", c.method, c.host, c.path, got, c.want)
			}
		})
	}
}

func TestRouteStripPrefix(t *testing.T) {
	tbl := testRoutes(t, []RouteConfig{
		{Name: "api", Match: RouteMatch{PathPrefix: "/api/"}, Pool: "api", StripPrefix: true},
	})
	r := tbl.routes[0]
	for in, want := range map[string]string{
		"/api":           "/",
		"/api/":          "/",
		"/api/orders":    "/orders",
		"/api?x=1":       "/?x=1",
		"/api/a/b?c=d&e": "/a/b?c=d&e",
	} {
		if got := string(r.stripped([]byte(in), nil)); got != want {
			t.Errorf("strip /api from %s: %s, want %s", in, got, want)
		}
	}
}

// TestRouteConfigErrors: every refusal names the key, the value and why.
func TestRouteConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		route RouteConfig
		want  string
	}{
		{"two actions", RouteConfig{Name: "a", Pool: "web", Respond: &RespondConfig{}}, "set only one of pool, redirect, respond"},
		{"unknown pool", RouteConfig{Name: "a", Pool: "nope"}, "routes[0].pool"},
		{"bad host", RouteConfig{Name: "a", Match: RouteMatch{Host: "a.*.test"}}, "match.host"},
		{"prefix without slash", RouteConfig{Name: "a", Match: RouteMatch{PathPrefix: "api"}}, "match.path_prefix"},
		{"path and prefix", RouteConfig{Name: "a", Match: RouteMatch{PathPrefix: "/a", Path: "/b"}}, "not both"},
		{"strip without prefix", RouteConfig{Name: "a", StripPrefix: true}, "strip_prefix"},
		{"redirect code", RouteConfig{Name: "a", Redirect: &RedirectConfig{Location: "/x", Code: 200}}, "redirect.code"},
		{"rate limit key", RouteConfig{Name: "a", RateLimit: &RateLimitConfig{Requests: 1, Key: "query:x"}}, "rate_limit.key"},
		{"rate limit zero", RouteConfig{Name: "a", RateLimit: &RateLimitConfig{Requests: 0}}, "rate_limit.requests"},
		{"unknown variable", RouteConfig{Name: "a", ResponseHeaders: HeaderRules{Set: map[string]string{"X-A": "%{nope}"}}}, "unknown variable %{nope}"},
		{"cors star with credentials", RouteConfig{Name: "a", CORS: &CORSConfig{AllowOrigins: []string{"*"}, AllowCredentials: true}}, "allow_credentials"},
		{"cors bad origin", RouteConfig{Name: "a", CORS: &CORSConfig{AllowOrigins: []string{"example.test"}}}, "allow_origins[0]"},
		{"reserved name", RouteConfig{Name: "default"}, "duplicate route name"},
		{"framing field", RouteConfig{Name: "a", RequestHeaders: HeaderRules{Remove: []string{"Content-Length"}}}, "request_headers.remove[0]"},
		{"host field", RouteConfig{Name: "a", ResponseHeaders: HeaderRules{Set: map[string]string{"host": "x"}}}, "lbd's to write"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1:1")
			cfg.Frontends[0].Routes = []RouteConfig{c.route}
			cfg.applyDefaults()
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestRouteCompileKeepsState: a recompiled table keeps the hit counters
// of routes of the same name, and the limiter while its block is the same.
func TestRouteCompileKeepsState(t *testing.T) {
	rl := &RateLimitConfig{Requests: 5, Per: 1e9, Burst: 5, Key: "ip", IPv4Prefix: 32, IPv6Prefix: 64, MaxKeys: 10}
	s := &Server{met: &metrics{routeHits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"f", "r"})}}
	fc := &FrontendConfig{Name: "f", Routes: []RouteConfig{{Name: "a", RateLimit: rl}, {Name: "b"}}}
	old := s.compileRoutes(fc, nil)
	old.routes[0].hits.Add(3)
	old.defHits.Add(2)
	rl2 := *rl
	fc2 := &FrontendConfig{Name: "f", Routes: []RouteConfig{{Name: "b", ResponseHeaders: HeaderRules{Set: map[string]string{"X": "1"}}}, {Name: "a", RateLimit: &rl2}}}
	nt := s.compileRoutes(fc2, old)
	if nt.routes[1].limit != old.routes[0].limit || nt.routes[1].hits.Load() != 3 || nt.defHits.Load() != 2 {
		t.Fatal("unchanged route lost its limiter or counters")
	}
	rl3 := rl2
	rl3.Burst = 9
	fc3 := &FrontendConfig{Name: "f", Routes: []RouteConfig{{Name: "a", RateLimit: &rl3}}}
	if s.compileRoutes(fc3, nt).routes[0].limit == old.routes[0].limit {
		t.Fatal("a changed rate_limit block kept the old limiter")
	}
}

// FuzzRouteMatch: matching never panics, a wildcard route never takes its
// bare domain, and a prefix route takes only paths at a segment boundary.
func FuzzRouteMatch(f *testing.F) {
	for _, s := range [][2]string{{"www.example.test:8080", "/api/x"}, {"example.test", "/apiary"}, {"[::1]:80", "/"}, {"a.example.test.", "/api?x"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	tbl := &routeTable{routes: []*route{
		compileRoute(0, RouteConfig{Name: "w", Match: RouteMatch{Host: "*.example.test", PathPrefix: "/api"}}, nil),
	}}
	f.Fuzz(func(t *testing.T, host, path string) {
		r := tbl.match([]byte(host), []byte(path), "GET", fields{})
		if r == nil {
			return
		}
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
			h = strings.TrimSuffix(h[:i], ".")
		}
		if h == "example.test" || !strings.HasSuffix(h, ".example.test") {
			t.Fatalf("*.example.test took host %q", host)
		}
		if path != "/api" && !strings.HasPrefix(path, "/api/") {
			t.Fatalf("prefix /api took path %q", path)
		}
	})
}
