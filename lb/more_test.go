package lb

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"netsim/internal/testutil"
)

// resetter accepts the request and closes the connection without a byte
// of response: a backend that crashed mid-request.
func resetter(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			c.Close()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRetryOnResetOnlyWhenSafe(t *testing.T) {
	bad := resetter(t)
	h := newHarness(t, 1, func(c *Config) {
		c.Pools[0].Health.Type = "none"
		c.Pools[0].Passive.ConsecutiveFailures = 0
		one := 1
		c.Pools[0].Backends = append(c.Pools[0].Backends, BackendConfig{ID: "bad", Address: bad.Listener.Addr().String(), Weight: &one})
	})
	c := newClient()
	tests := []struct {
		method string
		body   string
		ok     bool // every request succeeds (retried when it hit "bad")
	}{
		{http.MethodGet, "", true},
		{http.MethodHead, "", true},
		{http.MethodDelete, "", true},
		{http.MethodPost, "x", false}, // not idempotent: never replayed
		{http.MethodPut, "x", false},  // idempotent, but the body was sent
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			fails := 0
			for range 10 {
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
				}
				req, _ := http.NewRequest(tt.method, h.base+"/echo", body)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK, http.StatusMethodNotAllowed:
				case http.StatusBadGateway:
					fails++
				default:
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if tt.ok && fails > 0 {
				t.Fatalf("%d of 10 %s requests failed; they should be retried", fails, tt.method)
			}
			if !tt.ok && fails == 0 {
				t.Fatalf("no %s request reached the resetting backend or they were replayed", tt.method)
			}
		})
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	h := newHarness(t, 1, nil)
	h.webds[0].srv.SetLatency(400*time.Millisecond, 0)
	done := make(chan error, 1)
	go func() {
		_, _, err := h.get(newClient(), "/")
		done <- err
	}()
	testutil.WaitFor(t, "request in flight", 5*time.Second, func() bool { return h.srv.pool("web").snap.Load().byID["b1"].b.InFlight() == 1 })
	h.lbd.cancel()
	if err := <-done; err != nil {
		t.Fatalf("in-flight request failed during shutdown: %v", err)
	}
	if err := h.lbd.wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", h.srv.Addr("http").String(), time.Second); err == nil {
		t.Fatal("frontend still accepting after shutdown")
	}
	if err := h.srv.Reload(h.cfg); err == nil {
		t.Fatal("Reload after shutdown accepted (it would start health checks nobody stops)")
	}
}

