package lb

import (
	"testing"

	"netsim/lb/httpcache"
)

// TestEdgeAdminFieldNames: the admin API spells the routes' match, the
// caches' counters and their durations as REST.md and the README do:
// snake_case names, durations as Go duration strings ("5s").
func TestEdgeAdminFieldNames(t *testing.T) {
	h, _ := newEdgeHarness(t, EngineFast, func(c *Config) {
		c.Frontends[0].Routes = []RouteConfig{{Name: "files", Pool: c.Pools[0].Name,
			Match: RouteMatch{PathPrefix: "/static", Methods: []string{"GET"}}, Cache: &httpcache.Config{MaxBytes: 1 << 20}}}
	})
	var routes []map[string]any
	h.adminJSON("GET", "/api/v1/frontends/http/routes", nil, 200, &routes)
	m, _ := routes[0]["match"].(map[string]any)
	if m["path_prefix"] != "/static" || m["methods"] == nil || len(m) != 2 {
		t.Errorf("route files: match %v; want {path_prefix: /static, methods: [GET]} and no empty fields", routes[0]["match"])
	}
	var caches []map[string]any
	h.adminJSON("GET", "/api/v1/caches", nil, 200, &caches)
	for _, c := range caches {
		st, _ := c["stats"].(map[string]any)
		for _, k := range []string{"hits", "misses", "collapsed", "stale", "revalidated", "stores", "evictions", "purged", "bytes", "objects"} {
			if _, ok := st[k]; !ok {
				t.Errorf("cache %v/%v: stats %v, no %q", c["frontend"], c["route"], st, k)
			}
		}
		cfg, _ := c["config"].(map[string]any)
		if cfg["collapse_timeout"] != "5s" || cfg["heuristic_max"] != "24h0m0s" {
			t.Errorf("cache %v/%v: config %v; want collapse_timeout \"5s\", heuristic_max \"24h0m0s\"", c["frontend"], c["route"], cfg)
		}
	}
	if len(caches) != 2 {
		t.Errorf("%d caches, want 2 (the frontend's and route files')", len(caches))
	}
}
