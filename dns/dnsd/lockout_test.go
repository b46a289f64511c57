package dnsd

import (
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"

	"netsim/internal/testutil"
)

// TestAdminLockout: dnsd's admin API locks an address out after
// admin.lockout.failures bad tokens (429 + Retry-After) while the valid
// token still works from it; failures 0 turns the lock-out off.
func TestAdminLockout(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     int
	}{{2, 429}, {0, 401}} {
		t.Run(strconv.Itoa(tc.failures), func(t *testing.T) {
			c, err := Load(writeFile(t, "admin:\n  listen: 127.0.0.1:0\n  lockout:\n    failures: "+strconv.Itoa(tc.failures)+
				"\nservers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.failures > 0 && (c.Admin.Lockout.Window <= 0 || c.Admin.Lockout.MaxClients <= 0) {
				t.Fatalf("a file setting only failures keeps the other defaults: %+v", c.Admin.Lockout)
			}
			d, err := New(c, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			run(t, d)
			url := "http://" + d.AdminAddr() + "/api/v1/zones/example.test./records"
			body := `{"name":"lock.example.test.","type":"A","ttl":60,"data":"192.0.2.9"}`
			for range 2 {
				testutil.Fetch(t, "POST", url, body, "guess")
			}
			resp, text := testutil.Fetch(t, "POST", url, body, "guess")
			if resp.StatusCode != tc.want || (tc.want == 429 && (resp.Header.Get("Retry-After") == "" || !strings.Contains(text, "too_many_bad_tokens"))) {
				t.Errorf("third bad token got %d (Retry-After %q) %s, want %d", resp.StatusCode, resp.Header.Get("Retry-After"), text, tc.want)
			}
			if resp, text := testutil.Fetch(t, "POST", url, body, d.Token()); resp.StatusCode != 201 {
				t.Errorf("valid token got %d %s, want 201", resp.StatusCode, text)
			}
		})
	}
}