func TestAccessLogSampling(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := newHarness(t, 1, nil)
	// A second server on the same backends with an observed logger.
	cfg := h.cfg
	cfg.AccessLog = AccessLogConfig{Enabled: true, SampleRate: 0.25}
	srv, err := New(cfg, zap.New(core), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, srv)
	c := newClient()
	for range 40 {
		resp, err := c.Get("http://" + srv.Addr("http").String() + "/x?y=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := logs.FilterMessage("access").All()
	if len(got) != 10 {
		t.Fatalf("%d access lines for 40 requests at sample_rate 0.25", len(got))
	}
	f := got[0].ContextMap()
	if f["uri"] != "/x?y=1" || f["status"] != int64(200) || f["backend"] != "b1" || f["method"] != "GET" || f["bytes"] != int64(len("b1 v1\n")) {
		t.Fatalf("access line %v", f)
	}
}

func TestMaxConnections(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.Frontends[0].MaxConnections = 2 })
	h.webds[0].srv.SetLatency(300*time.Millisecond, 0)
	var inflight, peak atomic.Int64
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := c.Get(h.base + "/")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	finished := 0
	for finished < 4 && time.Now().Before(deadline) {
		select {
		case <-done:
			finished++
		default:
			n := h.webds[0].srv.InFlight()
			inflight.Store(n)
			if n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if finished != 4 {
		t.Fatalf("%d of 4 requests finished", finished)
	}
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d requests in flight with max_connections 2", p)
	}
}

// TestMetricNames lints names as CoreDNS does: lbd_ prefix, counters end in
// _total, nothing else does.
func TestMetricNames(t *testing.T) {
	h := newHarness(t, 1, nil)
	if _, _, err := h.get(newClient(), "/"); err != nil {
		t.Fatal(err)
	}
	h.srv.met.retries.WithLabelValues("web", "connect")
	h.srv.met.errors.WithLabelValues("web", "x")
	h.srv.met.reloads.WithLabelValues("success")
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 15 {
		t.Fatalf("only %d metric families", len(mfs))
	}
	for _, mf := range mfs {
		n := mf.GetName()
		if !strings.HasPrefix(n, "lbd_") {
			t.Errorf("%s: not lbd_", n)
		}
		if (mf.GetType() == dto.MetricType_COUNTER) != strings.HasSuffix(n, "_total") {
			t.Errorf("%s: type %v and _total suffix disagree", n, mf.GetType())
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help", n)
		}
	}
}

func TestQueueWhenFull(t *testing.T) {
	tests := []struct {
		name         string
		timeout      time.Duration
		minOK, maxOK int
	}{
		{"queued requests wait for a slot", 5 * time.Second, 6, 6},
		// 2 slots held 300ms each: with a 50ms queue (or none) most of
		// the six get 503; a slow scheduler may let a third one in late.
		{"short queue times out", 50 * time.Millisecond, 2, 4},
		{"no queue", -1, 2, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1, func(c *Config) {
				c.Pools[0].QueueTimeout = tt.timeout
				c.Pools[0].Backends[0].MaxConnections = 2
			})
			h.webds[0].srv.SetLatency(300*time.Millisecond, 0)
			type result struct {
				code int
				body string
			}
			results := make(chan result, 6)
			for range 6 {
				go func() {
					resp, err := newClient().Get(h.base + "/")
					if err != nil {
						results <- result{0, err.Error()}
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					results <- result{resp.StatusCode, string(b)}
				}()
			}
			ok := 0
			for range 6 {
				r := <-results
				switch r.code {
				case 200:
					ok++
				case 503:
					want := "no_backend"
					if tt.timeout > 0 {
						want = "queue_timeout"
					}
					if !strings.Contains(r.body, want) {
						t.Fatalf("503 body %s, want %s", r.body, want)
					}
				default:
					t.Fatalf("status %d: %s", r.code, r.body)
				}
			}
			if ok < tt.minOK || ok > tt.maxOK {
				t.Fatalf("%d of 6 succeeded, want %d to %d", ok, tt.minOK, tt.maxOK)
			}
			if n := h.webds[0].srv.InFlight(); n != 0 {
				t.Fatalf("in flight %d", n)
			}
		})
	}
}

func TestPassiveEjectionSparesLastBackend(t *testing.T) {
	h := newHarness(t, 2, func(c *Config) {
		c.Pools[0].Passive.ConsecutiveFailures = 2
		c.Pools[0].Passive.Cooldown = time.Minute
	})
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/b2", map[string]string{"state": "maintenance"}, http.StatusOK, nil)
	h.webds[0].srv.SetErrorRate(1)
	c := newClient()
	for range 10 {
		_, _, _ = h.get(c, "/")
	}
	if v := h.backendState("b1"); v.State != "up" || v.ConsecutiveFailures < 10 {
		t.Fatalf("last available backend was ejected or failures not counted: %+v", v)
	}
}

func TestBackendLoadAgent(t *testing.T) {
	for _, path := range []string{"/load?format=agent", "/load"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t, 3, func(c *Config) {
				c.Pools[0].Policy = "backend_load"
				c.Pools[0].Health.AgentPath = path
			})
			h.webds[0].srv.SetLoad(90)
			h.webds[1].srv.SetLoad(10)
			h.webds[2].srv.SetLoad(40)
			testutil.WaitFor(t, "agent reports", 10*time.Second, func() bool {
				v1, v2 := h.backendState("b1"), h.backendState("b2")
				return v1.Load != nil && *v1.Load == 90 && v2.Load != nil && *v2.Load == 10
			})
			got := map[string]int{}
			c := newClient()
			for range 300 {
				id, _, err := h.get(c, "/")
				if err != nil {
					t.Fatal(err)
				}
				got[id]++
			}
			// b2 wins every pair it is in, b3 the pair with b1, b1 never
			// (but for a moment when an agent poll times out on a loaded
			// machine and its load is unknown).
			if got["b1"] > 15 || got["b2"] < 150 {
				t.Fatalf("backend_load spread %v for loads 90/10/40", got)
			}
		})
	}
}

func TestReadyzWhenPoolEmpty(t *testing.T) {
	h := newHarness(t, 1, nil)
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/b1", map[string]string{"state": "maintenance"}, http.StatusOK, nil)
	if st, body := testutil.Call(t, http.MethodGet, h.admin+"/readyz", "", ""); st != http.StatusServiceUnavailable || !strings.Contains(body, "web") {
		t.Fatalf("status %d: %s", st, body)
	}
}
