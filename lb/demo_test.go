package lb

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"netsim/internal/echo"
	"netsim/internal/listen"
	"netsim/internal/testutil"
	"netsim/lb/l4"
)

// startEchoBackends starts n internal/echo servers (e1..en) and returns
// their addresses.
func startEchoBackends(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for i := 1; i <= n; i++ {
		bound, stop, err := listen.Start("127.0.0.1:0", (&echo.Server{ID: fmt.Sprintf("e%d", i)}).Serve)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stop() })
		addrs = append(addrs, bound.String())
	}
	return addrs
}

// echoID connects to addr, checks the greeting and one echoed line, and
// returns the backend id.
func echoID(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greet, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	id, ok := strings.CutSuffix(strings.TrimSpace(greet), " ready")
	if !ok {
		t.Fatalf("greeting %q", greet)
	}
	fmt.Fprintln(c, "ping")
	line, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != id+": ping" {
		t.Fatalf("echo %q, %v", line, err)
	}
	return id
}

// demoConfig is the embedded default's three frontends and L4 section on
// ephemeral ports, the demo PKI in a temporary directory, and the plain
// frontend's twin redirecting to HTTPS.
func demoHarness(t *testing.T) (*harness, string) {
	t.Helper()
	def := DefaultConfig()
	echoes := startEchoBackends(t, 3)
	dir := t.TempDir()
	h := newHarness(t, 3, func(c *Config) {
		https := def.Frontends[1]
		https.Listen = "127.0.0.1:0"
		tlsCfg := *https.TLS
		tlsCfg.DemoDir = dir
		https.TLS = &tlsCfg
		https.HSTSMaxAge = time.Hour
		https.Routes = nil // the demo's routes and their pools: TestDemoRoutes
		redirect := c.Frontends[0]
		redirect.Name, redirect.RedirectHTTPS = "redirect", "https"
		c.Frontends = append(c.Frontends, https, redirect)
		c.Pools[0].Sticky.Mode = "cookie"
		c.L4 = def.L4
		c.L4.Frontends = []l4.Frontend{def.L4.Frontends[0]}
		c.L4.Frontends[0].Listen = "127.0.0.1:0"
		p := def.L4.Pools[0]
		p.Health.Interval = 300 * time.Millisecond
		p.Backends = nil
		for i, a := range echoes {
			p.Backends = append(p.Backends, l4.Backend{ID: fmt.Sprintf("e%d", i+1), Address: a})
		}
		c.L4.Pools = []l4.Pool{p}
	})
	return h, dir
}

func TestDemoHTTPSAndRedirect(t *testing.T) {
	h, dir := demoHarness(t)
	pki := h.srv.DemoPKI()
	if pki == nil || !strings.HasPrefix(pki.CACert, dir) {
		t.Fatalf("DemoPKI %+v, want files under %s", pki, dir)
	}
	caPEM, err := os.ReadFile(pki.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	httpsAddr := h.srv.Addr("https").(*net.TCPAddr)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil, ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "www.example.test"},
	}}
	seen := map[string]bool{}
	for range 6 {
		resp, _ := testutil.Send(t, c, testutil.NewRequest(t, http.MethodGet, fmt.Sprintf("https://%s/", httpsAddr)))
		if resp.ProtoMajor != 2 {
			t.Fatalf("spoke %s, want HTTP/2 by ALPN", resp.Proto)
		}
		if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=3600" {
			t.Fatalf("Strict-Transport-Security %q, want one max-age=3600", got)
		}
		if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
			t.Fatalf("sticky cookie over TLS lacks Secure: %q", sc)
		}
		seen[resp.Header.Get("X-LB-Backend")] = true
	}
	if len(seen) != 3 {
		t.Fatalf("HTTPS requests reached %v, want b1..b3", seen)
	}
	// The plain frontend has no HSTS (browsers ignore it there anyway).
	if _, resp, err := h.get(newClient(), "/"); err != nil || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("plain frontend: %v, HSTS %q", err, resp.Header.Get("Strict-Transport-Security"))
	}

	noFollow := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirect := "http://" + h.srv.Addr("redirect").String()
	for _, tc := range []struct {
		method, host, uri string
		code              int
		location          string
	}{
		{"GET", "www.example.test:8080", "/a/b?c=1", 301, fmt.Sprintf("https://www.example.test:%d/a/b?c=1", httpsAddr.Port)},
		{"HEAD", "www.example.test", "/", 301, fmt.Sprintf("https://www.example.test:%d/", httpsAddr.Port)},
		{"POST", "[::1]:8080", "/form", 308, fmt.Sprintf("https://[::1]:%d/form", httpsAddr.Port)},
	} {
		t.Run(tc.method+" "+tc.host, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, redirect+tc.uri, strings.NewReader(""))
			req.Host = tc.host
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tc.code, tc.location)
			}
			if resp.Header.Get("X-LB-Backend") != "" {
				t.Fatal("a redirect reached a backend")
			}
		})
	}

	// TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", httpsAddr.String(), &tls.Config{RootCAs: roots, ServerName: "www.example.test", MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	var certs []map[string]any
	h.adminJSON(http.MethodGet, "/api/v1/certificates", nil, http.StatusOK, &certs)
	if len(certs) != 1 || certs[0]["frontend"] != "https" {
		t.Fatalf("certificates: %v", certs)
	}
}

