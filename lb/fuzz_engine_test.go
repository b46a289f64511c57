package lb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// fuzzDeadline bounds one exchange: a connection that is neither answered
// nor closed by then is a hang (the client half-closes at once, so lbd
// has nothing left to wait for).
const fuzzDeadline = 20 * time.Second

// fuzzLB is an lbd with the demo's routes (rate limits, CORS, header
// rules, sticky cookies) on a fast and a nethttp frontend, every pool on
// one backend that answers with whatever bytes the current input says.
type fuzzLB struct {
	srv  *Server
	fast string // frontend addresses
	std  string
	resp atomic.Pointer[[]byte] // the backend's raw answer to the next request
}

func startFuzzLB(f *testing.F) *fuzzLB {
	f.Helper()
	fl := &fuzzLB{}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		raw := fl.resp.Load()
		hj, ok := w.(http.Hijacker)
		if raw == nil || !ok {
			return
		}
		c, bw, err := hj.Hijack()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(fuzzDeadline))
		_, _ = bw.Write(*raw)
		_ = bw.Flush()
		_ = c.Close()
	})}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go func() { _ = backend.Serve(bln) }()
	f.Cleanup(func() { _ = backend.Close() })

	cfg := DefaultConfig()
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.L4.Frontends, cfg.L4.Pools = nil, nil
	plain := cfg.Frontends[0]
	plain.Listen, plain.Engine = "127.0.0.1:0", EngineFast
	std := plain
	std.Name, std.Engine = "std", EngineNetHTTP
	cfg.Frontends = []FrontendConfig{plain, std}
	for i := range cfg.Pools {
		p := &cfg.Pools[i]
		one := 1
		p.Backends = []BackendConfig{{ID: p.Name + "1", Address: bln.Addr().String(), Weight: &one}}
		p.Health = HealthConfig{}
		p.Health.Type = "none"
		p.Passive = PassiveConfig{}
		p.SlowStart = 0
	}
	srv := newServer(f, cfg)
	run(f, srv)
	fl.srv, fl.fast, fl.std = srv, srv.Addr(plain.Name).String(), srv.Addr("std").String()
	ok := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	fl.resp.Store(&ok)
	testutil.WaitFor(f, "the fuzz lbd answers", 10*time.Second, func() bool {
		out, err := fl.exchange(fl.fast, []byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		return err == nil && bytes.HasPrefix(out, []byte("HTTP/1.1 200 "))
	})
	return fl
}

// exchange sends req on a new connection to addr, half-closes, and reads
// until lbd closes; an error is a hang (or a failed dial).
func (fl *fuzzLB) exchange(addr string, req []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(fuzzDeadline))
	werr := make(chan error, 1)
	go func() { // lbd may answer (and stop reading) before all of req is written
		_, err := c.Write(req)
		_ = c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	out, err := io.ReadAll(c)
	<-werr
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return out, err
	}
	return out, nil // EOF or a reset: lbd closed
}

