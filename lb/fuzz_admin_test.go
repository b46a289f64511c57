package lb

import (
	"encoding/json"
	"testing"

	"netsim/internal/testutil"
)

// FuzzBackendBody sends JSON bodies to PATCH
// /api/v1/pools/web/backends/b1 and POST /api/v1/pools/web/backends
// through lbd's admin handler (no listener, no health checks). Whatever
// the body: no 5xx, the REST.md envelope, a backend that stays
// within its bounds; a created backend is found at its Location and
// deleted again, a patched one set back, so each input starts alike.
func FuzzBackendBody(f *testing.F) {
	srv := newServer(f, testConfig("127.0.0.1:1", "127.0.0.1:2"))
	h := srv.adminHandler()
	auth := map[string]string{"Authorization": "Bearer " + srv.AdminToken(), "Content-Type": "application/json"}
	const b1 = "/api/v1/pools/web/backends/b1"
	for _, s := range []string{
		`{"state":"draining"}`, `{"state":"up","weight":3}`, `{"state":"maintenance","max_connections":5}`,
		`{"weight":999}`, `{"weight":-1}`, `{"max_connections":-1}`, `{"state":"down"}`, `{}`, `{"colour":"red"}`,
		`{"id":"b4","address":"127.0.0.1:9004","weight":1}`, `{"id":"b4","address":"nowhere"}`,
		`{"id":"","address":"127.0.0.1:1"}`, `{"id":"b1","address":"127.0.0.1:1"}`,
		`{"id":"b/x","address":"[::1]:80","state":"maintenance","max_connections":1e3}`,
		`[]`, `{`, `null`, `{"weight":1.5}`, `{"weight":"2"}`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, post bool, body string) {
		method, target := "PATCH", b1
		if post {
			method, target = "POST", "/api/v1/pools/web/backends"
		}
		rec := testutil.Do(h, method, target, body, auth)
		data := testutil.Envelope(t, method+" "+body, rec.Code, rec.Body.Bytes())
		var v BackendView
		switch {
		case rec.Code < 300 && (json.Unmarshal(data, &v) != nil || v.Weight < 0 || v.Weight > MaxWeight || v.MaxConnections < 0):
			t.Fatalf("%s %q: %d with data out of bounds: %s", method, body, rec.Code, rec.Body)
		case rec.Code == 201:
			loc := rec.Header().Get("Location")
			if got := testutil.Do(h, "GET", loc, "", nil); got.Code != 200 {
				t.Fatalf("%s %q: 201 with Location %q, whose GET is %d %s", method, body, loc, got.Code, got.Body)
			}
			if got := testutil.Do(h, "DELETE", loc, "", auth); got.Code != 204 {
				t.Fatalf("DELETE %s after %q: %d %s", loc, body, got.Code, got.Body)
			}
		case rec.Code == 200:
			if got := testutil.Do(h, "PATCH", b1, `{"state":"up","weight":1,"max_connections":0}`, auth); got.Code != 200 {
				t.Fatalf("setting b1 back after %q: %d %s", body, got.Code, got.Body)
			}
		}
	})
}