func TestL4InLbd(t *testing.T) {
	h, _ := demoHarness(t)
	tcp := h.srv.Addr("tcp").String()
	testutil.WaitFor(t, "e1..e3 up", 10*time.Second, func() bool {
		for _, b := range h.srv.L4().Pools()[0].Backends {
			if b.State != "up" {
				return false
			}
		}
		return true
	})
	count := func(n int) map[string]int {
		m := map[string]int{}
		for range n {
			m[echoID(t, tcp)]++
		}
		return m
	}
	if got := count(6); got["e1"] != 2 || got["e2"] != 2 || got["e3"] != 2 {
		t.Fatalf("round robin over e1..e3: %v", got)
	}

	// The L4 API on lbd's admin listener, behind lbd's token.
	var pools []l4.PoolStatus
	h.adminJSON(http.MethodGet, "/api/v1/l4/pools", nil, http.StatusOK, &pools)
	if len(pools) != 1 || pools[0].Name != "echo" || len(pools[0].Backends) != 3 {
		t.Fatalf("l4 pools: %+v", pools)
	}
	var fes []l4.FrontendStatus
	h.adminJSON(http.MethodGet, "/api/v1/l4/frontends", nil, http.StatusOK, &fes)
	if len(fes) != 1 || fes[0].Address != tcp {
		t.Fatalf("l4 frontends: %+v", fes)
	}
	if st, _ := testutil.Call(t, http.MethodPatch, h.admin+"/api/v1/l4/pools/echo/backends/e2", `{"state":"draining"}`, ""); st != http.StatusUnauthorized {
		t.Fatalf("PATCH without token: %d, want 401", st)
	}
	h.adminJSON(http.MethodPatch, "/api/v1/l4/pools/echo/backends/e2", map[string]string{"state": "draining"}, http.StatusOK, nil)

	// A reload (SIGHUP) keeps the API-set state.
	if err := h.srv.Reload(h.cfg); err != nil {
		t.Fatal(err)
	}
	if got := count(6); got["e2"] != 0 || got["e1"]+got["e3"] != 6 {
		t.Fatalf("after draining e2 and a reload: %v", got)
	}
	bad := h.cfg
	bad.L4.Frontends = []l4.Frontend{bad.L4.Frontends[0]}
	bad.L4.Frontends[0].Listen = "127.0.0.1:1"
	if err := h.srv.Reload(bad); err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Fatalf("reload moving the TCP listener: %v", err)
	}

	// Metrics on lbd's registry, served on the admin listener.
	mresp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{
		`lbd_l4_connections_total{frontend="tcp",result="ok"} 12`,
		`lbd_l4_bytes_total{backend="e1",direction="in",pool="echo"}`,
		`lbd_tls_certificate_expiry_seconds`,
		`lbd_frontend_connections_total{frontend="http"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestDemoConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"hsts on plain", func(c *Config) { c.Frontends[0].HSTSMaxAge = time.Hour }, "frontends[0].hsts_max_age"},
		{"redirect to nothing", func(c *Config) { c.Frontends[0].RedirectHTTPS = "nope" }, "no frontend with this name"},
		{"redirect to plain", func(c *Config) { c.Frontends[0].RedirectHTTPS = "http" }, "no tls block"},
		{"l4 name clash", func(c *Config) {
			c.L4 = DefaultConfig().L4
			c.L4.Frontends[0].Name = "http"
		}, "l4.frontends[0].name"},
		{"l4 bad policy", func(c *Config) {
			c.L4 = DefaultConfig().L4
			c.L4.Pools[0].Policy = "header_hash"
		}, `l4.pools[0].policy: "header_hash"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1:1")
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
