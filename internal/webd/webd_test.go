package webd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"netsim/internal/listen"
	"netsim/internal/testutil"
)

func TestIdentity(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1", Hostname: "box"})
	tests := []struct {
		name, method, accept string
		wantCT, wantBody     string
		wantJSON             bool
	}{
		{name: "no accept", method: "GET", wantCT: "text/plain", wantBody: "b1 v1\n"},
		{name: "curl */*", method: "GET", accept: "*/*", wantCT: "text/plain", wantBody: "b1 v1\n"},
		{name: "browser", method: "GET", accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", wantCT: "text/plain", wantBody: "b1 v1\n"},
		{name: "json", method: "GET", accept: "application/json", wantCT: "application/json", wantJSON: true},
		{name: "json preferred", method: "GET", accept: "text/plain;q=0.5, application/json", wantCT: "application/json", wantJSON: true},
		{name: "text preferred", method: "GET", accept: "text/plain, application/json;q=0.5", wantCT: "text/plain", wantBody: "b1 v1\n"},
		{name: "json refused q=0", method: "GET", accept: "application/json;q=0", wantCT: "text/plain", wantBody: "b1 v1\n"},
		{name: "head", method: "HEAD", wantCT: "text/plain", wantBody: ""},
		{name: "post", method: "POST", wantCT: "text/plain", wantBody: "b1 v1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := testutil.Do(s, tt.method, "/some/path", "", map[string]string{"Accept": tt.accept, "X-Forwarded-For": "192.0.2.7"})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.wantCT) {
				t.Fatalf("Content-Type %q, want %s", ct, tt.wantCT)
			}
			if got := rec.Header().Get("X-Backend-Id"); got != "b1" {
				t.Errorf("X-Backend-Id %q", got)
			}
			if !tt.wantJSON {
				if rec.Body.String() != tt.wantBody {
					t.Fatalf("body %q, want %q", rec.Body.String(), tt.wantBody)
				}
				return
			}
			var a Answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			if a.ID != "b1" || a.Version != "v1" || a.Host != "box" || a.Path != "/some/path" || a.ForwardedFor != "192.0.2.7" {
				t.Fatalf("answer %+v", a)
			}
			if a.InFlight != 1 {
				t.Fatalf("in_flight %d while serving, want 1 (itself)", a.InFlight)
			}
		})
	}
	if s.InFlight() != 0 {
		t.Fatalf("in flight %d after all requests", s.InFlight())
	}
}

