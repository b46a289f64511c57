package l4

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAdminHandler(t *testing.T) {
	e := startEcho(t, "b1", false)
	s, _, _, _ := run(t, Config{Pools: []Pool{mkPool("echo", "round_robin", "", e)},
		Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}}})
	h := s.Handler("tok")
	for _, tt := range []struct {
		method, path, body, token string
		code                      int
		want                      string
	}{
		{"GET", "/api/v1/l4/pools", "", "", 200, `"policy": "round_robin"`},
		{"GET", "/api/v1/l4/frontends", "", "", 200, `"address": "127.0.0.1:`},
		{"GET", "/api/v1/l4/pools/echo", "", "", 200, `"id": "b1"`},
		{"GET", "/api/v1/l4/pools/nope", "", "", 404, "not_found"},
		{"GET", "/api/v1/l4/pools/echo/backends/b1", "", "", 200, `"state": "up"`},
		{"PATCH", "/api/v1/l4/pools/echo/backends/b1", `{"state":"draining"}`, "", 401, "unauthorized"},
		{"PATCH", "/api/v1/l4/pools/echo/backends/b1", `{"state":"down"}`, "tok", 422, "health checks"},
		{"PATCH", "/api/v1/l4/pools/echo/backends/zz", `{"state":"draining"}`, "tok", 404, "not_found"},
		{"PATCH", "/api/v1/l4/pools/echo/backends/b1", `{"state":"draining"}`, "tok", 200, `"state": "draining"`},
		{"DELETE", "/api/v1/l4/pools/echo/backends/b1", "", "tok", 405, "method_not_allowed"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("%d %s; want %d containing %q", rec.Code, rec.Body, tt.code, tt.want)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("not JSON: %s", rec.Body)
			}
		})
	}
	if st := s.Pools()[0].Backends[0]; st.State != "draining" || st.DrainedAt == nil {
		t.Fatalf("after PATCH: %+v", st)
	}
	_ = http.StatusOK
}
