package geo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

func TestAdminAPI(t *testing.T) {
	loc := demoLocator(t)
	reg := prometheus.NewRegistry()
	e, err := New(wwwConfig(), loc, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.RegisterRoutes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name     string
		method   string
		path     string
		status   int
		contains []string
	}{
		{"pools", "GET", "/api/v1/geo/pools", 200, []string{`"pool": "eu"`, `"address": "127.0.10.1"`, `"state": "up"`, `"default": true`}},
		{"pools filtered by name", "GET", "/api/v1/geo/pools?name=www.example.test&limit=1", 200, []string{`"pool": "eu"`}},
		{"pools bad limit", "GET", "/api/v1/geo/pools?limit=1000", 400, []string{`"field": "limit"`}},
		{"pools POST not allowed", "POST", "/api/v1/geo/pools", 405, []string{"method_not_allowed"}},
		{"database", "GET", "/api/v1/geo/database", 200, []string{`"type": "GeoLite2-City"`}},
		{"explain by client", "GET", "/api/v1/explanations?name=www.example.test&client=127.0.20.5", 200,
			[]string{`"pool": "na"`, `"rule": "continent NA"`, `127.0.20.1`, `"source": "client"`, `"country": "US"`}},
		{"explain by subnet has scope", "GET", "/api/v1/explanations?name=www.example.test&subnet=81.2.69.142/32", 200,
			[]string{`"pool": "eu"`, `"scope_prefix_length": 31`, `"source": "ecs"`, `"network": "81.2.69.142/31"`}},
		{"explain bare address as subnet", "GET", "/api/v1/explanations?name=www.example.test&subnet=81.2.69.142", 200, []string{`"source_prefix_length": 32`}},
		{"explain AAAA", "GET", "/api/v1/explanations?name=www.example.test&client=127.0.10.5&type=AAAA", 200, []string{`fd00:10::1`}},
		{"explain defaults client to caller", "GET", "/api/v1/explanations?name=www.example.test", 200, []string{`"client": "127.0.0.1"`, `"pool": "default"`}},
		{"explain missing name", "GET", "/api/v1/explanations", 400, []string{`"field": "name"`}},
		{"explain bad client", "GET", "/api/v1/explanations?name=www.example.test&client=nope", 400, []string{`"field": "client"`}},
		{"explain bad subnet", "GET", "/api/v1/explanations?name=www.example.test&subnet=1.2.3.4/99", 400, []string{`"field": "subnet"`}},
		{"explain bad type", "GET", "/api/v1/explanations?name=www.example.test&type=BOGUS", 400, []string{`"field": "type"`}},
		{"explain unknown name", "GET", "/api/v1/explanations?name=mail.example.test", 404, []string{"not_geo_managed", "www.example.test."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body json.RawMessage
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("body lacks %s:\n%s", s, body)
				}
			}
		})
	}

	// Explanations are not answers: the counters did not move.
	if v := testutil.MetricValue(t, reg, "dnsd_geo_answers_total"); v != 0 {
		t.Fatalf("dnsd_geo_answers_total = %v after explanations only, want 0", v)
	}
}

func TestAdminNoEngine(t *testing.T) {
	mux := http.NewServeMux()
	RegisterRoutesFunc(mux, func() *Engine { return nil })
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/geo/pools", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
}