func TestHealth(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1"})
	for _, tt := range []struct {
		name    string
		healthy bool
		code    int
		body    string
	}{
		{"healthy", true, 200, "ok\n"},
		{"unhealthy", false, 503, "unhealthy\n"},
		{"healthy again", true, 200, "ok\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.SetHealthy(tt.healthy)
			rec := testutil.Do(s, "GET", "/healthz", "", nil)
			if rec.Code != tt.code || rec.Body.String() != tt.body {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tt.code, tt.body)
			}
		})
	}
	if rec := testutil.Do(s, "DELETE", "/healthz", "", nil); rec.Code != 405 || rec.Header().Get("Allow") == "" {
		t.Fatalf("DELETE /healthz: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
	if s.Requests() != 0 {
		t.Fatalf("health checks counted as content requests: %d", s.Requests())
	}
}

func TestAdminConfig(t *testing.T) {
	tests := []struct {
		name, method, body, token string
		code                      int
		field                     string // error context field
		check                     func(t *testing.T, c Config)
	}{
		{name: "get", method: "GET", code: 200, check: func(t *testing.T, c Config) {
			if c.ID != "b1" || c.Version != "v1" || !c.Healthy || c.Latency != "0s" || c.Load != nil {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "all knobs", method: "POST", code: 200,
			body: `{"latency":"50ms","jitter":"20ms","error_rate":0.1,"healthy":false,"hang":true,"version":"v2","load":40}`,
			check: func(t *testing.T, c Config) {
				if c.Latency != "50ms" || c.Jitter != "20ms" || c.ErrorRate != 0.1 || c.Healthy || !c.Hang || c.Version != "v2" || c.Load == nil || *c.Load != 40 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "patch keeps others", method: "PATCH", body: `{"latency":25}`, code: 200, check: func(t *testing.T, c Config) {
			if c.Latency != "25ms" || c.Version != "v1" {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "negative latency", method: "POST", body: `{"latency":"-1s"}`, code: 422, field: "latency"},
		{name: "huge jitter", method: "POST", body: `{"jitter":"1h"}`, code: 422, field: "jitter"},
		{name: "rate above 1", method: "POST", body: `{"error_rate":1.5}`, code: 422, field: "error_rate"},
		{name: "empty version", method: "POST", body: `{"version":""}`, code: 422, field: "version"},
		{name: "load above 100", method: "POST", body: `{"load":101}`, code: 422, field: "load"},
		{name: "bad duration", method: "POST", body: `{"latency":"fast"}`, code: 400},
		{name: "wrong type", method: "POST", body: `{"healthy":"yes"}`, code: 400, field: "healthy"},
		{name: "unknown field", method: "POST", body: `{"latencyy":"1s"}`, code: 400, field: "latencyy"},
		{name: "empty body", method: "POST", body: ``, code: 400},
		{name: "delete", method: "DELETE", code: 405},
		{name: "token missing", method: "POST", body: `{"healthy":false}`, token: "s3cret", code: 401},
		{name: "token ok", method: "POST", body: `{"healthy":false}`, token: "s3cret", code: 200, check: func(t *testing.T, c Config) {
			if c.Healthy {
				t.Fatal("healthy not applied")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{ID: "b1", Version: "v1", AdminToken: tt.token})
			before := s.Config()
			hdr := map[string]string{"Content-Type": "application/json"}
			if tt.token != "" && tt.code != 401 {
				hdr["Authorization"] = "Bearer " + tt.token
			}
			rec := testutil.Do(s, tt.method, "/admin/config", tt.body, hdr)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			if tt.code != 200 {
				if after := s.Config(); !reflect.DeepEqual(after, before) {
					t.Fatalf("refused change still changed config: %+v", after)
				}
				if tt.field != "" {
					var env struct {
						Error struct {
							Context map[string]any `json:"context"`
						} `json:"error"`
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
						t.Fatal(err)
					}
					if env.Error.Context["field"] != tt.field {
						t.Fatalf("error does not name field %q: %s", tt.field, rec.Body)
					}
				}
				return
			}
			var env struct{ Data Config }
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatal(err)
			}
			tt.check(t, env.Data)
			if !reflect.DeepEqual(env.Data, s.Config()) {
				t.Fatalf("answer %+v differs from state %+v", env.Data, s.Config())
			}
		})
	}
	s := New(Options{ID: "b1", Version: "v1"})
	if rec := testutil.Do(s, "GET", "/admin/nope", "", nil); rec.Code != 404 {
		t.Fatalf("unknown admin path: %d", rec.Code)
	}
}

func TestLatency(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1", Latency: 40 * time.Millisecond, Jitter: 20 * time.Millisecond, Rand: rand.NewPCG(1, 2)})
	for range 3 {
		start := time.Now()
		rec := testutil.Do(s, "GET", "/", "", nil)
		if el := time.Since(start); el < 40*time.Millisecond {
			t.Fatalf("answered in %s with 40ms latency", el)
		}
		if rec.Code != 200 {
			t.Fatal(rec.Code)
		}
	}
	// The jitter draws are reproducible from the seed and stay in range.
	a := New(Options{ID: "a", Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Rand: rand.NewPCG(7, 7)})
	b := New(Options{ID: "b", Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Rand: rand.NewPCG(7, 7)})
	distinct := map[time.Duration]bool{}
	for range 100 {
		da, db := a.delay(a.state.Load()), b.delay(b.state.Load())
		if da != db {
			t.Fatalf("same seed, different draws: %s vs %s", da, db)
		}
		if da < 10*time.Millisecond || da >= 15*time.Millisecond {
			t.Fatalf("delay %s outside [10ms, 15ms)", da)
		}
		distinct[da] = true
	}
	if len(distinct) < 50 {
		t.Fatalf("only %d distinct delays in 100 draws: jitter is not random", len(distinct))
	}
	// A client that gives up does not wait the latency out.
	s.SetLatency(time.Minute, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	start := time.Now()
	s.ServeHTTP(httptest.NewRecorder(), req)
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("cancelled request held for %s", el)
	}
}

func TestErrorRate(t *testing.T) {
	for _, tt := range []struct {
		rate   float64
		lo, hi int // errors out of 2000
	}{
		{0, 0, 0},
		{0.1, 140, 260},
		{0.5, 900, 1100},
		{1, 2000, 2000},
	} {
		t.Run("", func(t *testing.T) {
			s := New(Options{ID: "b1", Version: "v1", ErrorRate: tt.rate, Rand: rand.NewPCG(3, 4)})
			n := 0
			for range 2000 {
				rec := testutil.Do(s, "GET", "/", "", nil)
				switch rec.Code {
				case 500:
					n++
				case 200:
				default:
					t.Fatalf("status %d", rec.Code)
				}
			}
			if n < tt.lo || n > tt.hi {
				t.Fatalf("rate %v: %d errors in 2000, want %d..%d", tt.rate, n, tt.lo, tt.hi)
			}
			if s.Errors() != int64(n) || s.Requests() != 2000 {
				t.Fatalf("counters: errors %d requests %d", s.Errors(), s.Requests())
			}
		})
	}
}

func TestHang(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1"})
	s.SetHang(true)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for _, path := range []string{"/", "/healthz"} {
		wg.Go(func() { codes <- testutil.Do(s, "GET", path, "", nil).Code })
	}
	testutil.WaitFor(t, "two hung requests", 10*time.Second, func() bool { return s.LoadReport().Hung == 2 })
	if s.InFlight() != 1 {
		t.Fatalf("in flight %d, want 1 (health is not counted)", s.InFlight())
	}
	select {
	case c := <-codes:
		t.Fatalf("hung request answered %d", c)
	default:
	}
	s.SetVersion("v2") // other changes do not release them
	if s.LoadReport().Hung != 2 {
		t.Fatal("changing version released hung requests")
	}
	s.SetHang(false)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("released request answered %d", c)
		}
	}
	// A hung request whose client goes away ends.
	s.SetHang(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	}()
	testutil.WaitFor(t, "hung", 10*time.Second, func() bool { return s.LoadReport().Hung == 1 })
	cancel()
	<-done
	if s.InFlight() != 0 {
		t.Fatalf("in flight %d", s.InFlight())
	}
}

func TestLoad(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1", Capacity: 4})
	s.SetHang(true)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { testutil.Do(s, "GET", "/", "", nil) })
	}
	testutil.WaitFor(t, "3 in flight", 10*time.Second, func() bool { return s.InFlight() == 3 })
	tests := []struct {
		name, query string
		force       float64
		healthy     bool
		want        string // JSON load or agent line
	}{
		{"measured", "", -1, true, "75"},
		{"agent measured", "?format=agent", -1, true, "up 25%\n"},
		{"forced", "", 90, true, "90"},
		{"agent forced", "?format=agent", 90, true, "up 10%\n"},
		{"agent down", "?format=agent", -1, false, "down\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetLoad(tt.force)
			s.SetHealthy(tt.healthy)
			rec := testutil.Do(s, "GET", "/load"+tt.query, "", nil)
			if rec.Code != 200 {
				t.Fatal(rec.Code, rec.Body)
			}
			if tt.query != "" {
				if rec.Body.String() != tt.want {
					t.Fatalf("agent line %q, want %q", rec.Body, tt.want)
				}
				return
			}
			var l Load
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(l.Load); string(got) != tt.want || l.InFlight != 3 || l.Capacity != 4 || l.Forced != (tt.force >= 0) {
				t.Fatalf("load report %+v, want load %s", l, tt.want)
			}
		})
	}
	if rec := testutil.Do(s, "GET", "/load?format=xml", "", nil); rec.Code != 400 {
		t.Fatalf("bad format: %d", rec.Code)
	}
	s.SetHang(false)
	wg.Wait()
	if l := s.LoadReport(); l.MaxInFlight != 3 || l.InFlight != 0 || l.Requests != 3 {
		t.Fatalf("after: %+v", l)
	}
}

