package lb

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"netsim/internal/testutil"
)

// rawGet opens a connection from src (any local address when empty),
// sends one keep-alive GET and reads the response status line; the
// connection stays open. ok is false when lbd closed it without answering.
func rawGet(t *testing.T, addr, src string) (c net.Conn, ok bool) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return c, false // reset before the write: refused
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode == 200
}

// TestMaxConnectionsPerClient: with max_connections_per_client 2, a
// third connection from one address is closed without an answer and
// counted, another address still gets in, and closing one of the first
// two makes room again. Both HTTP engines.
func TestMaxConnectionsPerClient(t *testing.T) {
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		t.Run(engine, func(t *testing.T) {
			h := newHarness(t, 1, func(c *Config) {
				c.Frontends[0].Engine = engine
				c.Frontends[0].MaxConnectionsPerClient = 2
			})
			addr := h.srv.Addr("http").String()
			c1, ok1 := rawGet(t, addr, "127.0.0.1")
			_, ok2 := rawGet(t, addr, "127.0.0.1")
			if !ok1 || !ok2 {
				t.Fatalf("the first two connections: %v %v, want answers", ok1, ok2)
			}
			if _, ok := rawGet(t, addr, "127.0.0.1"); ok {
				t.Fatal("a third connection from 127.0.0.1 was answered, want it closed at accept")
			}
			if n := testutil.MetricValue(t, h.reg, "lbd_frontend_connections_refused_total", "frontend", "http", "reason", "client_limit"); n != 1 {
				t.Fatalf("lbd_frontend_connections_refused_total = %v, want 1", n)
			}
			if _, ok := rawGet(t, addr, "127.0.0.2"); !ok {
				t.Fatal("another client address was refused")
			}
			c1.Close()
			testutil.WaitFor(t, "a slot freed by closing a connection", 10*time.Second, func() bool {
				_, ok := rawGet(t, addr, "127.0.0.1")
				return ok
			})
		})
	}
}

func TestMaxConnectionsPerClientConfig(t *testing.T) {
	cfg := testConfig("127.0.0.1:1")
	cfg.Frontends[0].MaxConnectionsPerClient = -1
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "frontends[0].max_connections_per_client") {
		t.Fatalf("negative cap: %v, want an error naming frontends[0].max_connections_per_client", err)
	}
	if DefaultConfig().Frontends[0].MaxConnectionsPerClient != 0 {
		t.Fatal("max_connections_per_client must be off by default")
	}
}

// TestAdminLockout: lbd's admin API locks an address out after
// admin.lockout.failures bad tokens (429 + Retry-After) while the valid
// token still works from it.
func TestAdminLockout(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.Admin.Lockout.Failures = 3 })
	tok := h.srv.AdminToken()
	url := h.admin + "/api/v1/pools/web/backends/b1"
	for i := range 3 {
		if resp, body := testutil.Fetch(t, "PATCH", url, `{"weight":2}`, "guess"); resp.StatusCode != 401 {
			t.Fatalf("bad token %d: %d %s, want 401", i, resp.StatusCode, body)
		}
	}
	resp, body := testutil.Fetch(t, "PATCH", url, `{"weight":2}`, "guess")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "300" || !strings.Contains(body, `"too_many_bad_tokens"`) {
		t.Fatalf("after 3 bad tokens: %d Retry-After %q %s, want 429, 300 and too_many_bad_tokens", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := testutil.Fetch(t, "PATCH", url, `{"weight":2}`, tok); resp.StatusCode != 200 {
		t.Fatalf("valid token from the locked-out address: %d %s, want 200", resp.StatusCode, body)
	}
}

// TestClientLimitLogIsBounded: refusals are logged at most once per
// logEvery, each line with the number refused since the last one.
func TestClientLimitLogIsBounded(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	clk := testutil.NewClock(time.Unix(1e9, 0))
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total"})
	l := newClientLimitListener(nil, 0, func() int { return 1 }, refused, zap.New(core))
	l.now = clk.Now
	a := netip.MustParseAddr("192.0.2.1")
	for range 100 {
		l.refuse(a, 1)
	}
	clk.Advance(logEvery)
	l.refuse(a, 1)
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d log lines for 101 refusals over 10 s, want 2", n)
	}
	if got := logs.All()[1].ContextMap()["refused_since_last_line"]; got != int64(100) {
		t.Fatalf("second line counts %v refusals, want 100", got)
	}
	if v := testutil.Value(t, refused); v != 101 {
		t.Fatalf("counter %v, want 101", v)
	}
}
