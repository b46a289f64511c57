package lb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"netsim/internal/listen"
	"netsim/internal/testutil"
	"netsim/internal/webd"
	"netsim/lb/l4"
)

// webdProc is one in-process webd backend that can be stopped and started
// again on the same address (a restart, a new version).
type webdProc struct {
	t    *testing.T
	id   string
	addr string
	srv  *webd.Server
	halt func() error // stops srv (nil: not running)
}

func startWebd(t *testing.T, id, version, addr string) *webdProc {
	t.Helper()
	w := &webdProc{t: t, id: id}
	w.start(version, addr)
	t.Cleanup(w.stop)
	return w
}

func (w *webdProc) start(version, addr string) {
	w.t.Helper()
	w.srv = webd.New(webd.Options{ID: w.id, Version: version, DrainTimeout: 5 * time.Second})
	bound, halt, err := listen.Start(addr, w.srv.Serve)
	if err != nil {
		w.t.Fatalf("webd %s on %s: %v", w.id, addr, err)
	}
	w.addr, w.halt = bound.String(), halt
}

// stop shuts the server down gracefully (in-flight requests finish, in
// the drain timeout at most).
func (w *webdProc) stop() {
	if w.halt == nil {
		return
	}
	_ = w.halt()
	w.halt = nil
}

// restart stops the server and starts it again on the same address.
func (w *webdProc) restart(version string) {
	w.t.Helper()
	w.stop()
	w.start(version, w.addr)
}

type harness struct {
	t     *testing.T
	srv   *Server
	lbd   *running
	reg   prometheus.Gatherer
	cfg   Config
	base  string
	admin string
	webds []*webdProc
}

// newServer is New(cfg) with its own registry and, in a test, a logger
// that writes warnings and errors to t. A fuzz target's function may not
// log on f, and a benchmark would print the lines with its figures: they
// get no logger. An invalid cfg fails t.
func newServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	var log *zap.Logger
	if tt, ok := t.(*testing.T); ok {
		log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	}
	srv, err := New(cfg, log, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv
}

// running is a Server a test runs: cancel begins its drain (SIGTERM),
// wait gives Run's result.
type running struct {
	srv    *Server
	cancel context.CancelFunc
	done   chan struct{} // closed once Run has returned err
	err    error
}

// run runs srv and waits until it is ready; when the test ends it
// cancels srv and waits for Run, which must return nil (a test may stop
// srv before, with cancel and wait). Run failing first, or srv not ready
// in 20 s, fails t.
func run(t testing.TB, srv *Server) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = srv.Run(ctx)
	}()
	t.Cleanup(func() {
		r.cancel()
		if err := r.wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case <-r.done:
		t.Fatalf("Run returned before lbd was ready: %v", r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("lbd not ready within 20 s")
	}
	return r
}

// wait waits for Run to return, 20 s at most, and gives its error.
func (r *running) wait() error {
	select {
	case <-r.done:
		return r.err
	case <-time.After(20 * time.Second):
		return errors.New("Run did not return within 20 s")
	}
}

// fatalTB records what run reports instead of failing the test, and
// keeps the cleanups it registers for the test to run.
type fatalTB struct {
	testing.TB
	msg      string
	cleanups []func()
}

func (f *fatalTB) Helper()                           {}
func (f *fatalTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fatalTB) Errorf(format string, args ...any) { f.msg += fmt.Sprintf(format, args...) }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg += fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestRunFailingBeforeReady: a Server whose Run fails before it is ready
// (its frontend's address is taken) fails the test with Run's error, and
// the cleanup returns; it once waited for a result run had already taken.
func TestRunFailingBeforeReady(t *testing.T) {
	taken := testutil.Listen(t)
	cfg := testConfig("127.0.0.1:1")
	cfg.Frontends[0].Listen = taken.Addr().String()
	ft := &fatalTB{TB: t}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		run(ft, newServer(t, cfg))
	}()
	<-ran
	if !strings.Contains(ft.msg, "address already in use") {
		t.Fatalf("run reported %q, want Run's error (address already in use)", ft.msg)
	}
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		for _, fn := range ft.cleanups {
			fn()
		}
	}()
	select {
	case <-cleaned:
	case <-time.After(30 * time.Second):
		t.Fatal("the cleanup still waits for Run after 30 s")
	}
}

