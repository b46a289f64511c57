package httpcache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type step struct {
	advance time.Duration
	method  string
	target  string
	hdr     map[string]string
	fail    bool // the origin answers 503 from this step on
	status  int
	xcache  string // "" when the response must carry none
	calls   int64  // origin requests so far
	check   func(t *testing.T, rec http.Header, body string)
}

// uncached is two requests that both go to the origin: the response
// with status was not stored.
func uncached(status int) []step {
	return []step{{status: status, xcache: "MISS", calls: 1}, {status: status, xcache: "MISS", calls: 2}}
}

// cached is two requests of which the second is a hit on the response
// with status.
func cached(status int) []step {
	return []step{{status: status, xcache: "MISS", calls: 1}, {status: status, xcache: "HIT", calls: 1}}
}

var lastMod = t0.Add(-10 * time.Hour).Format(http.TimeFormat)

// TestSemantics runs RFC 9111 / RFC 5861 behaviour as request
// sequences against one origin response each.
func TestSemantics(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header map[string]string
		steps  []step
	}{
		{"max-age fresh then stale and revalidated", 0, map[string]string{"Cache-Control": "max-age=60", "Etag": `"a"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 30 * time.Second, status: 200, xcache: "HIT", calls: 1, check: ageIs("30")},
			{advance: 31 * time.Second, status: 200, xcache: "REVALIDATED", calls: 2},
			{advance: time.Second, status: 200, xcache: "HIT", calls: 2, check: ageIs("1")},
		}},
		{"s-maxage wins over max-age", 0, map[string]string{"Cache-Control": "max-age=1000, s-maxage=10"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 11 * time.Second, status: 200, xcache: "MISS", calls: 2},
		}},
		{"Expires", 0, map[string]string{"Expires": t0.Add(time.Minute).Format(http.TimeFormat)}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 59 * time.Second, status: 200, xcache: "HIT", calls: 1},
			{advance: 2 * time.Second, status: 200, xcache: "MISS", calls: 2},
		}},
		{"invalid Expires is expired", 0, map[string]string{"Expires": "0", "Etag": `"e"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "REVALIDATED", calls: 2},
		}},
		{"Age from upstream counts", 0, map[string]string{"Cache-Control": "max-age=60", "Age": "50"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 5 * time.Second, status: 200, xcache: "HIT", calls: 1, check: ageIs("55")},
			{advance: 6 * time.Second, status: 200, xcache: "MISS", calls: 2},
		}},
		{"heuristic from Last-Modified", 0, map[string]string{"Last-Modified": lastMod}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 59 * time.Minute, status: 200, xcache: "HIT", calls: 1}, // 10% of 10 h
			{advance: 2 * time.Minute, status: 200, xcache: "REVALIDATED", calls: 2},
		}},
		{"no heuristic for 302", 302, map[string]string{"Last-Modified": lastMod, "Location": "/x"}, uncached(302)},
		{"302 with max-age", 302, map[string]string{"Cache-Control": "max-age=60", "Location": "/x"}, cached(302)},
		{"404 heuristically cacheable", 404, map[string]string{"Cache-Control": "max-age=60"}, cached(404)},
		{"500 not stored", 500, map[string]string{"Cache-Control": "max-age=60"}, uncached(500)},
		{"no explicit freshness nor validator", 0, nil, uncached(200)},
		{"no-store", 0, map[string]string{"Cache-Control": "no-store, max-age=60"}, uncached(200)},
		{"private", 0, map[string]string{"Cache-Control": "private, max-age=60"}, uncached(200)},
		{"qualified private stores nothing either", 0, map[string]string{"Cache-Control": `private="Set-Cookie, X-A", max-age=60`}, uncached(200)},
		{"Set-Cookie not stored", 0, map[string]string{"Cache-Control": "max-age=60", "Set-Cookie": "s=1"}, uncached(200)},
		{"request no-store", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{hdr: map[string]string{"Cache-Control": "no-store"}, status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "MISS", calls: 2},
			{status: 200, xcache: "HIT", calls: 2},
		}},
		{"no-cache response always revalidates", 0, map[string]string{"Cache-Control": "no-cache", "Etag": `"n"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "REVALIDATED", calls: 2},
			{status: 200, xcache: "REVALIDATED", calls: 3},
		}},
		{"request no-cache revalidates", 0, map[string]string{"Cache-Control": "max-age=60", "Etag": `"r"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"Cache-Control": "no-cache"}, status: 200, xcache: "REVALIDATED", calls: 2},
			{hdr: map[string]string{"Pragma": "no-cache"}, status: 200, xcache: "REVALIDATED", calls: 3},
			{hdr: map[string]string{"Pragma": "no-cache", "Cache-Control": "max-stale"}, status: 200, xcache: "HIT", calls: 3},
		}},
		{"request max-age and min-fresh", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 20 * time.Second, hdr: map[string]string{"Cache-Control": "max-age=30"}, status: 200, xcache: "HIT", calls: 1},
			{hdr: map[string]string{"Cache-Control": "max-age=10"}, status: 200, xcache: "MISS", calls: 2},
			{advance: 30 * time.Second, hdr: map[string]string{"Cache-Control": "min-fresh=40"}, status: 200, xcache: "MISS", calls: 3},
		}},
		{"request max-stale", 0, map[string]string{"Cache-Control": "max-age=10"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 15 * time.Second, hdr: map[string]string{"Cache-Control": "max-stale=10"}, status: 200, xcache: "STALE", calls: 1},
			{hdr: map[string]string{"Cache-Control": "max-stale=2"}, status: 200, xcache: "MISS", calls: 2},
		}},
		{"must-revalidate forbids max-stale", 0, map[string]string{"Cache-Control": "max-age=10, must-revalidate"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 15 * time.Second, hdr: map[string]string{"Cache-Control": "max-stale"}, status: 200, xcache: "MISS", calls: 2},
		}},
		{"only-if-cached", 0, map[string]string{"Cache-Control": "max-age=10"}, []step{
			{hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, calls: 0},
			{status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"Cache-Control": "only-if-cached"}, status: 200, xcache: "HIT", calls: 1},
		}},
		{"Authorization: not stored without public", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{hdr: map[string]string{"Authorization": "Bearer x"}, status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "MISS", calls: 2},
			{hdr: map[string]string{"Authorization": "Bearer x"}, status: 200, xcache: "HIT", calls: 2},
		}},
		{"Authorization: public stores", 0, map[string]string{"Cache-Control": "public, max-age=60"}, []step{
			{hdr: map[string]string{"Authorization": "Bearer x"}, status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "HIT", calls: 1},
		}},
		{"Authorization: s-maxage stores", 0, map[string]string{"Cache-Control": "s-maxage=60"}, []step{
			{hdr: map[string]string{"Authorization": "Bearer x"}, status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "HIT", calls: 1},
		}},
		{"Authorization: must-revalidate stores", 0, map[string]string{"Cache-Control": "max-age=60, must-revalidate"}, []step{
			{hdr: map[string]string{"Authorization": "Bearer x"}, status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "HIT", calls: 1},
		}},
		{"Vary on a field", 0, map[string]string{"Cache-Control": "max-age=60", "Vary": "Accept-Language"}, []step{
			{hdr: map[string]string{"Accept-Language": "fr"}, status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"Accept-Language": "de"}, status: 200, xcache: "MISS", calls: 2},
			{hdr: map[string]string{"Accept-Language": "fr"}, status: 200, xcache: "HIT", calls: 2},
			{hdr: map[string]string{"Accept-Language": "de"}, status: 200, xcache: "HIT", calls: 2},
			{status: 200, xcache: "MISS", calls: 3},
			{status: 200, xcache: "HIT", calls: 3},
		}},
		{"Vary Accept-Encoding normalized", 0, map[string]string{"Cache-Control": "max-age=60", "Vary": "accept-encoding"}, []step{
			{hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, xcache: "HIT", calls: 1},
			{hdr: map[string]string{"Accept-Encoding": "br"}, status: 200, xcache: "MISS", calls: 2},
		}},
		{"Vary star not stored", 0, map[string]string{"Cache-Control": "max-age=60", "Vary": "*"}, uncached(200)},
		{"client If-None-Match on a hit", 0, map[string]string{"Cache-Control": "max-age=60", "Etag": `"v"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"If-None-Match": `"x", W/"v"`}, status: 304, xcache: "HIT", calls: 1, check: noBody},
			{hdr: map[string]string{"If-None-Match": `"x"`}, status: 200, xcache: "HIT", calls: 1},
			{hdr: map[string]string{"If-None-Match": `*`}, status: 304, xcache: "HIT", calls: 1},
		}},
		{"client If-Modified-Since on a hit", 0, map[string]string{"Cache-Control": "max-age=60", "Last-Modified": lastMod}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"If-Modified-Since": lastMod}, status: 304, xcache: "HIT", calls: 1},
			{hdr: map[string]string{"If-Modified-Since": t0.Add(-11 * time.Hour).Format(http.TimeFormat)}, status: 200, xcache: "HIT", calls: 1},
		}},
		{"client conditional on a miss: 304, stored anyway", 0, map[string]string{"Cache-Control": "max-age=60", "Etag": `"m"`}, []step{
			{hdr: map[string]string{"If-None-Match": `"m"`}, status: 304, xcache: "MISS", calls: 1, check: noBody},
			{status: 200, xcache: "HIT", calls: 1, check: bodyIs("hello, cache")},
		}},
		{"client conditional on a revalidation", 0, map[string]string{"Cache-Control": "max-age=1", "Etag": `"c"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 2 * time.Second, hdr: map[string]string{"If-None-Match": `"c"`}, status: 304, xcache: "REVALIDATED", calls: 2},
		}},
		{"HEAD from a GET's entry", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{method: "HEAD", status: 200, calls: 1},
			{status: 200, xcache: "MISS", calls: 2},
			{method: "HEAD", status: 200, xcache: "HIT", calls: 2, check: noBody},
		}},
		{"Range passes", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{hdr: map[string]string{"Range": "bytes=0-1"}, status: 200, calls: 2},
		}},
		{"POST invalidates", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{status: 200, xcache: "HIT", calls: 1},
			{method: "POST", status: 200, calls: 2},
			{status: 200, xcache: "MISS", calls: 3},
		}},
		{"query is part of the key", 0, map[string]string{"Cache-Control": "max-age=60"}, []step{
			{target: "/a?x=1", status: 200, xcache: "MISS", calls: 1},
			{target: "/a?x=2", status: 200, xcache: "MISS", calls: 2},
			{target: "/a?x=1", status: 200, xcache: "HIT", calls: 2},
		}},
		{"stale-if-error serves stale on 5xx", 0, map[string]string{"Cache-Control": "max-age=10, stale-if-error=60"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 20 * time.Second, fail: true, status: 200, xcache: "STALE", calls: 2, check: bodyIs("hello, cache")},
			{advance: 60 * time.Second, status: 503, xcache: "MISS", calls: 3},
		}},
		{"stale-if-error yields to must-revalidate", 0, map[string]string{"Cache-Control": "max-age=10, stale-if-error=60, must-revalidate"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 20 * time.Second, fail: true, status: 503, xcache: "MISS", calls: 2},
		}},
		{"stale-while-revalidate", 0, map[string]string{"Cache-Control": "max-age=10, stale-while-revalidate=30", "Etag": `"s"`}, []step{
			{status: 200, xcache: "MISS", calls: 1},
			{advance: 20 * time.Second, status: 200, xcache: "STALE", calls: 2}, // served stale; the refresh ran (waitRefresh)
			{status: 200, xcache: "HIT", calls: 2, check: ageIs("0")},
			{advance: 50 * time.Second, status: 200, xcache: "REVALIDATED", calls: 3},
		}},
		{"too large not stored", 0, map[string]string{"Cache-Control": "max-age=60", "Content-Length": "999999"}, []step{
			{status: 200, xcache: "MISS", calls: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &origin{status: tc.status, header: tc.header, body: "hello, cache"}
			h := newHarness(t, Config{MaxObjectBytes: 64 << 10}, o)
			for i, s := range tc.steps {
				h.clock.Advance(s.advance)
				if s.fail {
					o.failing.Store(true)
				}
				method, target := s.method, s.target
				if method == "" {
					method = "GET"
				}
				if target == "" {
					target = "/static/app.css"
				}
				rec := h.do(method, target, s.hdr)
				h.waitRefresh()
				res := rec.Result()
				if res.StatusCode != s.status || res.Header.Get("X-Cache") != s.xcache || o.calls.Load() != s.calls {
					t.Fatalf("step %d: status %d, X-Cache %q, origin calls %d; want %d, %q, %d", i, res.StatusCode,
						res.Header.Get("X-Cache"), o.calls.Load(), s.status, s.xcache, s.calls)
				}
				if s.check != nil {
					s.check(t, res.Header, rec.Body.String())
				}
			}
		})
	}
}

