package lb

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// TestRoundRobinSpread is the acceptance check on the default config
// (round_robin, sticky cookie on): clients without cookies spread within
// ±10%, a client with a cookie jar sticks.
func TestRoundRobinSpread(t *testing.T) {
	h := newHarness(t, 3, nil)
	if p := h.cfg.Pools[0]; p.Policy != "round_robin" || p.Sticky.Mode != "cookie" {
		t.Fatalf("harness is not on the default policy/sticky: %s/%s", p.Policy, p.Sticky.Mode)
	}
	c := newClient()
	got := map[string]int{}
	for range 300 {
		id, resp, err := h.get(c, "/")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("X-LB-Backend") != id {
			t.Fatalf("X-LB-Backend %q, body from %q", resp.Header.Get("X-LB-Backend"), id)
		}
		got[id]++
	}
	for _, id := range []string{"b1", "b2", "b3"} {
		if math.Abs(float64(got[id])-100) > 10 {
			t.Fatalf("300 requests spread %v, want 100±10 each", got)
		}
	}
	jar, _ := cookiejar.New(nil)
	withJar := newClient()
	withJar.Jar = jar
	h.stays(t, withJar, 20, h.backendOf(t, withJar), "curl -c jar -b jar style client")
}

func TestWeights311(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) {
		c.Pools[0].Policy = "weighted_round_robin"
		three := 3
		c.Pools[0].Backends[0].Weight = &three
	})
	c := newClient()
	got := map[string]int{}
	var seq strings.Builder
	for i := range 500 {
		id, _, err := h.get(c, "/")
		if err != nil {
			t.Fatal(err)
		}
		got[id]++
		if i < 10 {
			seq.WriteString(id[1:])
		}
	}
	if got["b1"] != 300 || got["b2"] != 100 || got["b3"] != 100 {
		t.Fatalf("3:1:1 over 500 gave %v", got)
	}
	if seq.String() != "1213112131" {
		t.Fatalf("smooth sequence %s, want 1213112131", seq.String())
	}
}

func TestLeastConnectionsAvoidsSlowBackend(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.Pools[0].Policy = "least_connections" })
	h.webds[0].srv.SetLatency(150*time.Millisecond, 0)
	res, wait := h.load(12, 600, 20*time.Second, nil)
	wait()
	if res.failed > 0 {
		t.Fatalf("failures: %v", res)
	}
	slow := float64(res.by["b1"]) / float64(res.ok)
	t.Logf("least_connections with b1 slow: %v (b1 share %.3f)", res.by, slow)
	if slow > 0.15 {
		t.Fatalf("slow backend got %.0f%% of requests, want < 15%%: %v", slow*100, res)
	}
}

func TestStickyCookie(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) {
		c.Pools[0].Sticky.Mode = "cookie"
		c.Pools[0].Sticky.TTL = time.Hour
	})
	jar, _ := cookiejar.New(nil)
	c := newClient()
	c.Jar = jar
	first, resp, err := h.get(c, "/")
	if err != nil {
		t.Fatal(err)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"lb_web=" + first + ".", "HttpOnly", "SameSite=Lax", "Max-Age=3600", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Fatalf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Fatalf("Secure on a plain-HTTP frontend: %q", sc)
	}
	for i := range 50 {
		id, resp, err := h.get(c, "/")
		if err != nil {
			t.Fatal(err)
		}
		if id != first {
			t.Fatalf("request %d went to %s, sticky to %s", i, id, first)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("cookie re-issued on a valid sticky request: %q", resp.Header.Get("Set-Cookie"))
		}
	}

	// A forged cookie naming another backend (valid format, wrong MAC) is
	// ignored: the balancer picks as usual and replaces the cookie.
	value := strings.TrimPrefix(strings.Split(sc, ";")[0], "lb_web=")
	other := map[string]string{"b1": "b2", "b2": "b3", "b3": "b1"}[first]
	forged := other + strings.TrimPrefix(value, first)
	plain := newClient()
	forgedGot := map[string]int{}
	for range 30 {
		id, resp, err := h.get(plain, "/", "Cookie", "lb_web="+forged)
		if err != nil {
			t.Fatal(err)
		}
		forgedGot[id]++
		if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "lb_web="+id+".") {
			t.Fatalf("forged cookie not replaced: Set-Cookie %q from %s", sc, id)
		}
	}
	if forgedGot[other] == 30 {
		t.Fatalf("forged cookie was honoured: %v", forgedGot)
	}

	// Draining the sticky backend moves the client and rewrites the cookie
	// (Traefik #1299).
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/"+first, map[string]string{"state": "draining"}, http.StatusOK, nil)
	moved, resp, err := h.get(c, "/")
	if err != nil {
		t.Fatal(err)
	}
	if moved == first {
		t.Fatalf("sticky client still sent to draining %s", first)
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "lb_web="+moved+".") {
		t.Fatalf("cookie not rewritten to %s: %q", moved, sc)
	}
	h.stays(t, c, 20, moved, "after the move")
}

