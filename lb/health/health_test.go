package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"netsim/internal/health"
	"netsim/internal/testutil"
	"netsim/lb/backend"
)

type changes struct {
	mu            sync.Mutex
	log           []string
	checks        *atomic.Int64
	checksAtFirst atomic.Int64
}

func (c *changes) StateChanged(b *backend.Backend, from, to backend.State, reason string) {
	c.mu.Lock()
	if len(c.log) == 0 && c.checks != nil {
		c.checksAtFirst.Store(c.checks.Load())
	}
	c.log = append(c.log, from.String()+">"+to.String())
	c.mu.Unlock()
}

func (c *changes) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, " ")
}

func TestHTTPRiseFall(t *testing.T) {
	var healthy atomic.Bool
	var checks atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		if r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != "lbd-health-check" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(strings.Repeat("x", 200<<10))) // more than the cap
	}))
	defer srv.Close()
	healthy.Store(true)
	ch := &changes{checks: &checks}
	b := backend.New(backend.Options{ID: "b1", Address: srv.Listener.Addr().String(), Weight: 1, Observer: ch})
	var results atomic.Int64
	// The timeout is capped at the interval: 200ms leaves room for a loaded
	// machine under the race detector (20ms made the first check time out).
	m := NewMonitor(Config{Config: health.Config{Interval: 200 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 2, Fall: 3}},
		NewHTTP("/healthz", "", 200), nil, nil, func(*backend.Backend, error, time.Duration) { results.Add(1) })
	defer m.Stop()
	m.Add(b)
	testutil.WaitFor(t, "first check brings a new backend up", 5*time.Second, b.Healthy)
	if n := ch.checksAtFirst.Load(); n != 1 {
		t.Fatalf("up after %d checks, want the first one", n)
	}
	healthy.Store(false)
	before := checks.Load()
	testutil.WaitFor(t, "down after fall", 5*time.Second, func() bool { return !b.Healthy() })
	if n := checks.Load() - before; n < 3 {
		t.Fatalf("down after %d failed checks, want fall=3", n)
	}
	healthy.Store(true)
	before = checks.Load()
	testutil.WaitFor(t, "up after rise", 5*time.Second, b.Healthy)
	if n := checks.Load() - before; n < 2 {
		t.Fatalf("up after %d good checks, want rise=2", n)
	}
	if got := ch.String(); got != "down>up up>down down>up" {
		t.Fatalf("transitions %q", got)
	}
	if results.Load() < 6 {
		t.Fatalf("result callback ran %d times", results.Load())
	}
}

func TestHTTPExpect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	b := backend.New(backend.Options{ID: "b", Address: srv.Listener.Addr().String()})
	tests := []struct {
		path   string
		expect int
		ok     bool
	}{
		{"/healthz", 0, true},
		{"/healthz", 204, true},
		{"/healthz", 200, false},
		{"/moved", 0, true}, // 3xx counts, and is not followed
		{"/moved", 302, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := NewHTTP(tt.path, "", tt.expect).Check(context.Background(), b.Address())
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	b := backend.New(backend.Options{ID: "b", Address: srv.Listener.Addr().String(), Healthy: true, Weight: 1})
	m := NewMonitor(Config{Config: health.Config{Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond, Fall: 2}}, NewHTTP("/", "", 0), nil, nil, nil)
	defer m.Stop()
	m.Add(b)
	testutil.WaitFor(t, "a hanging backend to go down", 5*time.Second, func() bool { return !b.Healthy() })
}

func TestPassiveCooldown(t *testing.T) {
	tests := []struct {
		name  string
		check Checker
	}{
		{"active check readmits", &TCP{}},
		{"no check: cooldown readmits", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			defer srv.Close()
			b := backend.New(backend.Options{ID: "b", Address: srv.Listener.Addr().String(), Healthy: true, Weight: 1})
			cool := 300 * time.Millisecond
			m := NewMonitor(Config{Config: health.Config{Interval: 20 * time.Millisecond, Rise: 1}, Cooldown: cool}, tt.check, nil, nil, nil)
			defer m.Stop()
			m.Add(b)
			for range 3 {
				b.Failure(3, "connection refused")
			}
			if b.Healthy() {
				t.Fatal("not ejected")
			}
			took := testutil.WaitFor(t, "readmission", 5*time.Second, b.Healthy)
			if took < cool-50*time.Millisecond {
				t.Fatalf("readmitted after %v, before the %v cooldown", took, cool)
			}
		})
	}
}