// waitBackends waits until every backend of srv's pool web is in state.
func waitBackends(t testing.TB, srv *Server, state string) {
	t.Helper()
	testutil.WaitFor(t, "all backends "+state, 10*time.Second, func() bool {
		for _, m := range srv.pool("web").snap.Load().order {
			if m.b.State().String() != state {
				return false
			}
		}
		return true
	})
}

// setTestEngine puts every frontend of cfg without an explicit engine on
// the one LB_TEST_ENGINE names (fast or nethttp), so that the whole suite
// runs on either: LB_TEST_ENGINE=nethttp go test ./lb/
func setTestEngine(cfg *Config) {
	e := os.Getenv("LB_TEST_ENGINE")
	if e == EngineFast {
		return // the default; h2c frontends stay on nethttp
	}
	for i := range cfg.Frontends {
		if f := &cfg.Frontends[i]; e != "" && f.Engine == "" && !f.H2C {
			f.Engine = e
		}
	}
}

// testConfig is a pool "web" over the given backends with fast checks.
func testConfig(addrs ...string) Config {
	cfg := DefaultConfig()
	cfg.Admin.Listen = "127.0.0.1:0"
	// The plain frontend only: tests that want HTTPS or TCP add their own.
	cfg.Frontends = cfg.Frontends[:1]
	cfg.Frontends[0].Routes = nil // the demo's routes and pools: route*_test.go
	cfg.Pools = cfg.Pools[:1]
	cfg.L4 = l4.Config{}
	cfg.Frontends[0].Listen = "127.0.0.1:0"
	cfg.Frontends[0].ShutdownTimeout = 5 * time.Second
	p := &cfg.Pools[0]
	// Fast checks, but a timeout generous enough for a loaded 2-core
	// machine under the race detector.
	p.Health.Interval = 300 * time.Millisecond
	p.Health.Timeout = 300 * time.Millisecond
	p.SlowStart = 0
	p.Backends = nil
	for i, a := range addrs {
		one := 1
		p.Backends = append(p.Backends, BackendConfig{ID: fmt.Sprintf("b%d", i+1), Address: a, Weight: &one})
	}
	setTestEngine(&cfg)
	return cfg
}

// newHarness starts n webd backends and an lbd in front of them; mutate
// may change the config first.
func newHarness(t *testing.T, n int, mutate func(*Config)) *harness {
	t.Helper()
	return newHarnessWith(t, n, mutate, nil)
}

// newHarnessWith is newHarness with a hook on the Server before it runs
// (a test clock).
func newHarnessWith(t *testing.T, n int, mutate func(*Config), before func(*Server)) *harness {
	t.Helper()
	h := &harness{t: t}
	var addrs []string
	for i := 1; i <= n; i++ {
		w := startWebd(t, fmt.Sprintf("b%d", i), "v1", "127.0.0.1:0")
		h.webds = append(h.webds, w)
		addrs = append(addrs, w.addr)
	}
	h.cfg = testConfig(addrs...)
	if mutate != nil {
		mutate(&h.cfg)
	}
	setTestEngine(&h.cfg)
	h.srv = newServer(t, h.cfg)
	h.reg = h.srv.gather
	if before != nil {
		before(h.srv)
	}
	h.lbd = run(t, h.srv)
	h.base = "http://" + h.srv.Addr("http").String()
	h.admin = "http://" + h.srv.AdminAddr().String()
	h.waitAll("up")
	return h
}

func (h *harness) backendState(id string) BackendView {
	var v BackendView
	h.adminJSON(http.MethodGet, "/api/v1/pools/web/backends/"+id, nil, http.StatusOK, &v)
	return v
}

func (h *harness) waitAll(state string) {
	h.t.Helper()
	waitBackends(h.t, h.srv, state)
}