func TestStickySourceIP(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.Pools[0].Sticky.Mode = "source_ip" })
	c := newClient()
	first := h.backendOf(t, c)
	h.stays(t, c, 30, first, "source-IP affinity")
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/"+first, map[string]string{"state": "maintenance"}, http.StatusOK, nil)
	moved, _, _ := h.get(c, "/")
	if moved == first || moved == "" {
		t.Fatalf("client not moved off maintenance backend: %q", moved)
	}
	h.stays(t, c, 10, moved, "new affinity")
}

// TestHealthEjectionAndRecovery measures how long a backend whose /healthz
// starts failing keeps getting traffic (target: interval×fall + 1s).
func TestHealthEjectionAndRecovery(t *testing.T) {
	h := newHarness(t, 3, nil)
	cfg := h.cfg.Pools[0].Health
	c := newClient()
	h.webds[1].srv.SetHealthy(false)
	failedAt := time.Now()
	var lastB2 time.Time
	testutil.WaitFor(t, "b2 down", 10*time.Second, func() bool {
		for range 3 {
			if id, _, err := h.get(c, "/"); err != nil {
				t.Fatal(err)
			} else if id == "b2" {
				lastB2 = time.Now()
			}
		}
		return h.srv.pool("web").snap.Load().byID["b2"].b.State().String() == "down"
	})
	noTraffic := lastB2.Sub(failedAt)
	limit := cfg.Interval*time.Duration(cfg.Fall) + time.Second
	t.Logf("b2 got its last request %v after /healthz started failing (interval %v × fall %d + 1s = %v)", noTraffic.Round(time.Millisecond), cfg.Interval, cfg.Fall, limit)
	if noTraffic > limit {
		t.Fatalf("b2 got traffic for %v, limit %v", noTraffic, limit)
	}
	for range 60 {
		if id, _, err := h.get(c, "/"); err != nil || id == "b2" {
			t.Fatalf("down backend served (%s) or error %v", id, err)
		}
	}
	h.webds[1].srv.SetHealthy(true)
	back := testutil.WaitFor(t, "b2 up again", 10*time.Second, func() bool { return h.backendState("b2").State == "up" })
	t.Logf("b2 back up %v after /healthz recovered (rise %d)", back.Round(time.Millisecond), cfg.Rise)
	var m map[string]any
	_ = m
	seen := false
	for range 30 {
		if id, _, _ := h.get(c, "/"); id == "b2" {
			seen = true
		}
	}
	if !seen {
		t.Fatal("recovered backend gets no traffic")
	}
}

func TestPassiveEjection(t *testing.T) {
	h := newHarness(t, 2, func(c *Config) {
		c.Pools[0].Passive.ConsecutiveFailures = 3
		c.Pools[0].Passive.Cooldown = 300 * time.Millisecond
	})
	h.webds[0].srv.SetErrorRate(1)
	c := newClient()
	for range 20 {
		_, _, _ = h.get(c, "/")
	}
	v := h.backendState("b1")
	if v.State != "down" || v.EjectedAt == nil {
		t.Fatalf("b1 answering 500s not ejected: %+v", v)
	}
	h.webds[0].srv.SetErrorRate(0)
	testutil.WaitFor(t, "b1 readmitted after cooldown", 10*time.Second, func() bool { return h.backendState("b1").State == "up" })
}

func TestKillBackendUnderLoad(t *testing.T) {
	h := newHarness(t, 3, nil)
	stop := make(chan struct{})
	res, wait := h.load(8, 20000, 60*time.Second, stop)
	res.waitMore(t, "load running", 50)
	h.webds[1].stop() // b2 goes away under load
	testutil.WaitFor(t, "b2 marked down", 10*time.Second, func() bool { return h.backendState("b2").State == "down" })
	res.waitMore(t, "more load", 100)
	res.end(t, stop, wait, "while a backend died")
}

