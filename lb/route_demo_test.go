package lb

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// TestDemoRoutes: the embedded default's routes and its api and static
// pools, over webd servers on free ports, do what the curl
// commands show: /api to pool api as JSON, /static to pool static with
// validators (304), and the api route's rate limit (200s, then 429 with
// the fields).
func TestDemoRoutes(t *testing.T) {
	def := DefaultConfig()
	apps := map[string]string{}
	for _, id := range []string{"a1", "s1"} {
		apps[id] = startWebd(t, id, "v1", "127.0.0.1:0").addr
	}
	clk := testutil.NewClock(time.Unix(1_800_000_000, 0)) // stands still: the burst is exact
	h := newHarnessWith(t, 1, func(c *Config) {
		c.Frontends[0].Routes = def.Frontends[0].Routes
		for _, p := range def.Pools[1:] {
			p.Backends = []BackendConfig{{ID: p.Name[:1] + "1", Address: apps[p.Name[:1]+"1"]}}
			c.Pools = append(c.Pools, p)
		}
	}, func(s *Server) { s.now = clk.Now })
	c := newClient()
	resp, body := do(t, c, "GET", h.base+"/api/orders")
	if resp.StatusCode != 200 || resp.Header.Get("X-Lb-Backend") != "a1" || !strings.Contains(body, `"id": "o-1001"`) {
		t.Fatalf("/api/orders: %d from %q: %.80s", resp.StatusCode, resp.Header.Get("X-Lb-Backend"), body)
	}
	if resp.Header.Get("X-Ratelimit-Limit") != "20" || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("/api/orders fields: %v", resp.Header)
	}
	resp, _ = do(t, c, "GET", h.base+"/static/app.css")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || resp.Header.Get("X-Lb-Backend") != "s1" || etag == "" || resp.Header.Get("Last-Modified") == "" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("/static/app.css: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ = do(t, c, "GET", h.base+"/static/app.css", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	// for i in $(seq 30): a burst of 20 (one spent above), then 429s
	var codes []int
	for range 30 {
		resp, body = do(t, c, "GET", h.base+"/api/orders")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && (resp.Header.Get("X-Ratelimit-Remaining") != "0" || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(body, `"code": "rate_limited"`)) {
			t.Fatalf("429 without its fields or envelope: %v %s", resp.Header, body)
		}
	}
	if codes[18] != 200 || codes[19] != 429 || codes[29] != 429 {
		t.Fatalf("30 requests: %v, want 200s then 429s", codes)
	}
}
