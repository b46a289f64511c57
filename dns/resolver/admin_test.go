package resolver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestAdminAPI(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	mux := http.NewServeMux()
	r.RegisterRoutes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, n := range []string{"www.example.test", "mail.example.test", "nope.example.test"} {
		r.Answer(context.Background(), query(n, dns.TypeA), loopback)
	}
	do := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cases := []struct {
		name, method, path string
		status             int
		contains           []string
		header             map[string]string
	}{
		{"list all", "GET", "/api/v1/cache?limit=2", 200, []string{`"kind": "delegation"`}, map[string]string{"Link": `rel="next"`}},
		{"list one name", "GET", "/api/v1/cache?name=www.example.test", 200, []string{`"name": "www.example.test."`, `"remaining_ttl": 300`, `"stale": false`, "127.0.20.1"}, map[string]string{"X-Total-Count": "1"}},
		{"list by type", "GET", "/api/v1/cache?name=nope.example.test&type=a", 200, []string{`"negative": true`, `"rcode": "NXDOMAIN"`}, nil},
		{"bad type", "GET", "/api/v1/cache?type=BOGUS", 400, []string{`"field": "type"`}, nil},
		{"bad name", "GET", "/api/v1/cache?name=a..b", 400, []string{`"field": "name"`}, nil},
		{"bad limit", "GET", "/api/v1/cache?limit=1000", 400, []string{`"field": "limit"`}, nil},
		{"one name", "GET", "/api/v1/cache/www.example.test", 200, []string{`"type": "A"`}, nil},
		{"one name not cached", "GET", "/api/v1/cache/zzz.example.test", 404, []string{"nothing is cached for zzz.example.test."}, nil},
		{"delete one type", "DELETE", "/api/v1/cache/mail.example.test?type=A", 204, nil, map[string]string{"X-Flushed-Count": "1"}},
		{"delete again", "DELETE", "/api/v1/cache/mail.example.test", 404, nil, nil},
		{"delete name", "DELETE", "/api/v1/cache/www.example.test", 204, nil, nil},
		{"gone", "GET", "/api/v1/cache?name=www.example.test", 200, []string{`"data": []`}, map[string]string{"X-Total-Count": "0"}},
		{"wrong verb", "POST", "/api/v1/cache", 405, []string{"method_not_allowed"}, map[string]string{"Allow": "DELETE, GET, HEAD, OPTIONS"}},
		{"resolution", "GET", "/api/v1/resolutions?name=mail.example.test&type=MX", 200, []string{`"kind": "referral"`, `"zone": "test."`, `"rcode": "NOERROR"`, "mx1.example.test."}, nil},
		{"resolution without name", "GET", "/api/v1/resolutions", 400, []string{`"field": "name"`}, nil},
		{"upstreams", "GET", "/api/v1/upstreams", 200, []string{`"address": "127.0.1.1:`, `"srtt"`}, nil},
		{"flush all", "DELETE", "/api/v1/cache", 204, nil, nil},
		{"empty after flush", "GET", "/api/v1/cache", 200, []string{`"data": []`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(tc.method, tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for k, v := range tc.header {
				if !strings.Contains(resp.Header.Get(k), v) {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
			if body != "" && resp.StatusCode != 204 {
				var v map[string]any
				if err := json.Unmarshal([]byte(body), &v); err != nil {
					t.Fatalf("not JSON: %v", err)
				}
			}
		})
	}
}
