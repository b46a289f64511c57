package lb

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// headerEcho is a backend that answers every request with what it saw
// (path and header fields) as JSON, and with fields of its own that
// lbd's rules replace.
func headerEcho(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	ln := testutil.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Secret", "backend internals")
		w.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
		w.Header().Set("X-RateLimit-Limit", "999")
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "query": r.URL.RawQuery, "header": r.Header, "body": string(body)})
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), hits
}

type echoed struct {
	Path   string
	Query  string
	Header http.Header
	Body   string
}

// routeConfig adds pool "echo" (a headerEcho) and the routes the
// end-to-end tests use to a harness's config.
// routeHarness is a harness of n backends with routeConfig's routes (the
// echo among them) on engine, its clock standing still until advanced.
func routeHarness(t *testing.T, n int, engine string) (h *harness, clk *testutil.Clock, echoHits *atomic.Int64) {
	t.Helper()
	echoAddr, echoHits := headerEcho(t)
	clk = testutil.NewClock(time.Unix(1_800_000_000, 0))
	h = newHarnessWith(t, n, routeConfig(echoAddr, engine), func(s *Server) { s.now = clk.Now })
	return h, clk, echoHits
}

func routeConfig(echoAddr, engine string) func(*Config) {
	return func(c *Config) {
		c.Frontends[0].Engine = engine
		c.Frontends[0].RequestID = "X-Request-ID"
		c.Pools = append(c.Pools, PoolConfig{Name: "echo", Backends: []BackendConfig{{ID: "e1", Address: echoAddr}}})
		c.Frontends[0].Routes = []RouteConfig{
			{Name: "api", Match: RouteMatch{PathPrefix: "/api"}, Pool: "echo", StripPrefix: true,
				RequestHeaders:  HeaderRules{Set: map[string]string{"X-Client": "%{client_ip} via %{route}"}, Remove: []string{"X-Drop"}},
				ResponseHeaders: HeaderRules{Set: map[string]string{"X-Route": "%{route} on %{backend}"}, Add: map[string]string{"X-Added": "1"}, Remove: []string{"X-Secret"}},
				CORS: &CORSConfig{AllowOrigins: []string{"https://app.example.test"}, AllowMethods: []string{"GET", "POST"},
					AllowHeaders: []string{"X-Api-Key"}, ExposeHeaders: []string{"X-Request-ID"}, MaxAge: 10 * time.Minute}},
			{Name: "limited", Match: RouteMatch{Path: "/limited"}, Pool: "echo",
				RateLimit: &RateLimitConfig{Requests: 10, Per: time.Second, Burst: 5}},
			{Name: "old", Match: RouteMatch{PathPrefix: "/old"}, StripPrefix: true,
				Redirect: &RedirectConfig{Location: "https://%{host}/new%{path}%{query}", Code: http.StatusMovedPermanently}},
			{Name: "teapot", Match: RouteMatch{Path: "/teapot"}, Respond: &RespondConfig{Status: http.StatusTeapot, Body: "short and stout\n"}},
			{Name: "sub", Match: RouteMatch{Host: "*.example.test"}, Pool: "echo"},
		}
		for i := range c.Frontends[0].Routes {
			c.Frontends[0].Routes[i].applyDefaults()
		}
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRoutesEndToEnd runs the routes on both engines: pools by path and
// host, strip_prefix, redirect, fixed response, header rules, the request
// ID, CORS (preflight at the edge), and hit counts in the admin API.
func TestRoutesEndToEnd(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			echoAddr, echoHits := headerEcho(t)
			h := newHarness(t, 1, routeConfig(echoAddr, engine))
			c := newClient()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

			// routed by path prefix, prefix stripped, header rules both ways
			resp, body := do(t, c, "GET", h.base+"/api/orders?page=2", "X-Drop", "x", "X-Keep", "k")
			var e echoed
			if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != 200 {
				t.Fatalf("/api/orders: %d %s", resp.StatusCode, body)
			}
			if e.Path != "/orders" || e.Query != "page=2" {
				t.Errorf("backend saw %s?%s, want /orders?page=2", e.Path, e.Query)
			}
			if got := e.Header.Get("X-Client"); got != "127.0.0.1 via api" {
				t.Errorf("X-Client %q", got)
			}
			if e.Header.Get("X-Drop") != "" || e.Header.Get("X-Keep") != "k" {
				t.Errorf("request rules: X-Drop %q X-Keep %q", e.Header.Get("X-Drop"), e.Header.Get("X-Keep"))
			}
			rid := resp.Header.Get("X-Request-Id")
			if !hexID.MatchString(rid) || e.Header.Get("X-Request-Id") != rid {
				t.Errorf("request ID: answer %q, backend saw %q", rid, e.Header.Get("X-Request-Id"))
			}
			if resp.Header.Get("X-Secret") != "" || resp.Header.Get("X-Route") != "api on e1" || resp.Header.Get("X-Added") != "1" {
				t.Errorf("response rules: %v", resp.Header)
			}
			if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 0 {
				t.Errorf("no Origin sent, yet Access-Control-Allow-Origin %q (the backend's must go)", got)
			}

			// a client's own request ID is kept
			resp, body = do(t, c, "GET", h.base+"/api/x", "X-Request-ID", "client-id-1")
			_ = json.Unmarshal([]byte(body), &e)
			if resp.Header.Get("X-Request-Id") != "client-id-1" || e.Header.Get("X-Request-Id") != "client-id-1" {
				t.Errorf("client request ID: answer %q backend %q", resp.Header.Get("X-Request-Id"), e.Header.Get("X-Request-Id"))
			}

			// not a segment boundary: the frontend's pool (webd)
			if resp, body = do(t, c, "GET", h.base+"/apiary"); !strings.HasPrefix(body, "b1 ") || !hexID.MatchString(resp.Header.Get("X-Request-Id")) {
				t.Errorf("/apiary: %q, request ID %q", body, resp.Header.Get("X-Request-Id"))
			}
			// by host
			if _, body = do(t, c, "GET", h.base+"/", "Host", "shop.example.test:8080"); !strings.Contains(body, `"path":"/"`) {
				t.Errorf("*.example.test: %q", body)
			}
			if _, body = do(t, c, "GET", h.base+"/", "Host", "example.test"); !strings.HasPrefix(body, "b1 ") {
				t.Errorf("bare example.test went to %q, want the default pool", body)
			}

			// redirect and fixed response, answered by lbd
			before := echoHits.Load()
			resp, _ = do(t, c, "GET", h.base+"/old/page?q=1", "Host", "www.example.test:8080")
			if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://www.example.test/new/page?q=1" {
				t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, body = do(t, c, "GET", h.base+"/teapot")
			if resp.StatusCode != 418 || body != "short and stout\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("respond: %d %q %v", resp.StatusCode, body, resp.Header)
			}
			resp, body = do(t, c, "HEAD", h.base+"/teapot")
			if resp.StatusCode != 418 || body != "" || resp.Header.Get("Content-Length") != "16" {
				t.Errorf("HEAD respond: %d %q %v", resp.StatusCode, body, resp.Header)
			}

			// CORS: preflight at the edge, actual requests get the fields
			resp, _ = do(t, c, "OPTIONS", h.base+"/api/orders", "Origin", "https://app.example.test",
				"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-api-key")
			if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.test" ||
				resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST" || resp.Header.Get("Access-Control-Allow-Headers") != "X-Api-Key" ||
				resp.Header.Get("Access-Control-Max-Age") != "600" {
				t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
			}
			resp, body = do(t, c, "OPTIONS", h.base+"/api/orders", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
			if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(body, `"code": "cors_refused"`) {
				t.Errorf("preflight from another origin: %d %v %s", resp.StatusCode, resp.Header, body)
			}
			resp, _ = do(t, c, "OPTIONS", h.base+"/api/orders", "Origin", "https://app.example.test", "Access-Control-Request-Method", "DELETE")
			if resp.StatusCode != 403 {
				t.Errorf("preflight for DELETE: %d", resp.StatusCode)
			}
			if n := echoHits.Load(); n != before {
				t.Errorf("lbd's own answers reached the backend %d times", n-before)
			}
			resp, _ = do(t, c, "GET", h.base+"/api/orders", "Origin", "https://app.example.test")
			if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.test" || resp.Header.Get("Access-Control-Expose-Headers") != "X-Request-ID" ||
				!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("actual CORS request: %v", resp.Header)
			}

			// hits in the admin API
			var views []RouteView
			h.adminJSON("GET", "/api/v1/frontends/http/routes", nil, 200, &views)
			hits := map[string]uint64{}
			for _, v := range views {
				hits[v.Name] = v.Hits
			}
			want := map[string]uint64{"api": 6, "old": 1, "teapot": 2, "sub": 1, "default": 2, "limited": 0}
			for name, n := range want {
				if hits[name] != n {
					t.Errorf("route %s: %d hits, want %d (all: %v)", name, hits[name], n, hits)
				}
			}
			if v := testutil.MetricValue(t, h.reg, "lbd_route_requests_total", "frontend", "http", "route", "api"); v != 6 {
				t.Errorf("lbd_route_requests_total{route=api} = %v, want 6", v)
			}
			var one RouteView
			h.adminJSON("GET", "/api/v1/frontends/http/routes/old", nil, 200, &one)
			if one.Action != "redirect" || one.Status != 301 {
				t.Errorf("route old: %+v", one)
			}
			h.adminJSON("GET", "/api/v1/frontends/http/routes/nope", nil, 404, nil)
			h.adminJSON("GET", "/api/v1/frontends/http/routes/api/rate-limit", nil, 404, nil)
		})
	}
}

