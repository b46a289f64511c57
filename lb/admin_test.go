package lb

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAdminAPI(t *testing.T) {
	h := newHarness(t, 3, nil)
	tok := "Bearer " + h.srv.AdminToken()
	tests := []struct {
		name, method, path, body, auth string
		want                           int
		contains                       []string
		header                         map[string]string
	}{
		{"pools", "GET", "/api/v1/pools", "", "", 200, []string{`"name": "web"`, `"policy": "round_robin"`, `"available": 3`}, map[string]string{"X-Total-Count": "1"}},
		{"pool", "GET", "/api/v1/pools/web", "", "", 200, []string{`"frontends": [`, `"http"`, `"interval": "300ms"`}, nil},
		{"unknown pool", "GET", "/api/v1/pools/api", "", "", 404, []string{"pool_not_found", `no pool \"api\"`}, nil},
		{"backends", "GET", "/api/v1/pools/web/backends", "", "", 200, []string{`"id": "b1"`, `"state": "up"`, `"in_flight": 0`, `"drained_at": null`}, map[string]string{"X-Total-Count": "3"}},
		{"backends page", "GET", "/api/v1/pools/web/backends?limit=1&offset=1", "", "", 200, []string{`"id": "b2"`}, map[string]string{"Link": `rel="next"`}},
		{"bad limit", "GET", "/api/v1/pools/web/backends?limit=500", "", "", 400, []string{"bad_limit"}, nil},
		{"backend", "GET", "/api/v1/pools/web/backends/b2", "", "", 200, []string{`"id": "b2"`, `"source": "config"`}, map[string]string{"ETag": `"`}},
		{"unknown backend", "GET", "/api/v1/pools/web/backends/b9", "", "", 404, []string{"backend_not_found"}, nil},
		{"wrong verb", "PUT", "/api/v1/pools/web/backends/b2", "{}", tok, 405, []string{"method_not_allowed"}, map[string]string{"Allow": "DELETE, GET, HEAD, OPTIONS, PATCH"}},
		{"no token", "PATCH", "/api/v1/pools/web/backends/b2", `{"state":"draining"}`, "", 401, []string{"unauthorized"}, map[string]string{"WWW-Authenticate": "Bearer"}},
		{"wrong token", "PATCH", "/api/v1/pools/web/backends/b2", `{"state":"draining"}`, "Bearer nope", 401, []string{"invalid_token"}, nil},
		{"bad state", "PATCH", "/api/v1/pools/web/backends/b2", `{"state":"down"}`, tok, 422, []string{"bad_state", "set by health checks"}, nil},
		{"bad weight", "PATCH", "/api/v1/pools/web/backends/b2", `{"weight":999}`, tok, 422, []string{"bad_weight"}, nil},
		{"unknown field", "PATCH", "/api/v1/pools/web/backends/b2", `{"colour":"red"}`, tok, 400, []string{"unknown_field", "colour"}, nil},
		{"empty patch", "PATCH", "/api/v1/pools/web/backends/b2", `{}`, tok, 400, []string{"empty_patch"}, nil},
		{"drain", "PATCH", "/api/v1/pools/web/backends/b2", `{"state":"draining","weight":5}`, tok, 200, []string{`"state": "draining"`, `"weight": 5`, `"drained_at": "`}, nil},
		{"add", "POST", "/api/v1/pools/web/backends", `{"id":"b4","address":"127.0.0.1:1","state":"maintenance"}`, tok, 201, []string{`"id": "b4"`, `"source": "api"`, `"state": "maintenance"`}, map[string]string{"Location": "/api/v1/pools/web/backends/b4"}},
		{"add again", "POST", "/api/v1/pools/web/backends", `{"id":"b4","address":"127.0.0.1:1"}`, tok, 409, []string{"backend_exists"}, nil},
		{"add bad address", "POST", "/api/v1/pools/web/backends", `{"id":"b5","address":"nowhere"}`, tok, 422, []string{"bad_address"}, nil},
		{"delete", "DELETE", "/api/v1/pools/web/backends/b4", "", tok, 204, nil, nil},
		{"delete again", "DELETE", "/api/v1/pools/web/backends/b4", "", tok, 404, nil, nil},
		{"healthz", "GET", "/healthz", "", "", 200, []string{`"status": "ok"`}, nil},
		{"readyz", "GET", "/readyz", "", "", 200, []string{`"status": "ready"`}, nil},
		{"metrics", "GET", "/metrics", "", "", 200, []string{"lbd_requests_total", "lbd_backend_in_flight_requests", `lbd_backend_state{backend="b2",pool="web",state="draining"} 1`, "lbd_health_checks_total", "lbd_backend_state_changes_total"}, nil},
		{"options", "OPTIONS", "/api/v1/pools", "", "", 204, nil, map[string]string{"Allow": "GET"}},
		{"unknown path", "GET", "/api/v2", "", "", 404, []string{"not_found"}, nil},
		{"dashboard", "GET", "/", "", "", 200, []string{"<h1>lbd</h1>", "pool web", `<td class="s">draining</td>`, "<code>127.0.0.1:"}, map[string]string{"Content-Type": "text/html"}},
	}
	// make some traffic so request metrics exist
	c := newClient()
	for range 3 {
		if _, _, err := h.get(c, "/"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, h.admin+tt.path, body)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, data)
			}
			for _, w := range tt.contains {
				if !strings.Contains(string(data), w) {
					t.Fatalf("body lacks %q:\n%s", w, data)
				}
			}
			for k, v := range tt.header {
				if !strings.Contains(resp.Header.Get(k), v) {
					t.Fatalf("header %s = %q, want it to contain %q", k, resp.Header.Get(k), v)
				}
			}
		})
	}
	t.Run("etag 304", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.admin+"/api/v1/pools/web", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusNotModified {
			t.Fatalf("status %d", resp2.StatusCode)
		}
	})
}

func TestTwoServersInOneProcess(t *testing.T) {
	a := newHarness(t, 1, nil)
	b := newHarness(t, 1, nil)
	if a.srv.AdminToken() == b.srv.AdminToken() {
		t.Fatal("two servers share a token")
	}
	for _, h := range []*harness{a, b} {
		if _, _, err := h.get(newClient(), "/"); err != nil {
			t.Fatal(err)
		}
	}
}
