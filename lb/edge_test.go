package lb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netsim/internal/testutil"
	"netsim/lb/compress"
	"netsim/lb/httpcache"
)

// edgeOrigin is a backend for the edge tests: /static/app.css (cacheable
// CSS with an ETag), /api/data (8 KiB of cacheable JSON), /api/private
// (private JSON) and /healthz (not counted). Requests are counted per
// path; when hold is set, each counted request waits for it to close.
type edgeOrigin struct {
	mu    sync.Mutex
	calls map[string]int
	hold  chan struct{}
	fail  atomic.Bool // answer 500 to every counted request
}

var edgeJSON = []byte(strings.Repeat(`{"order": 17, "items": ["tea", "milk"], "total": 4.5}`+"\n", 160))

func (o *edgeOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		return
	}
	o.mu.Lock()
	o.calls[r.URL.Path]++
	hold := o.hold
	o.mu.Unlock()
	if hold != nil {
		<-hold
	}
	h := w.Header()
	if o.fail.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	switch r.URL.Path {
	case "/swr", "/sie":
		h.Set("Content-Type", "text/plain")
		if r.URL.Path == "/swr" {
			h.Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
		} else {
			h.Set("Cache-Control", "max-age=1, stale-if-error=600")
		}
		h.Set("Etag", `"s1"`)
		if r.Header.Get("If-None-Match") == `"s1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = io.WriteString(w, "kept")
	case "/static/app.css":
		h.Set("Content-Type", "text/css")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Etag", `"css1"`)
		if r.Header.Get("If-None-Match") == `"css1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", "19")
		_, _ = io.WriteString(w, "body { color: red }")
	case "/api/data":
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "max-age=300")
		h.Set("Etag", `"d1"`)
		h.Set("Content-Length", strconv.Itoa(len(edgeJSON)))
		_, _ = w.Write(edgeJSON)
	case "/api/upload": // answers at once, without reading the body
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(edgeJSON)))
		_, _ = w.Write(edgeJSON)
	default:
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "private, max-age=300")
		_, _ = w.Write(edgeJSON)
	}
}

func (o *edgeOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[path]
}