// TestRateLimitEndToEnd: through lbd on both engines, on lbd's clock
// advanced by the test, 10 s at twice the configured rate give rate × 10
// s + burst answers 200 (±5 %), and every 429 carries the fields and the
// error envelope. The limit is adjustable through the admin API.
func TestRateLimitEndToEnd(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h, clk, echoHits := routeHarness(t, 1, engine)
			c := newClient()
			const rate, burst = 10, 5
			ok, limited := 0, 0
			for i := range 2 * rate * 10 {
				resp, body := do(t, c, "GET", h.base+"/limited")
				switch resp.StatusCode {
				case 200:
					ok++
					if resp.Header.Get("X-Ratelimit-Limit") != "5" {
						t.Fatalf("200 #%d: X-RateLimit-Limit %q, want lbd's 5 (not the backend's)", i, resp.Header.Get("X-Ratelimit-Limit"))
					}
				case 429:
					limited++
					check429(t, resp, body, clk.Now())
				default:
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
				}
				clk.Advance(time.Second / (2 * rate))
			}
			want := rate*10 + burst
			t.Logf("%s: %d requests at 2× %d/s over 10 s: %d × 200 (rate×10+burst = %d), %d × 429", engine, 2*rate*10, rate, ok, want, limited)
			if d := ok - want; d < -want/20 || d > want/20 {
				t.Fatalf("%d answers 200, want %d ±5%%", ok, want)
			}
			if n := echoHits.Load(); n != int64(ok) {
				t.Fatalf("backend saw %d requests, want only the %d allowed", n, ok)
			}
			var v RateLimitView
			h.adminJSON("GET", "/api/v1/frontends/http/routes/limited/rate-limit", nil, 200, &v)
			if v.Limited != uint64(limited) || v.Allowed != uint64(ok) || v.Keys != 1 || v.Source != "config" {
				t.Fatalf("admin view %+v", v)
			}
			// adjusted through the API: a bucket of 50 at once
			h.adminJSON("PATCH", "/api/v1/frontends/http/routes/limited/rate-limit", map[string]any{"requests": 100, "burst": 50}, 200, &v)
			if v.Burst != 50 || v.Source != "api" {
				t.Fatalf("after PATCH: %+v", v)
			}
			h.adminJSON("PATCH", "/api/v1/frontends/http/routes/limited/rate-limit", map[string]any{"burst": 0}, 422, nil)
			clk.Advance(time.Second)
			for i := range 50 {
				if resp, body := do(t, c, "GET", h.base+"/limited"); resp.StatusCode != 200 {
					t.Fatalf("after raising the limit, request %d: %d %s", i, resp.StatusCode, body)
				}
			}
		})
	}
}