func TestRemoveAndStop(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) }))
	defer srv.Close()
	b := backend.New(backend.Options{ID: "b", Address: srv.Listener.Addr().String()})
	m := NewMonitor(Config{Config: health.Config{Interval: 10 * time.Millisecond}}, NewHTTP("/", "", 0), nil, nil, nil)
	m.Add(b)
	testutil.WaitFor(t, "checks", 5*time.Second, func() bool { return n.Load() >= 3 })
	m.Remove(b)
	m.Stop()
	m.Add(b) // after Stop: ignored
	m.mu.Lock()
	running := len(m.runs)
	m.mu.Unlock()
	if running != 0 {
		t.Fatalf("%d checkers started after Stop", running)
	}
}

func TestAgent(t *testing.T) {
	var body atomic.Value
	body.Store("up 70%\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	b := backend.New(backend.Options{ID: "b", Address: srv.Listener.Addr().String(), Weight: 1})
	ag := &Agent{Client: srv.Client(), Path: "/load?format=agent"}
	m := NewMonitor(Config{Config: health.Config{Interval: 10 * time.Millisecond}}, NewHTTP("/", "", 0), ag, nil, nil)
	defer m.Stop()
	m.Add(b)
	testutil.WaitFor(t, "load 30", 5*time.Second, func() bool { return b.Load() == 30 })
	body.Store(`{"load": 81.6}`)
	testutil.WaitFor(t, "load 82", 5*time.Second, func() bool { return b.Load() == 82 })
	body.Store("garbage")
	testutil.WaitFor(t, "unknown load", 5*time.Second, func() bool { return b.Load() == -1 })
}

var loadCases = []struct {
	in   string
	want int
	ok   bool
}{
	{"up 63%", 37, true},
	{"ready 100%\n", 0, true},
	{"0%", 100, true},
	{`{"load": 12.4, "in_flight": 3}`, 12, true},
	{`{"load": 101}`, 0, false},
	{`{"in_flight": 3}`, 0, false},
	{"up", 0, false},
	{"up 120%", 0, false},
	{"up x%", 0, false},
	{"", 0, false},
}

func TestParseLoad(t *testing.T) {
	for _, tc := range loadCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLoad([]byte(tc.in))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseLoad(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseLoad(f *testing.F) {
	for _, tc := range loadCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseLoad(b)
		if err == nil && (n < 0 || n > 100) {
			t.Fatalf("ParseLoad(%q) = %d out of range", b, n)
		}
	})
}

// TestFailingChecksCountAndWording: while active checks fail, the
// backend's consecutive_failures grows with them; a backend that was
// passively ejected while its checks kept passing comes back saying so,
// not "active check passed 115x".
func TestFailingChecksCountAndWording(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		fail.Store(true)
		chk := checkFunc(func(context.Context, string) error {
			if fail.Load() {
				return errors.New("connection refused")
			}
			return nil
		})
		var mu sync.Mutex
		var reasons []string
		obs := backend.ObserverFunc(func(_ *backend.Backend, _, _ backend.State, reason string) {
			mu.Lock()
			reasons = append(reasons, reason)
			mu.Unlock()
		})
		b := backend.New(backend.Options{ID: "b1", Address: "192.0.2.1:80", Weight: 1, Healthy: true, Observer: obs})
		m := NewMonitor(Config{Config: health.Config{Interval: time.Second, Rise: 2, Fall: 3}, Cooldown: 10 * time.Second}, chk, nil, nil, nil)
		defer m.Stop()
		m.Add(b)
		for i := 1; i <= 5; i++ {
			synctest.Wait()
			if got := b.ConsecutiveFailures(); got != i {
				t.Fatalf("after %d failed checks consecutive_failures = %d", i, got)
			}
			time.Sleep(time.Second + time.Second/10) // the bubble's clock: one interval and its jitter
		}
		fail.Store(false)
		time.Sleep(30 * time.Second) // many passing checks in a row
		synctest.Wait()
		if !b.Healthy() || b.ConsecutiveFailures() != 0 {
			t.Fatalf("after passing checks: healthy %v, consecutive_failures %d", b.Healthy(), b.ConsecutiveFailures())
		}
		for range 3 {
			b.Failure(3, "502")
		}
		time.Sleep(11 * time.Second) // past the cooldown
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		last := reasons[len(reasons)-1]
		if !b.Healthy() || !strings.Contains(last, "cooldown") || strings.Contains(last, "in a row") {
			t.Fatalf("readmitted %v with reason %q; all reasons: %q", b.Healthy(), last, reasons)
		}
		if want := "active check passed 2 times in a row (rise 2)"; reasons[1] != want {
			t.Fatalf("coming back after failed checks: %q, want %q", reasons[1], want)
		}
	})
}

type checkFunc func(ctx context.Context, addr string) error

func (f checkFunc) Check(ctx context.Context, addr string) error { return f(ctx, addr) }