// newEdgeHarness is an lbd on engine in front of one edgeOrigin, with
// cache and compression on its frontend; mutate may change the config.
func newEdgeHarness(t *testing.T, engine string, mutate ...func(*Config)) (*harness, *edgeOrigin) {
	t.Helper()
	o := &edgeOrigin{calls: map[string]int{}}
	ln := testutil.Listen(t)
	srv := &http.Server{Handler: o, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	h := newHarness(t, 0, func(c *Config) {
		one := 1
		c.Pools[0].Backends = []BackendConfig{{ID: "o1", Address: ln.Addr().String(), Weight: &one}}
		c.Pools[0].Sticky = StickyConfig{Mode: "none"} // a response that sets a cookie is never stored
		f := &c.Frontends[0]
		f.Engine = engine
		f.Cache = &httpcache.Config{MaxBytes: 8 << 20}
		f.Compress = &compress.Config{}
		for _, m := range mutate {
			m(c)
		}
	})
	return h, o
}

func TestEdgeCacheAndCompress(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h, o := newEdgeHarness(t, engine)
			// No transparent gzip: the test reads what lbd sends.
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
			css := h.base + "/static/app.css"
			expect := func(what string, resp *http.Response, status int, xcache string) {
				t.Helper()
				if resp.StatusCode != status || resp.Header.Get("X-Cache") != xcache {
					t.Fatalf("%s: status %d, X-Cache %q; want %d, %q", what, resp.StatusCode, resp.Header.Get("X-Cache"), status, xcache)
				}
			}
			resp, body := do(t, c, "GET", css)
			expect("first GET", resp, 200, "MISS")
			resp, body2 := do(t, c, "GET", css)
			expect("second GET", resp, 200, "HIT")
			if _, err := strconv.Atoi(resp.Header.Get("Age")); string(body2) != string(body) || err != nil {
				t.Fatalf("hit: body %q (first %q), Age %q; want the same body and an Age in seconds", body2, body, resp.Header.Get("Age"))
			}
			resp, body = do(t, c, "GET", css, "If-None-Match", `"css1"`)
			expect("conditional GET", resp, 304, "HIT")
			if len(body) != 0 || resp.Header.Get("Etag") != `"css1"` {
				t.Fatalf("304: body %q, ETag %q", body, resp.Header.Get("Etag"))
			}
			resp, body = do(t, c, "HEAD", css)
			expect("HEAD", resp, 200, "HIT")
			if len(body) != 0 || resp.Header.Get("Content-Length") != "19" {
				t.Fatalf("HEAD: body %q, Content-Length %q; want none and 19", body, resp.Header.Get("Content-Length"))
			}
			if n := o.count("/static/app.css"); n != 1 {
				t.Fatalf("the backend saw %d requests for app.css, want 1 (hits add none)", n)
			}

			// Compressed variants, one per coding, each cached.
			api := h.base + "/api/data"
			for _, step := range []struct{ ae, coding, xcache string }{
				{"br, gzip", "br", "MISS"}, {"gzip, br", "br", "HIT"}, {"gzip", "gzip", "MISS"},
				{"x-gzip", "gzip", "HIT"}, {"", "", "MISS"}, {"", "", "HIT"}, {"zstd", "zstd", "MISS"},
			} {
				resp, body := do(t, c, "GET", api, "Accept-Encoding", step.ae)
				what := "GET /api/data with Accept-Encoding " + strconv.Quote(step.ae)
				expect(what, resp, 200, step.xcache)
				if got := resp.Header.Get("Content-Encoding"); got != step.coding || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
					t.Fatalf("%s: Content-Encoding %q, Vary %q; want %q and Accept-Encoding", what, got, resp.Header.Get("Vary"), step.coding)
				}
				if step.coding != "" && resp.Header.Get("Etag") != `W/"d1"` {
					t.Fatalf("%s: ETag %q, want W/\"d1\"", what, resp.Header.Get("Etag"))
				}
				r, err := compress.NewReader(step.coding, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(plain, edgeJSON) {
					t.Fatalf("%s: decoded %d bytes (%v), want the %d the backend sent", what, len(plain), err, len(edgeJSON))
				}
			}
			if n := o.count("/api/data"); n != 4 {
				t.Fatalf("the backend saw %d requests for /api/data, want 4 (br, gzip, identity, zstd)", n)
			}
			// Private: compressed, never stored.
			for range 2 {
				resp, _ := do(t, c, "GET", h.base+"/api/private", "Accept-Encoding", "gzip")
				expect("private", resp, 200, "MISS")
			}
			if n := o.count("/api/private"); n != 2 {
				t.Fatalf("the backend saw %d requests for /api/private, want 2", n)
			}

			// A reload with the same blocks keeps what is stored.
			if err := h.srv.Reload(h.cfg); err != nil {
				t.Fatal(err)
			}
			resp, _ = do(t, c, "GET", css)
			expect("after a reload", resp, 200, "HIT")

			// Purge by prefix through the admin API.
			var out struct{ Purged int }
			h.adminJSON("POST", "/api/v1/caches/http/purge", map[string]string{"prefix": "/static/"}, http.StatusOK, &out)
			if out.Purged != 1 {
				t.Fatalf("purge /static/: %d purged, want 1", out.Purged)
			}
			resp, _ = do(t, c, "GET", css)
			expect("after the purge", resp, 200, "MISS")
			if v := testutil.MetricValue(t, h.reg, "lbd_cache_hits_total", "frontend", "http"); v != 7 {
				t.Fatalf("lbd_cache_hits_total = %v, want 7", v)
			}
		})
	}
}

// TestEdgeCollapse: 100 concurrent misses for one object through lbd
// make one backend request.
func TestEdgeCollapse(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h, o := newEdgeHarness(t, engine)
			hold := make(chan struct{})
			o.mu.Lock()
			o.hold = hold
			o.mu.Unlock()
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100, DisableCompression: true}}
			const n = 100
			var wg sync.WaitGroup
			var hits, misses, other atomic.Int64
			for range n {
				wg.Go(func() {
					resp, err := c.Get(h.base + "/static/app.css")
					if err != nil {
						other.Add(1)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.Header.Get("X-Cache") {
					case "HIT":
						hits.Add(1)
					case "MISS":
						misses.Add(1)
					default:
						other.Add(1)
					}
				})
			}
			testutil.WaitFor(t, "99 requests waiting on the first one's fetch", 20*time.Second, func() bool {
				return testutil.MetricValue(t, h.reg, "lbd_cache_collapsed_total", "frontend", "http") == n-1
			})
			close(hold)
			wg.Wait()
			if got := o.count("/static/app.css"); got != 1 || misses.Load() != 1 || hits.Load() != n-1 || other.Load() != 0 {
				t.Fatalf("backend requests %d, MISS %d, HIT %d, other %d; want 1, 1, %d, 0", got, misses.Load(), hits.Load(), other.Load(), n-1)
			}
		})
	}
}