// check429 checks a 429's fields and body (REST.md's error envelope).
func check429(t *testing.T, resp *http.Response, body string, now time.Time) {
	t.Helper()
	h := resp.Header
	reset, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
	if err != nil || reset < now.Unix() || reset > now.Unix()+2 {
		t.Fatalf("429: X-RateLimit-Reset %q, want a Unix time within 2 s of %d", h.Get("X-Ratelimit-Reset"), now.Unix())
	}
	for name, want := range map[string]string{
		"X-Ratelimit-Limit": "5", "X-Ratelimit-Remaining": "0", "Retry-After": "1",
		"Ratelimit-Policy": `"limited";q=5;w=1`, "Content-Type": "application/json; charset=utf-8",
	} {
		if got := h.Get(name); got != want {
			t.Fatalf("429: %s %q, want %q", name, got, want)
		}
	}
	if !strings.HasPrefix(h.Get("Ratelimit"), `"limited";r=0;t=`) {
		t.Fatalf("429: RateLimit %q", h.Get("Ratelimit"))
	}
	var env struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Context map[string]any `json:"context"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error.Code != "rate_limited" || env.Error.Message == "" ||
		env.Error.Context["route"] != "limited" || env.Error.Context["retry_after_seconds"] != float64(1) {
		t.Fatalf("429 body is not the error envelope: %v %s", err, body)
	}
}

// TestRoutesReloadUnderLoad: reloads that add, reorder and change routes
// fail no request on either engine; routes of the same name keep their
// hit counts, and a rate limit whose block is unchanged keeps its
// buckets (a changed block starts afresh).
func TestRoutesReloadUnderLoad(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h, _, _ := routeHarness(t, 2, engine)
			c := newClient()
			// empty the /limited bucket (the clock stands still)
			for range 5 {
				if resp, _ := do(t, c, "GET", h.base+"/limited"); resp.StatusCode != 200 {
					t.Fatalf("within the burst: %d", resp.StatusCode)
				}
			}
			var (
				mu     sync.Mutex
				failed []string
				n      atomic.Int64
				stop   = make(chan struct{})
				wg     sync.WaitGroup
			)
			paths := []string{"/api/orders", "/apiary", "/teapot", "/"}
			for w := range 4 {
				wg.Go(func() {
					lc := newClient()
					for i := 0; i < 5000; i++ {
						select {
						case <-stop:
							return
						default:
						}
						p := paths[(w+i)%len(paths)]
						resp, err := lc.Get(h.base + p)
						if err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
						if err != nil || resp.StatusCode >= 500 || (p != "/teapot" && resp.StatusCode != 200) {
							mu.Lock()
							failed = append(failed, fmt.Sprintf("%s: %v %v", p, err, resp))
							mu.Unlock()
						}
						n.Add(1)
					}
				})
			}
			waitN := func(more int64) {
				at := n.Load()
				testutil.WaitFor(t, "requests under load", 30*time.Second, func() bool { return n.Load() >= at+more })
			}
			waitN(50)
			for i := range 4 {
				cfg := h.cfg
				cfg.Frontends = append([]FrontendConfig(nil), h.cfg.Frontends...)
				fc := &cfg.Frontends[0]
				routes := append([]RouteConfig(nil), fc.Routes...)
				// a new route first, the others moved down; the api
				// route's response rule changed
				routes = append([]RouteConfig{{Name: fmt.Sprintf("new%d", i), Match: RouteMatch{Path: "/new"}, Respond: &RespondConfig{Status: 200}}}, routes...)
				api := routes[1]
				api.ResponseHeaders = HeaderRules{Set: map[string]string{"X-Gen": strconv.Itoa(i)}}
				routes[1] = api
				fc.Routes = routes
				if err := h.srv.Reload(cfg); err != nil {
					t.Fatalf("reload %d: %v", i, err)
				}
				waitN(200)
			}
			close(stop)
			wg.Wait()
			if len(failed) > 0 {
				t.Fatalf("%d of %d requests failed across reloads, e.g. %v", len(failed), n.Load(), failed[:min(3, len(failed))])
			}
			t.Logf("%s: %d requests across 4 route reloads, none failed", engine, n.Load())
			if resp, _ := do(t, c, "GET", h.base+"/api/x"); resp.Header.Get("X-Gen") != "3" {
				t.Fatalf("reloaded response rule not applied: %v", resp.Header)
			}
			// unchanged rate_limit block: still empty
			if resp, _ := do(t, c, "GET", h.base+"/limited"); resp.StatusCode != 429 {
				t.Fatalf("after reloads, /limited: %d, want 429 (the bucket kept)", resp.StatusCode)
			}
			var one RouteView
			h.adminJSON("GET", "/api/v1/frontends/http/routes/limited", nil, 200, &one)
			if one.Hits != 6 || one.Index != 2 {
				t.Fatalf("route limited after reloads: hits %d index %d, want 6 and 2", one.Hits, one.Index)
			}
			// a changed block: a fresh bucket
			cfg := h.srv.Config()
			cfg.Frontends = append([]FrontendConfig(nil), cfg.Frontends...)
			cfg.Frontends[0].Routes = append([]RouteConfig(nil), cfg.Frontends[0].Routes...)
			rl := *cfg.Frontends[0].Routes[2].RateLimit
			rl.Burst = 6
			cfg.Frontends[0].Routes[2].RateLimit = &rl
			if err := h.srv.Reload(cfg); err != nil {
				t.Fatal(err)
			}
			if resp, _ := do(t, c, "GET", h.base+"/limited"); resp.StatusCode != 200 {
				t.Fatalf("after changing the limit, /limited: %d, want 200 (a new bucket)", resp.StatusCode)
			}
		})
	}
}

// TestRouteWrapHook: on both engines (the fast one through its bridge to
// net/http's types) a route's wrap runs around the forwarding: it can
// answer by itself, or call next with a writer of its own; bodies go
// both ways, answers without a length are chunked, and the client's
// connection is kept alive throughout.
func TestRouteWrapHook(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			echoAddr, hits := headerEcho(t)
			h := newHarnessWith(t, 1, routeConfig(echoAddr, engine), func(s *Server) {
				s.frontends[0].routes.Load().routes[0].wrap = func(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
					switch {
					case r.URL.Query().Get("short") != "":
						w.Header().Set("Content-Length", "5")
						w.WriteHeader(http.StatusNonAuthoritativeInfo)
						_, _ = io.WriteString(w, "short")
						return
					case r.URL.Query().Get("nolength") != "":
						w = &noLength{ResponseWriter: w}
					}
					w.Header().Set("X-Wrapped", "1")
					next(w, r)
				}
			})
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
			check := func(method, path, body string, wantStatus int, wantHits int64) echoed {
				t.Helper()
				req, _ := http.NewRequest(method, h.base+path, strings.NewReader(body))
				if body == "" {
					req.Body = nil
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != wantStatus || hits.Load() != wantHits {
					t.Fatalf("%s %s: %d (%v) %q, backend hits %d; want %d, %d", method, path, resp.StatusCode, err, data, hits.Load(), wantStatus, wantHits)
				}
				var e echoed
				if wantStatus == 200 && method != "HEAD" && strings.HasPrefix(path, "/api/") {
					if err := json.Unmarshal(data, &e); err != nil || resp.Header.Get("X-Wrapped") != "1" || resp.Header.Get("X-Route") != "api on e1" {
						t.Fatalf("%s %s: %v %v %q", method, path, err, resp.Header, data)
					}
				}
				return e
			}
			check("GET", "/api/x", "", 200, 1)
			check("GET", "/api/x?short=1", "", http.StatusNonAuthoritativeInfo, 1)
			if e := check("POST", "/api/x", "hello body", 200, 2); e.Body != "hello body" || e.Path != "/x" {
				t.Fatalf("POST through the wrap: backend saw %q at %s", e.Body, e.Path)
			}
			check("GET", "/api/x?nolength=1", "", 200, 3)
			check("HEAD", "/api/x", "", 200, 4)
			check("GET", "/apiary", "", 200, 4) // another route: no wrap
			if n := testutil.MetricValue(t, h.reg, "lbd_frontend_connections_total", "frontend", "http"); n != 1 {
				t.Fatalf("%v client connections, want 1 kept alive throughout", n)
			}
		})
	}
}

// noLength drops the Content-Length of an answer (as a compressing
// handler would): the engine frames it itself.
type noLength struct{ http.ResponseWriter }

func (n *noLength) WriteHeader(code int) {
	n.Header().Del("Content-Length")
	n.ResponseWriter.WriteHeader(code)
}

func (n *noLength) Write(p []byte) (int, error) { return n.ResponseWriter.Write(p) }

// TestBridgeEarlyAnswer: through the fast engine's bridge, a backend that
// answers before it has read the request body (the client still sending
// it) ends the exchange: the transport's reading of the body is cut short,
// the client gets the answer, and it says Connection: close. (The data
// race that TestRouteWrapHook/fast showed about once in 15 runs under
// -race was on the body's end-of-stream flag, read by the writer while the
// transport's goroutine set it.)
func TestBridgeEarlyAnswer(t *testing.T) {
	addr := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, ok := readHead(br); ok {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
		}
		_, _ = io.Copy(io.Discard, br)
	})
	h := newHarnessWith(t, 1, routeConfig(addr, EngineFast), func(s *Server) {
		s.frontends[0].routes.Load().routes[0].wrap = func(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) { next(w, r) }
	})
	for i := range 5 {
		nc, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		// half of the body now, the rest never: the backend has answered
		_, _ = io.WriteString(nc, "POST /api/up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 50000))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "early" || !resp.Close {
			t.Fatalf("round %d: %d %q close %v", i, resp.StatusCode, body, resp.Close)
		}
		nc.Close()
	}
}

// TestReloadDropsPoolAndRoute: reloads that add and then drop a pool
// together with the route that names it, under load: a request that read
// the old routes still finds the dropped pool (it stays findable until the
// new routes are in), so no request gets 503 no_pool.
func TestReloadDropsPoolAndRoute(t *testing.T) {
	echoAddr, _ := headerEcho(t)
	h := newHarnessWith(t, 1, func(c *Config) { c.Pools[0].Health.Type = "none" }, nil)
	with := h.cfg
	with.Pools = append(append([]PoolConfig(nil), h.cfg.Pools...), PoolConfig{Name: "xp", Backends: []BackendConfig{{ID: "x1", Address: echoAddr}}})
	with.Frontends = append([]FrontendConfig(nil), h.cfg.Frontends...)
	with.Frontends[0].Routes = []RouteConfig{{Name: "x", Match: RouteMatch{PathPrefix: "/x"}, Pool: "xp"}}
	with.applyDefaults()
	with.Pools[len(with.Pools)-1].Health.Type = "none"
	without := h.cfg
	var (
		failed atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			lc := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := lc.Get(h.base + "/x/y")
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("X-LB-Error") == "no_pool" {
					failed.Add(1)
				}
			}
		})
	}
	for i := range 200 {
		cfg := with
		if i%2 == 1 {
			cfg = without
		}
		if err := h.srv.Reload(cfg); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests got 503 no_pool across 200 reloads", n)
	}
	// The window the load above only sometimes hits, made certain: a
	// request read the table naming xp, then the reload that drops xp
	// committed completely before it looked the pool up.
	if err := h.srv.Reload(with); err != nil {
		t.Fatal(err)
	}
	f := h.srv.frontends[0]
	read := f.routes.Load()
	if err := h.srv.Reload(without); err != nil {
		t.Fatal(err)
	}
	if h.srv.pool("xp") != nil {
		t.Fatal("xp is still among the running pools after the reload that dropped it")
	}
	if read.pool("xp") == nil {
		t.Fatal("a request that read the routes naming xp does not find xp once the reload dropping it has committed")
	}
}
