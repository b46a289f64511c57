package lb

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// pathRecorder is a backend that records the paths it was asked for.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	p.mu.Lock()
	p.paths = append(p.paths, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	_, _ = io.WriteString(w, "b1 v1\n")
}

func (p *pathRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

// recordedLB runs lbd in front of one path-recording backend.
func recordedLB(t *testing.T, mutate func(*Config)) (*pathRecorder, string) {
	t.Helper()
	rec := &pathRecorder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &http.Server{Handler: rec, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = be.Serve(ln) }()
	t.Cleanup(func() { _ = be.Close() })
	cfg := testConfig(ln.Addr().String())
	cfg.Pools[0].Health.Type = "none"
	if mutate != nil {
		mutate(&cfg)
	}
	srv := newServer(t, cfg)
	run(t, srv)
	waitBackends(t, srv, "up")
	return rec, srv.Addr("http").String()
}

// TestSmugglingClosesConnection: a request with both Content-Length and
// Transfer-Encoding is answered 400 and the connection is closed, so the
// bytes after its chunked body (GET /smuggled) never run as a request.
func TestSmugglingClosesConnection(t *testing.T) {
	rec, addr := recordedLB(t, nil)
	for _, te := range []string{"chunked", "Chunked"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		raw := "GET /first HTTP/1.1\r\nHost: example.test\r\n\r\n" +
			"POST /echo HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\nTransfer-Encoding: " + te + "\r\n\r\n0\r\n\r\n" +
			"GET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n"
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		var got []string
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break // the connection was closed
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			got = append(got, fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("X-LB-Error"), " close=", resp.Close))
		}
		c.Close()
		want := []string{"200  close=false", "400 bad_framing close=true"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("TE %s: responses %q, want %q", te, got, want)
		}
	}
	for _, p := range rec.seen() {
		if p != "GET /first" {
			t.Errorf("backend was asked for %q", p)
		}
	}
}

// TestRefusedRequests are answered by lbd without reaching a backend.
func TestRefusedRequests(t *testing.T) {
	rec, addr := recordedLB(t, func(c *Config) { c.Frontends[0].MaxHeaderFields = 20 })
	fields := func(n int) string {
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, "X-F%d: v\r\n", i)
		}
		return sb.String()
	}
	cases := []struct {
		name, raw string
		status    int
		code      string
	}{
		{"CONNECT", "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n", 405, "method_not_allowed"},
		{"unclosed IPv6 Host", "GET /h1 HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "bad_host"},
		{"port not digits", "GET /h2 HTTP/1.1\r\nHost: example.test:8o\r\n\r\n", 400, "bad_host"},
		{"two colons", "GET /h3 HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400, "bad_host"},
		{"21 header fields", "GET /many HTTP/1.1\r\nHost: example.test\r\n" + fields(20) + "\r\n", 431, "too_many_headers"},
		{"20 header fields", "GET /ok HTTP/1.1\r\nHost: example.test\r\n" + fields(19) + "\r\n", 200, ""},
		{"IPv6 Host", "GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, ""},
	}
	for _, tc := range cases {
		resp, body := rawExchange(t, addr, tc.raw, false)
		if resp.StatusCode != tc.status || resp.Header.Get("X-LB-Error") != tc.code {
			t.Errorf("%s: status %d %q (%s), want %d %q", tc.name, resp.StatusCode, resp.Header.Get("X-LB-Error"), body, tc.status, tc.code)
		}
		if tc.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tc.name)
		}
	}
	if got := fmt.Sprint(rec.seen()); got != "[GET /ok GET /v6]" {
		t.Errorf("backend saw %s, want only /ok and /v6", got)
	}
}

// TestScannerFraming feeds the framing scanner whole and byte by byte.
func TestScannerFraming(t *testing.T) {
	const h = "Host: x\r\n"
	cases := []struct {
		name, stream string
		want         []bool
	}{
		{"plain", "GET / HTTP/1.1\r\n" + h + "\r\nGET / HTTP/1.1\r\n" + h + "\r\n", []bool{false, false}},
		{"CL body that looks like headers", "POST / HTTP/1.1\r\n" + h + "Content-Length: 40\r\n\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n" +
			"GET / HTTP/1.1\r\n" + h + "\r\n", []bool{false, false}},
		{"chunked with extension and trailer", "POST / HTTP/1.1\r\n" + h + "transfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n" +
			"POST / HTTP/1.1\r\n" + h + "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []bool{false, true}},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\n" + h + "content-length: 0\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n", []bool{true}},
		{"HTTP/1.0 ignores TE", "POST /" + strings.Repeat("a", 60) + " HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n" +
			"GET / HTTP/1.1\r\n" + h + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []bool{true, true}},
		{"OPTIONS * is not queued", "OPTIONS * HTTP/1.1\r\n" + h + "\r\nGET / HTTP/1.1\r\n" + h + "\r\n", []bool{false}},
	}
	for _, tc := range cases {
		for _, step := range []int{len(tc.stream), 1, 7} {
			var s scanner
			for i := 0; i < len(tc.stream); i += step {
				s.scan([]byte(tc.stream[i:min(i+step, len(tc.stream))]))
			}
			if fmt.Sprint(s.queue) != fmt.Sprint(tc.want) || s.state != inHeader {
				t.Errorf("%s (reads of %d): verdicts %v state %d, want %v in header state", tc.name, step, s.queue, s.state, tc.want)
			}
		}
	}
}