// TestEdgeStale: stale-while-revalidate answers at once and refreshes in
// the background through the pool (a conditional request, 304);
// stale-if-error answers a backend's 500 with the stored response. The
// entries go stale in real time (max-age=1): the test waits for it.
func TestEdgeStale(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h, o := newEdgeHarness(t, engine)
			c := newClient()
			for _, p := range []string{"/swr", "/sie"} {
				if resp, _ := do(t, c, "GET", h.base+p); resp.Header.Get("X-Cache") != "MISS" {
					t.Fatalf("first GET %s: X-Cache %q, want MISS", p, resp.Header.Get("X-Cache"))
				}
			}
			testutil.WaitFor(t, "a stale answer to /swr", 10*time.Second, func() bool {
				resp, body := do(t, c, "GET", h.base+"/swr")
				if x := resp.Header.Get("X-Cache"); resp.StatusCode != 200 || string(body) != "kept" || (x != "HIT" && x != "STALE") {
					t.Fatalf("GET /swr: %d %q, X-Cache %q; want 200 kept, HIT or STALE", resp.StatusCode, body, x)
				}
				return resp.Header.Get("X-Cache") == "STALE"
			})
			testutil.WaitFor(t, "the background revalidation", 10*time.Second, func() bool {
				return testutil.MetricValue(t, h.reg, "lbd_cache_revalidated_total", "frontend", "http") == 1
			})
			if n := o.count("/swr"); n != 2 {
				t.Fatalf("the backend saw %d requests for /swr, want 2 (the fill and one revalidation)", n)
			}
			o.fail.Store(true)
			testutil.WaitFor(t, "a stale answer to /sie while the backend fails", 10*time.Second, func() bool {
				resp, body := do(t, c, "GET", h.base+"/sie")
				if resp.StatusCode != 200 || string(body) != "kept" {
					t.Fatalf("GET /sie: %d %q, X-Cache %q; want 200 kept", resp.StatusCode, body, resp.Header.Get("X-Cache"))
				}
				return resp.Header.Get("X-Cache") == "STALE"
			})
		})
	}
}

// TestDefaultConfigEdges: the demo config caches and compresses /static
// and compresses /api on both frontends (an empty `compress: {}` turns
// it on with the defaults).
func TestDefaultConfigEdges(t *testing.T) {
	cfg := DefaultConfig()
	for _, fc := range cfg.Frontends {
		got := map[string]string{}
		for _, rc := range fc.Routes {
			got[rc.Name] = fmt.Sprintf("cache %v, compress %v", rc.Cache != nil, rc.Compress != nil)
		}
		if got["static"] != "cache true, compress true" || got["api"] != "cache false, compress true" {
			t.Errorf("frontend %s: routes %v; want static cached and compressed, api compressed", fc.Name, got)
		}
	}
}