func TestDrainUnderLoad(t *testing.T) {
	h := newHarness(t, 3, nil)
	for _, w := range h.webds {
		w.srv.SetLatency(20*time.Millisecond, 10*time.Millisecond)
	}
	stop := make(chan struct{})
	res, wait := h.load(12, 20000, 60*time.Second, stop)
	res.waitMore(t, "load running", 50)
	var v BackendView
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/b1", map[string]string{"state": "draining"}, http.StatusOK, &v)
	if v.State != "draining" {
		t.Fatalf("PATCH answered %+v", v)
	}
	testutil.WaitFor(t, "b1 drained", 10*time.Second, func() bool {
		v = h.backendState("b1")
		return v.InFlight == 0 && v.DrainedAt != nil
	})
	served := h.webds[0].srv.Requests()
	res.waitMore(t, "more load", 50)
	if got := h.webds[0].srv.Requests(); got != served {
		t.Fatalf("draining b1 got %d new requests", got-served)
	}
	drainedAt := v.DrainedAt
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/b1", map[string]string{"state": "up"}, http.StatusOK, &v)
	testutil.WaitFor(t, "b1 back in rotation", 10*time.Second, func() bool { return h.webds[0].srv.Requests() > served })
	t.Logf("b1 drained at %v", drainedAt)
	res.end(t, stop, wait, "while draining")
}