// FuzzEngineRequest sends raw bytes to a real lbd frontend (the fast
// engine, or nethttp when the selector byte is odd) whose backend answers
// with raw bytes too, and checks that lbd answers with an HTTP/1.x
// status line or closes, within a deadline; a panic anywhere in lbd
// crashes the test binary. Seeds: the engine test cases' shapes.
func FuzzEngineRequest(f *testing.F) {
	fl := startFuzzLB(f)
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, s := range []struct {
		sel       byte
		req, resp string
	}{
		{0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ok},
		{1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ok}, // nethttp answered a half-closed client with a fake 200 (TestHalfClosedClientGetsNoFakeAnswer)
		{0, "GET /api/x HTTP/1.1\r\nHost: x\r\nOrigin: http://127.0.0.1:8000\r\n\r\nGET /static/a HTTP/1.1\r\nHost: x\r\n\r\n", ok},
		{0, "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"},
		{0, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ok},
		{0, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nping", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\npong"},
		{0, "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\nCookie: lb_sticky=zz; a=b\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"},
		{0, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{0, "GET http://x/abs?q HTTP/1.1\r\nHost: y\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
		{1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 999 what\r\n\r\n"},
		{0, "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", "garbage"},
	} {
		f.Add(s.sel, []byte(s.req), []byte(s.resp))
	}
	f.Fuzz(func(t *testing.T, sel byte, req, resp []byte) {
		fl.resp.Store(&resp)
		addr := fl.fast
		if sel&1 == 1 {
			addr = fl.std
		}
		out, err := fl.exchange(addr, req)
		if err != nil {
			t.Fatalf("no answer and no close within %v (%v) for request %q, backend answer %q; got %q", fuzzDeadline, err, req, resp, out)
		}
		if len(out) > 0 && !statusLine(out) {
			t.Fatalf("answer %q does not start with an HTTP/1.x status line (request %q, backend answer %q)", out, req, resp)
		}
		if fake(out, req) {
			t.Fatalf("a 2xx that no backend sent (request %q, backend answer %q): %q", req, resp, out)
		}
	})
}

// fake reports whether lbd's first final answer in out is a 2xx without
// X-LB-Backend: a success no backend sent (only OPTIONS, answered by lbd
// itself, may be one). Answers net/http cannot parse are left to
// statusLine.
func fake(out, req []byte) bool {
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return false
		}
		if resp.StatusCode == http.StatusContinue {
			continue
		}
		options := bytes.HasPrefix(bytes.TrimLeft(req, "\r\n"), []byte("OPTIONS "))
		return resp.StatusCode/100 == 2 && resp.Header.Get("X-Lb-Backend") == "" && !options
	}
}

// statusLine reports whether out starts with "HTTP/1.x ddd".
func statusLine(out []byte) bool {
	line, _, _ := bytes.Cut(out, []byte("\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FuzzHeadRead runs the fast engine's head parser over raw bytes as a
// request and as a response head (what a backend sends back). What it
// accepts must be self-consistent: framing known, fields within the
// buffer, and a second parse of the same bytes gives the same result
// (the reused buffers carry nothing over).
func FuzzHeadRead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\nPOST /p?q HTTP/1.0\r\nContent-Length: 12\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n",
		"PUT * HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\nHost: a\r\nHost: b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 01\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 101 Switching\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost:\tx \n\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, request bool) {
		var h head
		h.reset()
		err := h.read(bufio.NewReaderSize(bytes.NewReader(data), 4096), request)
		if err != nil {
			var eh *errHead
			if errors.As(err, &eh) && (eh.status < 400 || eh.status > 499) && eh.status != http.StatusNotImplemented && eh.status != http.StatusHTTPVersionNotSupported {
				t.Fatalf("malformed head answered %d, want 4xx, 501 or 505: %q", eh.status, data)
			}
			return
		}
		if h.length < -1 || (h.chunked && !h.hasTE) || len(h.buf) > maxHeadBytes {
			t.Fatalf("inconsistent head %+v from %q", h, data)
		}
		if request && (len(h.method) == 0 || len(h.target) == 0) {
			t.Fatalf("request without method or target from %q", data)
		}
		if !request && (h.status < 100 || h.status > 999) {
			t.Fatalf("status %d from %q", h.status, data)
		}
		for _, fl := range h.fields {
			if len(fl.name) == 0 {
				t.Fatalf("empty field name from %q", data)
			}
			if bytes.ContainsAny(fl.value, "\r\n") || bytes.ContainsAny(fl.name, "\r\n: ") {
				t.Fatalf("field %q: %q keeps a line break or separator (from %q)", fl.name, fl.value, data)
			}
		}
		first := h.length
		if err := h.read(bufio.NewReader(bytes.NewReader(data)), request); err != nil || h.length != first {
			t.Fatalf("a second parse of %q differs: %v, length %d then %d", data, err, first, h.length)
		}
	})
}

// TestHalfClosedClientGetsNoFakeAnswer (found by FuzzEngineRequest): a
// client that sends a request and half-closes its side is taken by
// net/http for gone, and lbd gives up on the backend; the nethttp engine
// then let net/http answer "200 OK" with an empty body, a success that
// never happened. Now it closes without an answer. The fast engine
// answers such a client for real.
func TestHalfClosedClientGetsNoFakeAnswer(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		select { // answers only after lbd gave up on it
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "late")
	}))
	defer backend.Close()
	h := newHarness(t, 0, func(c *Config) {
		c.Frontends[0].Engine = EngineNetHTTP
		one := 1
		c.Pools[0].Backends = []BackendConfig{{ID: "b1", Address: backend.Listener.Addr().String(), Weight: &one}}
	})
	c, err := net.Dial("tcp", h.srv.Addr("http").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("no close within the deadline; read %q", out)
	}
	if len(out) > 0 && !bytes.Contains(out, []byte("X-Lb-Backend")) && !bytes.Contains(out, []byte("X-Lb-Error")) {
		t.Fatalf("a client that half-closed got an answer from nobody: %q", out)
	}
}
