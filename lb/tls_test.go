package lb

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	nstls "netsim/tls"
)

func TestHTTPSFrontend(t *testing.T) {
	pki, err := nstls.EnsureDemoPKI(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 2, func(c *Config) {
		c.Frontends[0].TLS = &FrontendTLS{Certs: []nstls.Pair{{Cert: pki.Cert, Key: pki.Key}}}
		c.Pools[0].Sticky.Mode = "cookie"
	})
	caPEM, err := os.ReadFile(pki.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil, ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "www.example.test"},
	}}
	base := strings.Replace(h.base, "http://", "https://", 1)
	a, resp := answer(t, c, base+"/")
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPS frontend spoke %s, want HTTP/2 by ALPN", resp.Proto)
	}
	if a.ForwardedProto != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", a.ForwardedProto)
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Errorf("sticky cookie over TLS lacks Secure: %q", sc)
	}
	// Plain HTTP to the HTTPS port fails the handshake, never reaches a backend.
	if r2, err := newClient().Get(h.base + "/"); err == nil {
		r2.Body.Close()
		if r2.StatusCode == 200 {
			t.Error("plain HTTP served on the HTTPS frontend")
		}
	}
	var certs []map[string]any
	h.adminJSON(http.MethodGet, "/api/v1/certificates", nil, http.StatusOK, &certs)
	if len(certs) != 1 || certs[0]["frontend"] != "http" {
		t.Fatalf("certificates: %v", certs)
	}
	// SIGHUP-style reload re-reads the files and keeps serving.
	if err := h.srv.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	if r3, err := c.Get(base + "/"); err != nil {
		t.Fatal(err)
	} else {
		r3.Body.Close()
	}
}

func TestHTTPSConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  *FrontendTLS
		h2c  bool
		want string
	}{
		{"no certs", &FrontendTLS{}, false, "frontends[0].tls.certs"},
		{"half pair", &FrontendTLS{Certs: []nstls.Pair{{Cert: "a.pem"}}}, false, "needs both cert and key"},
		{"h2c with tls", &FrontendTLS{Certs: []nstls.Pair{{Cert: "a", Key: "b"}}}, true, "frontends[0].h2c"},
		{"auth without ca", &FrontendTLS{Certs: []nstls.Pair{{Cert: "a", Key: "b"}}, ClientAuth: "require"}, false, "client_ca"},
		{"missing file", &FrontendTLS{Certs: []nstls.Pair{{Cert: "/nonexistent/c.pem", Key: "/nonexistent/k.pem"}}}, false, "/nonexistent/c.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1:1")
			cfg.Frontends[0].TLS = tc.tls
			cfg.Frontends[0].H2C = tc.h2c
			_, err := New(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