// adminJSON calls the admin API with the token and decodes data into out.
func (h *harness) adminJSON(method, path string, body any, want int, out any) http.Header {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.srv.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		env := struct{ Data json.RawMessage }{}
		if err := json.Unmarshal(data, &env); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.Header
}

// do sends method url with the header fields hdr (name, value, …) and
// returns the response with its whole body; a failed request fails t.
func do(t *testing.T, c *http.Client, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	resp, body := testutil.Send(t, c, testutil.NewRequest(t, method, url, hdr...))
	return resp, string(body)
}

func newClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
}

// clientFrom is an HTTP client whose connections come from the local
// address ip (any of 127.0.0.0/8 on Linux), so source_ip_hash sees
// different clients.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext}}
}

// get fetches path and returns the backend id that answered ("" on error).
// answer GETs url as JSON and decodes webd's answer.
func answer(t *testing.T, c *http.Client, url string) (webd.Answer, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a webd.Answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a, resp
}

// backendOf sends GET / with c and returns the backend that answered.
func (h *harness) backendOf(t *testing.T, c *http.Client) string {
	t.Helper()
	id, _ := getID(t, c, h.base)
	return id
}

// getID sends GET / to base with the given headers and returns the id of
// the backend that answered and the Set-Cookie values.
func getID(t *testing.T, c *http.Client, base string, hdr ...string) (string, []*http.Cookie) {
	t.Helper()
	resp, body := testutil.Send(t, c, testutil.NewRequest(t, http.MethodGet, base+"/", hdr...))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/: status %d: %s", base, resp.StatusCode, body)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
	return id, resp.Cookies()
}

// stays sends n GET / with c and fails the test unless backend id answers
// every one; what names the client in the message.
func (h *harness) stays(t *testing.T, c *http.Client, n int, id, what string) {
	t.Helper()
	for i := range n {
		if got, _, err := h.get(c, "/"); got != id {
			t.Fatalf("%s: request %d went to %q (%v), want %s", what, i, got, err, id)
		}
	}
}

func (h *harness) get(c *http.Client, path string, hdr ...string) (string, *http.Response, error) {
	req, _ := http.NewRequest(http.MethodGet, h.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", resp, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
	return id, resp, nil
}

// loadResult counts what a load loop saw.
type loadResult struct {
	mu     sync.Mutex
	ok     int
	failed int
	errs   []string
	by     map[string]int
}

func (r *loadResult) add(id string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		if len(r.errs) < 5 {
			r.errs = append(r.errs, err.Error())
		}
		return
	}
	r.ok++
	r.by[id]++
}

// waitMore waits until n more requests than now have succeeded.
func (r *loadResult) waitMore(t *testing.T, what string, n int) {
	t.Helper()
	r.mu.Lock()
	at := r.ok
	r.mu.Unlock()
	testutil.WaitFor(t, what, 30*time.Second, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.ok > at+n })
}

// end stops the load (closes stop, waits for the workers) and fails the
// test if any request failed during it (during: what went on meanwhile).
func (r *loadResult) end(t *testing.T, stop chan struct{}, wait func(), during string) {
	t.Helper()
	close(stop)
	wait()
	t.Logf("load %s: %v", during, r)
	if r.failed != 0 {
		t.Fatalf("failed requests %s: %v", during, r)
	}
}

func (r *loadResult) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("ok=%d failed=%d by=%v errs=%v", r.ok, r.failed, r.by, r.errs)
}

// load runs workers GETting / until stop is closed, at most maxReqs
// requests and maxDur in all (bounded in count and time).
func (h *harness) load(workers, maxReqs int, maxDur time.Duration, stop <-chan struct{}) (*loadResult, func()) {
	res := &loadResult{by: map[string]int{}}
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(maxDur)
	c := newClient()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n.Add(1) <= int64(maxReqs) && time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				id, _, err := h.get(c, "/")
				res.add(id, err)
			}
		}()
	}
	return res, wg.Wait
}