func TestReloadUnderLoad(t *testing.T) {
	h := newHarness(t, 3, nil)
	h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/b3", map[string]string{"state": "maintenance"}, http.StatusOK, nil)
	stop := make(chan struct{})
	res, wait := h.load(8, 20000, 60*time.Second, stop)
	policies := []string{"weighted_round_robin", "least_connections", "random_two_choices", "round_robin", "source_ip_hash"}
	for i, pol := range policies {
		cfg := h.cfg
		cfg.Pools = append([]PoolConfig(nil), h.cfg.Pools...)
		cfg.Pools[0].Policy = pol
		cfg.Pools[0].Backends = append([]BackendConfig(nil), h.cfg.Pools[0].Backends...)
		w := i + 2
		cfg.Pools[0].Backends[0].Weight = &w
		if err := h.srv.Reload(cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		res.waitMore(t, "load after reload", 100)
	}
	// A bad reload is refused and the old config keeps serving.
	bad := h.cfg
	bad.Pools = append([]PoolConfig(nil), h.cfg.Pools...)
	bad.Pools[0].Policy = "fastest"
	if err := h.srv.Reload(bad); err == nil || !strings.Contains(err.Error(), "pools[0].policy") {
		t.Fatalf("bad reload: %v", err)
	}
	res.end(t, stop, wait, "across reloads")
	v := h.backendState("b3")
	if v.State != "maintenance" {
		t.Fatalf("API-set maintenance lost across reload: %s", v.State)
	}
	if res.by["b3"] != 0 {
		t.Fatalf("maintenance backend served %d requests", res.by["b3"])
	}
	if w := h.backendState("b1").Weight; w != len(policies)+1 {
		t.Fatalf("reloaded weight %d, want %d", w, len(policies)+1)
	}
	if got := h.srv.Config().Pools[0].Policy; got != "source_ip_hash" {
		t.Fatalf("policy after bad reload = %s", got)
	}
}

func TestAddRemoveBackendsUnderLoad(t *testing.T) {
	h := newHarness(t, 2, nil)
	extra := startWebd(t, "b4", "v1", "127.0.0.1:0")
	stop := make(chan struct{})
	res, wait := h.load(8, 20000, 60*time.Second, stop)
	hdr := h.adminJSON(http.MethodPost, "/api/v1/pools/web/backends", map[string]any{"id": "b4", "address": extra.addr}, http.StatusCreated, nil)
	if hdr.Get("Location") != "/api/v1/pools/web/backends/b4" {
		t.Fatalf("Location %q", hdr.Get("Location"))
	}
	testutil.WaitFor(t, "b4 serving", 10*time.Second, func() bool { return extra.srv.Requests() > 50 })
	h.adminJSON(http.MethodDelete, "/api/v1/pools/web/backends/b1", nil, http.StatusNoContent, nil)
	served := h.webds[0].srv.Requests()
	res.waitMore(t, "more load", 100)
	res.end(t, stop, wait, "while adding/removing")
	if got := h.webds[0].srv.Requests(); got > served+8 { // at most the in-flight ones
		t.Fatalf("removed b1 kept getting requests: %d -> %d", served, got)
	}
}

func TestProxyErrors(t *testing.T) {
	h := newHarness(t, 2, func(c *Config) {
		c.Pools[0].ResponseTimeout = 200 * time.Millisecond
		c.Frontends[0].MaxBodyBytes = 1000
	})
	c := newClient()
	t.Run("504 on a hanging backend", func(t *testing.T) {
		h.webds[0].srv.SetHang(true)
		h.webds[1].srv.SetHang(true)
		defer h.webds[0].srv.SetHang(false)
		defer h.webds[1].srv.SetHang(false)
		_, resp, err := h.get(c, "/")
		if resp == nil || resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(err.Error(), "did not answer within 200ms") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("413 on a big body", func(t *testing.T) {
		resp, err := c.Post(h.base+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 2000)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "body_too_large") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("413 on a big chunked body", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			for range 4 {
				_, _ = pw.Write([]byte(strings.Repeat("y", 500)))
			}
			pw.Close()
		}()
		resp, err := c.Post(h.base+"/echo", "text/plain", pr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	for _, id := range []string{"b1", "b2"} {
		h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/"+id, map[string]string{"state": "maintenance"}, http.StatusOK, nil)
	}
	t.Run("503 JSON when nothing is available", func(t *testing.T) {
		resp, err := c.Get(h.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct {
			Error struct {
				Code    string
				Message string
				Context struct{ Backends []map[string]string }
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 503 || env.Error.Code != "no_backend" || len(env.Error.Context.Backends) != 2 ||
			env.Error.Context.Backends[0]["state"] != "maintenance" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d %+v", resp.StatusCode, env)
		}
	})
	t.Run("503 HTML for a browser", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.base+"/", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "no backend able") {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
}

// TestRetryOnConnectFailure: a backend that refuses connections but is not
// yet known down (no active checks) costs no failed request: the request
// is retried once on another backend.
func TestRetryOnConnectFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	h := newHarness(t, 1, func(c *Config) {
		c.Pools[0].Health.Type = "none"
		c.Pools[0].Passive.ConsecutiveFailures = 0
		one := 1
		c.Pools[0].Backends = append(c.Pools[0].Backends, BackendConfig{ID: "dead", Address: dead, Weight: &one})
	})
	c := newClient()
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/echo", strings.NewReader("payload"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-LB-Backend") != "b1" {
			t.Fatalf("request %d: status %d from %q: %s", i, resp.StatusCode, resp.Header.Get("X-LB-Backend"), body)
		}
	}
	if v := h.backendState("dead"); v.Failures < 5 {
		t.Fatalf("dead backend recorded %d failures; retries did not happen", v.Failures)
	}
}

func TestForwardedHeadersAndHopByHop(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	var host string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen, host = r.Header.Clone(), r.Host
		mu.Unlock()
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Connection", "X-Drop-Me")
		w.Header().Set("X-Drop-Me", "1")
		_, _ = io.WriteString(w, "b1 v1\n")
	}))
	defer be.Close()
	h := newHarness(t, 0, func(c *Config) {
		c.Pools[0].Health.Path = "/"
		one := 1
		c.Pools[0].Backends = []BackendConfig{{ID: "b1", Address: be.Listener.Addr().String(), Weight: &one}}
	})
	req, _ := http.NewRequest(http.MethodGet, h.base+"/x", nil)
	req.Host = "www.example.test"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Connection", "X-Secret")
	req.Header.Set("X-Secret", "hop")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	checks := []struct{ name, got, want string }{
		{"X-Forwarded-For", seen.Get("X-Forwarded-For"), "203.0.113.9, 127.0.0.1"},
		{"X-Forwarded-Host", seen.Get("X-Forwarded-Host"), "www.example.test"},
		{"X-Forwarded-Proto", seen.Get("X-Forwarded-Proto"), "http"},
		{"Host", host, "www.example.test"},
		{"X-Secret (named in Connection)", seen.Get("X-Secret"), ""},
		{"Proxy-Authorization", seen.Get("Proxy-Authorization"), ""},
		{"response Keep-Alive", resp.Header.Get("Keep-Alive"), ""},
		{"response X-Drop-Me", resp.Header.Get("X-Drop-Me"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = brw.WriteString("echo: " + line)
			_ = brw.Flush()
		}
	}))
	defer be.Close()
	h := newHarness(t, 0, func(c *Config) {
		c.Pools[0].Health.Path = "/"
		one := 1
		c.Pools[0].Backends = []BackendConfig{{ID: "ws", Address: be.Listener.Addr().String(), Weight: &one}}
		c.AccessLog.Enabled = true // the counting writer must still let the upgrade hijack
	})
	conn, err := net.Dial("tcp", h.srv.Addr("http").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("tunnel got %q, %v", line, err)
	}
	if v := h.backendState("ws"); v.InFlight != 1 {
		t.Fatalf("an open WebSocket should count in flight, got %d", v.InFlight)
	}
}

func TestStreamingIsNotBuffered(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.AccessLog.Enabled = true }) // flushing through the counting writer
	resp, err := newClient().Get(h.base + "/stream?chunks=3&size=10&interval=300ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	if first := time.Since(start); first > 250*time.Millisecond {
		t.Fatalf("first chunk after %v: the proxy buffered the stream", first)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}

