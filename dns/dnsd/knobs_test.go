package dnsd

import (
	"net/http"
	"strings"
	"testing"

	"netsim/internal/testutil"
)

// TestResolverKnobRoute: dnsd with a recursive listener serves GET and
// PATCH /api/v1/resolver, PATCH behind the token, and the resolver follows.
func TestResolverKnobRoute(t *testing.T) {
	d := newDaemon(t, "admin:\n  listen: 127.0.0.1:0\n  token: secret\nresolver:\n  coalesce: false\nservers:\n  - listen: 127.0.0.1:0\n    recursion: true\n")
	defer start(t, d)()
	url := "http://" + d.AdminAddr() + "/api/v1/resolver"
	do := func(method, body, token string) (int, string) {
		st, b := testutil.Call(t, method, url, body, token)
		return st, strings.Join(strings.Fields(b), " ")
	}
	if st, b := do("GET", "", ""); st != 200 || b != `{ "data": { "coalesce": false, "prefetch": true } }` {
		t.Fatalf("GET (resolver.coalesce: false in the config): %d %s", st, b)
	}
	if st, _ := do("PATCH", `{"prefetch":false}`, ""); st != http.StatusUnauthorized {
		t.Fatalf("PATCH without the token: %d", st)
	}
	if st, b := do("PATCH", `{"coalesce":true,"prefetch":false}`, "secret"); st != 200 || b != `{ "data": { "coalesce": true, "prefetch": false } }` {
		t.Fatalf("PATCH: %d %s", st, b)
	}
	if k := d.Recursor.Knobs(); !k.Coalesce || k.Prefetch {
		t.Fatalf("resolver knobs %+v after PATCH", k)
	}
}