// TestEdgeRoutes: cache and compression per route. A hit carries the
// route's per-request fields afresh (rate-limit numbers, CORS, a new
// request ID, header rules), never copies stored with the response; a
// route with strip_prefix is keyed by the client's target; a route
// without the blocks is not cached.
func TestEdgeRoutes(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h, o := newEdgeHarness(t, engine, func(c *Config) {
				f := &c.Frontends[0]
				f.Cache, f.Compress = nil, nil
				f.RequestID = "X-Request-ID"
				f.Routes = []RouteConfig{
					{Name: "static", Match: RouteMatch{PathPrefix: "/static"}, Cache: &httpcache.Config{}, Compress: &compress.Config{},
						RateLimit:       &RateLimitConfig{Requests: 100, Per: time.Hour, Burst: 100},
						CORS:            &CORSConfig{AllowOrigins: []string{"*"}},
						ResponseHeaders: HeaderRules{Set: map[string]string{"X-Content-Type-Options": "nosniff"}, Add: map[string]string{"X-Route": "%{route}"}}},
					{Name: "v2", Match: RouteMatch{PathPrefix: "/v2"}, StripPrefix: true, Cache: &httpcache.Config{}},
					{Name: "plain", Match: RouteMatch{PathPrefix: "/api"}},
				}
			})
			c := newClient()
			var ids []string
			remaining := ""
			for i, want := range []string{"MISS", "HIT", "HIT"} {
				resp, _ := do(t, c, "GET", h.base+"/static/app.css", "Origin", "http://page.example.test")
				hd := resp.Header
				if hd.Get("X-Cache") != want || hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Access-Control-Allow-Origin") != "*" ||
					len(hd.Values("X-Route")) != 1 || hd.Get("X-Ratelimit-Remaining") == "" || hd.Get("X-Ratelimit-Remaining") == remaining {
					t.Fatalf("request %d: X-Cache %q, X-Content-Type-Options %q, Access-Control-Allow-Origin %q, X-Route %q, X-RateLimit-Remaining %q (before %q); want %s, nosniff, *, one static, a new count",
						i, hd.Get("X-Cache"), hd.Get("X-Content-Type-Options"), hd.Get("Access-Control-Allow-Origin"), hd.Values("X-Route"),
						hd.Get("X-Ratelimit-Remaining"), remaining, want)
				}
				remaining = hd.Get("X-Ratelimit-Remaining")
				ids = append(ids, hd.Get("X-Request-ID"))
			}
			if ids[0] == "" || ids[0] == ids[1] || ids[1] == ids[2] {
				t.Fatalf("request IDs %q: want a new one on every answer", ids)
			}
			// A reload that changes another route keeps this route's cache.
			cfg := h.cfg
			cfg.Frontends = append([]FrontendConfig(nil), h.cfg.Frontends...)
			cfg.Frontends[0].Routes = append([]RouteConfig(nil), h.cfg.Frontends[0].Routes...)
			cfg.Frontends[0].Routes[2].Compress = &compress.Config{Level: 1}
			if err := h.srv.Reload(cfg); err != nil {
				t.Fatal(err)
			}
			if resp, _ := do(t, c, "GET", h.base+"/static/app.css"); resp.Header.Get("X-Cache") != "HIT" {
				t.Fatalf("after a reload that changed route plain: X-Cache %q, want HIT", resp.Header.Get("X-Cache"))
			}
			for i, want := range []string{"MISS", "HIT"} {
				resp, body := do(t, c, "GET", h.base+"/v2/static/app.css")
				if resp.Header.Get("X-Cache") != want || string(body) != "body { color: red }" {
					t.Fatalf("/v2 request %d: X-Cache %q, body %q; want %s and the CSS", i, resp.Header.Get("X-Cache"), body, want)
				}
			}
			var out struct{ Purged int }
			h.adminJSON("POST", "/api/v1/caches/http/purge", map[string]string{"prefix": "/v2/", "route": "v2"}, http.StatusOK, &out)
			if out.Purged != 1 {
				t.Fatalf("purge /v2/ on route v2: %d purged, want 1", out.Purged)
			}
			if resp, _ := do(t, c, "GET", h.base+"/v2/static/app.css"); resp.Header.Get("X-Cache") != "MISS" {
				t.Fatalf("/v2 after the purge: X-Cache %q, want MISS", resp.Header.Get("X-Cache"))
			}
			for range 2 {
				if resp, _ := do(t, c, "GET", h.base+"/api/private"); resp.Header.Get("X-Cache") != "" {
					t.Fatalf("a route without cache: answered with X-Cache %q", resp.Header.Get("X-Cache"))
				}
			}
			if n := o.count("/static/app.css"); n != 3 {
				t.Fatalf("the backend saw %d requests for /static/app.css, want 3 (a fill each for /static, /v2, /v2 after the purge)", n)
			}
		})
	}
}

// TestEdgeHitWithUnreadBody: a GET with a body answered from the cache
// (the body never read) says Connection: close, as lbd's other own
// answers do: the stream cannot be read past the body.
func TestEdgeHitWithUnreadBody(t *testing.T) {
	h, _ := newEdgeHarness(t, EngineFast)
	c := newClient()
	if resp, _ := do(t, c, "GET", h.base+"/static/app.css"); resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("fill: X-Cache %q", resp.Header.Get("X-Cache"))
	}
	addr := strings.TrimPrefix(h.base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /static/app.css HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 5\r\n\r\nhello")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Cache") != "HIT" || !resp.Close {
		t.Fatalf("X-Cache %q, Connection close %v; want HIT and a close", resp.Header.Get("X-Cache"), resp.Close)
	}
}

// TestEdgeBodyRelayed: on the fast engine a request with a body on a
// route with cache and compression is relayed as it came (the body sent
// whole before the answer is read), even to a backend that answers
// without reading it; the connection stays usable, and a successful
// POST still makes the cache forget the target.
func TestEdgeBodyRelayed(t *testing.T) {
	h, o := newEdgeHarness(t, EngineFast)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxConnsPerHost: 1}}
	body := strings.Repeat("x", 256<<10)
	for i := range 3 {
		req, _ := http.NewRequest("POST", h.base+"/api/upload", strings.NewReader(body))
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(got, edgeJSON) {
			t.Fatalf("POST %d: %d, Content-Encoding %q, %d bytes; want 200, identity, the JSON", i, resp.StatusCode, resp.Header.Get("Content-Encoding"), len(got))
		}
	}
	do(t, c, "GET", h.base+"/api/data")
	if resp, _ := do(t, c, "GET", h.base+"/api/data"); resp.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("before the POST: X-Cache %q, want HIT", resp.Header.Get("X-Cache"))
	}
	req, _ := http.NewRequest("POST", h.base+"/api/data", strings.NewReader("change"))
	if resp, err := c.Do(req); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp, _ := do(t, c, "GET", h.base+"/api/data"); resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("after a POST to it: X-Cache %q, want MISS", resp.Header.Get("X-Cache"))
	}
	if n := o.count("/api/upload"); n != 3 {
		t.Fatalf("the backend saw %d uploads, want 3", n)
	}
}