// TestWebdIsTheBackend keeps the harness honest: answers come from webd.
func TestWebdIsTheBackend(t *testing.T) {
	h := newHarness(t, 1, nil)
	a, _ := answer(t, newClient(), h.base+"/")
	if a.ID != "b1" || a.Version != "v1" || a.ForwardedProto != "http" {
		t.Fatalf("answer %+v", a)
	}
}

// TestRollingDeployUnderLoad is the deploy rehearsal in small: ~200
// requests/s while b1, b2, b3 are drained, restarted as v2 and undrained
// one by one through the admin API. bench/lb-deploy-demo is the full one.
func TestRollingDeployUnderLoad(t *testing.T) {
	h := newHarness(t, 3, nil)
	res := &loadResult{by: map[string]int{}}
	versions := map[string]int{}
	var vmu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := newClient()
	wg.Add(1)
	go func() { // paced ~200/s, at most 4000 requests
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var inner sync.WaitGroup
		defer inner.Wait()
		for i := 0; i < 4000; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			inner.Add(1)
			go func() {
				defer inner.Done()
				req, _ := http.NewRequest(http.MethodGet, h.base+"/", nil)
				resp, err := c.Do(req)
				if err != nil {
					res.add("", err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
				}
				id, ver, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
				res.add(id, err)
				vmu.Lock()
				versions[ver]++
				vmu.Unlock()
			}()
		}
	}()
	for i, w := range h.webds {
		id := fmt.Sprintf("b%d", i+1)
		h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/"+id, map[string]string{"state": "draining"}, http.StatusOK, nil)
		testutil.WaitFor(t, id+" drained", 10*time.Second, func() bool { v := h.backendState(id); return v.InFlight == 0 && v.DrainedAt != nil })
		w.restart("v2")
		restarted := time.Now()
		testutil.WaitFor(t, id+" v2 checked healthy", 10*time.Second, func() bool {
			v := h.backendState(id)
			return v.Healthy && v.LastCheckOK && v.LastCheckAt != nil && v.LastCheckAt.After(restarted)
		})
		h.adminJSON(http.MethodPatch, "/api/v1/pools/web/backends/"+id, map[string]string{"state": "up"}, http.StatusOK, nil)
	}
	res.waitMore(t, "load after the deploy", 50)
	close(stop)
	wg.Wait()
	t.Logf("rolling deploy: %v versions %v", res, versions)
	if res.failed != 0 {
		t.Fatalf("failed requests during the deploy: %v", res)
	}
	for _, w := range h.webds {
		if w.srv.Version() != "v2" {
			t.Fatalf("%s on %s", w.id, w.srv.Version())
		}
	}
}

func TestH2C(t *testing.T) {
	h := newHarness(t, 2, func(c *Config) { c.Frontends[0].H2C = true })
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, Protocols: p}}
	got := map[string]int{}
	for range 10 {
		resp, err := c.Get(h.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("proto %s status %d", resp.Proto, resp.StatusCode)
		}
		id, _, _ := strings.Cut(string(body), " ")
		got[id]++
	}
	if got["b1"] != 5 || got["b2"] != 5 {
		t.Fatalf("h2c requests spread %v", got)
	}
}