func serve(t *testing.T, s *Server) (addr string, stop func() error) {
	t.Helper()
	bound, stop, err := listen.Start("127.0.0.1:0", s.Serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return bound.String(), stop
}

func TestGracefulShutdown(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1", DrainTimeout: 20 * time.Second})
	addr, stop := serve(t, s)
	client := &http.Client{Timeout: 30 * time.Second}

	// One slow request (1s latency) and one hung request, both in flight.
	s.SetLatency(time.Second, 0)
	type result struct {
		code int
		body string
		err  error
	}
	get := func(path string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			resp, err := client.Get("http://" + addr + path)
			if err != nil {
				ch <- result{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ch <- result{code: resp.StatusCode, body: string(b)}
		}()
		return ch
	}
	slow := get("/")
	testutil.WaitFor(t, "slow request in flight", 10*time.Second, func() bool { return s.InFlight() == 1 })
	s.SetLatency(0, 0)
	s.SetHang(true)
	hung := get("/hang")
	testutil.WaitFor(t, "hung request", 10*time.Second, func() bool { return s.LoadReport().Hung == 1 })

	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if r := <-slow; r.err != nil || r.code != 200 || r.body != "b1 v1\n" {
		t.Fatalf("slow request during shutdown: %+v", r)
	}
	if r := <-hung; r.err != nil || r.code != 503 {
		t.Fatalf("hung request at shutdown: %+v, want 503", r)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestDrainTimeout(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1", DrainTimeout: 100 * time.Millisecond, Latency: time.Minute})
	addr, stop := serve(t, s)
	conn := testutil.Dial(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	testutil.WaitFor(t, "in flight", 10*time.Second, func() bool { return s.InFlight() == 1 })
	start := time.Now()
	if err := stop(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop with a request past the deadline: %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("shutdown took %s with a 100ms drain timeout", el)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(conn).ReadByte(); err == nil {
		t.Fatal("connection still open after the drain deadline")
	}
}

func TestStreamAndEcho(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1"})
	addr, _ := serve(t, s)
	resp, err := http.Get("http://" + addr + "/stream?chunks=3&interval=300ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	start := time.Now()
	line, err := br.ReadString('\n')
	if err != nil || line != "b1 v1 chunk 1/3 \n" {
		t.Fatalf("first chunk %q %v", line, err)
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Logf("first chunk took %s (slow machine?)", el)
	}
	rest, _ := io.ReadAll(br)
	if strings.Count(string(rest), "\n") != 2 {
		t.Fatalf("rest %q", rest)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("3 chunks 300ms apart in %s: not paced", el)
	}

	for _, bad := range []string{"chunks=0", "chunks=x", "size=-1", "interval=1h"} {
		resp, err := http.Get("http://" + addr + "/stream?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%s: %d", bad, resp.StatusCode)
		}
	}

	body := strings.Repeat("0123456789", 10000)
	resp, err = http.Post("http://"+addr+"/echo", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != body {
		t.Fatalf("echo returned %d bytes, want %d", len(got), len(body))
	}
}

func TestH2C(t *testing.T) {
	s := New(Options{ID: "b1", Version: "v1", H2C: true})
	addr, _ := serve(t, s)
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: p}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("proto %s, want HTTP/2", resp.Proto)
	}
}

func TestWantsJSON(t *testing.T) {
	for _, tt := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", true},
		{"Application/JSON", true},
		{"application/json, */*", true},
		{"application/json;q=0.2, text/*;q=0.5", false},
		{"application/*", true},
		{"application/json;q=abc", true},
		{"text/html", false},
	} {
		if got := wantsJSON(tt.accept); got != tt.want {
			t.Errorf("wantsJSON(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func FuzzAdminConfig(f *testing.F) {
	for _, seed := range []string{
		`{"latency":"50ms","jitter":"20ms","error_rate":0.1,"healthy":false,"hang":true,"version":"v2"}`,
		`{"latency":25}`, `{"error_rate":1.5}`, `{"load":-3}`, `{"latency":"-1s"}`, `[]`, `{`, `{"jitter":1e300}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s := New(Options{ID: "b1", Version: "v1"})
		rec := testutil.Do(s, "POST", "/admin/config", body, nil)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		c := s.Config()
		k := s.state.Load()
		if k.latency < 0 || k.latency > MaxDelay || k.jitter < 0 || k.jitter > MaxDelay ||
			!(k.errorRate >= 0 && k.errorRate <= 1) || c.Version == "" || k.load > 100 {
			t.Fatalf("invalid state after %q: %+v", body, c)
		}
		if k.hang {
			return // a GET would block
		}
		k2 := *k
		_ = s.delay(&k2)
	})
}

func FuzzAccept(f *testing.F) {
	for _, s := range []string{"", "*/*", "application/json;q=0.5, text/plain", "a;q=;;,", "application/json;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		_ = wantsJSON(accept)
	})
}
