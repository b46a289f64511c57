package lb

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	nstls "netsim/tls"

	"netsim/internal/testutil"
)

// TestReencrypt proxies to a TLS backend verified against a CA and a
// server name; a wrong name makes the checks (and so the backend) fail.
func TestReencrypt(t *testing.T) {
	pki, err := nstls.EnsureDemoPKI(t.TempDir(), []string{"app.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.Cert, pki.Key)
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "plain", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "tls sni=%s proto=%s\n", r.TLS.ServerName, r.Header.Get("X-Forwarded-Proto"))
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	backend.StartTLS()
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "https://")

	h := newHarness(t, 1, func(c *Config) {
		c.Pools[0].Backends[0].Address = addr
		c.Pools[0].TLS = &PoolTLS{CA: pki.CACert, ServerName: "app.example.test"}
	})
	resp2, err := newClient().Get(h.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 200 || !strings.Contains(string(b), "tls sni=app.example.test proto=http") {
		t.Fatalf("through lbd: %d %q", resp2.StatusCode, b)
	}

	// A name the certificate does not cover: checks fail, the backend goes
	// down, requests get 503 rather than reaching an unverified server.
	bad := h.cfg
	bad.Pools = append([]PoolConfig(nil), h.cfg.Pools...)
	bad.Pools[0].TLS = &PoolTLS{CA: pki.CACert, ServerName: "other.example.test"}
	if err := h.srv.Reload(bad); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "backend down after the name changed", 10*time.Second, func() bool {
		return h.srv.pool("web").snap.Load().order[0].b.State().String() == "down"
	})
	resp3, err := newClient().Get(h.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with a wrong server name: %d, want 503", resp3.StatusCode)
	}

	for _, tc := range []struct {
		name string
		tls  *PoolTLS
		want string
	}{
		{"no server name", &PoolTLS{CA: pki.CACert}, "pools[0].tls.server_name"},
		{"half client pair", &PoolTLS{ServerName: "x", Cert: "c.pem"}, "cert and key go together"},
		{"missing ca", &PoolTLS{ServerName: "x", CA: "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1:1")
			cfg.Pools[0].TLS = tc.tls
			if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
