package lb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/listen"
	"netsim/internal/testutil"
	"netsim/internal/webd"
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