func ageIs(want string) func(*testing.T, http.Header, string) {
	return func(t *testing.T, h http.Header, _ string) {
		t.Helper()
		if h.Get("Age") != want {
			t.Errorf("Age %q, want %q", h.Get("Age"), want)
		}
	}
}

func bodyIs(want string) func(*testing.T, http.Header, string) {
	return func(t *testing.T, _ http.Header, body string) {
		t.Helper()
		if body != want {
			t.Errorf("body %q, want %q", body, want)
		}
	}
}

func noBody(t *testing.T, h http.Header, body string) {
	t.Helper()
	if body != "" {
		t.Errorf("body %q, want none", body)
	}
}

// TestRevalidationSendsValidators: the backend sees the stored
// validators, not the client's own conditions.
func TestRevalidationSendsValidators(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=1", "Etag": `"v1"`, "Last-Modified": lastMod}, body: "x"}
	h := newHarness(t, Config{}, o)
	h.do("GET", "/r", map[string]string{"If-None-Match": `"client"`})
	if got := o.last.Load().Header.Get("If-None-Match"); got != "" {
		t.Fatalf("a miss sent the client's If-None-Match %q to the backend", got)
	}
	h.clock.Advance(2 * time.Second)
	h.do("GET", "/r", nil)
	r := o.last.Load()
	if r.Header.Get("If-None-Match") != `"v1"` || r.Header.Get("If-Modified-Since") != lastMod {
		t.Fatalf("revalidation sent If-None-Match %q, If-Modified-Since %q; want \"v1\" and %s",
			r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since"), lastMod)
	}
}

// TestRevalidationKeepsWeakETag: a 304 carrying the backend's strong
// ETag does not replace the weak one of a compressed variant.
func TestRevalidationKeepsWeakETag(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=1", "Etag": `W/"z"`}, body: "x"}
	h := newHarness(t, Config{}, o)
	h.do("GET", "/w", nil)
	o.header["Etag"] = `"z"` // the 304 comes with the strong form
	h.clock.Advance(2 * time.Second)
	rec := h.do("GET", "/w", nil)
	if rec.Header().Get("X-Cache") != "REVALIDATED" || rec.Header().Get("Etag") != `W/"z"` {
		t.Fatalf("X-Cache %q, ETag %q; want REVALIDATED and W/\"z\"", rec.Header().Get("X-Cache"), rec.Header().Get("Etag"))
	}
}

func TestPurge(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=60", "Vary": "Accept-Language"}, body: "x"}
	h := newHarness(t, Config{}, o)
	for _, p := range []string{"/static/a.css", "/static/b.js", "/api/x"} {
		h.do("GET", p, map[string]string{"Accept-Language": "fr"})
	}
	if n := h.c.Purge("/static/a.css", false); n != 1 {
		t.Fatalf("Purge(/static/a.css) = %d, want 1", n)
	}
	if got := h.do("GET", "/static/b.js", map[string]string{"Accept-Language": "fr"}).Header().Get("X-Cache"); got != "HIT" {
		t.Fatalf("b.js after purging a.css: X-Cache %q, want HIT", got)
	}
	if n := h.c.Purge("/static/", true); n != 1 {
		t.Fatalf("Purge(/static/ prefix) = %d, want 1", n)
	}
	for p, want := range map[string]string{"/static/a.css": "MISS", "/static/b.js": "MISS", "/api/x": "HIT"} {
		if got := h.do("GET", p, map[string]string{"Accept-Language": "fr"}).Header().Get("X-Cache"); got != want {
			t.Errorf("%s after purge: X-Cache %q, want %q", p, got, want)
		}
	}
	if s := h.c.Stats(); s.Purged != 2 {
		t.Errorf("Stats().Purged = %d, want 2", s.Purged)
	}
}

// TestEviction: the store stays within max_bytes, evicting.
func TestEviction(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=60"}, body: strings.Repeat("x", 10<<10)}
	h := newHarness(t, Config{MaxBytes: 100 << 10, MaxObjectBytes: 20 << 10}, o)
	for i := range 50 {
		h.do("GET", "/o/"+strings.Repeat("k", i), nil)
	}
	s := h.c.Stats()
	if s.Bytes > 100<<10 || s.Evictions == 0 || s.Stores != 50 {
		t.Fatalf("after 50 stores of 10 KiB into 100 KiB: %d bytes, %d evictions, %d stores; want <= 102400, > 0, 50", s.Bytes, s.Evictions, s.Stores)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{MaxBytes: 10}, "cache.max_bytes: 10: at least 4096 bytes"},
		{Config{MaxBytes: 1 << 20, MaxObjectBytes: 2 << 20}, "cache.max_object_bytes: 2097152: between 0 and max_bytes (1048576)"},
		{Config{HeuristicMax: -time.Second}, "cache.heuristic_max: -1s"},
		{Config{CollapseTimeout: -time.Second}, "cache.collapse_timeout: -1s"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestHitSharesNoBackingArray: a writer that adds to a field of a hit
// (a Vary, a Set-Cookie) must not change the stored entry.
func TestHitSharesNoBackingArray(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=60"}, body: "x"}
	h := newHarness(t, Config{}, o)
	h.do("GET", "/v", nil)
	res := h.c.Lookup(t.Context(), Request{Method: "GET", Host: "www.example.test", Target: "/v", Header: http.Header{}})
	e := res.Hit.Entry
	e.Header["Cache-Control"] = append(make([]string, 0, 4), "max-age=60") // room to append in place
	rec := httptest.NewRecorder()
	res.Hit.WriteTo(rec, false)
	rec.Header().Add("Cache-Control", "added-by-a-writer")
	if got := e.Header["Cache-Control"][:cap(e.Header["Cache-Control"])][1]; got != "" {
		t.Fatalf("the stored field's array got %q from a writer's Add", got)
	}
}
