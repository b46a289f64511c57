package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"netsim/internal/testutil"
)

func TestRiseFall(t *testing.T) {
	fail := errors.New("refused")
	tests := []struct {
		name    string
		rise    int
		fall    int
		results []error
		want    []State
	}{
		{"first success decides up", 2, 3, []error{nil}, []State{Up}},
		{"first failure decides down", 2, 3, []error{fail}, []State{Down}},
		{"fall 3 needs three failures", 2, 3, []error{nil, fail, fail, fail}, []State{Up, Up, Up, Down}},
		{"a success resets the failure count", 2, 3, []error{nil, fail, fail, nil, fail, fail}, []State{Up, Up, Up, Up, Up, Up}},
		{"rise 2 needs two successes", 2, 3, []error{fail, nil, nil}, []State{Down, Down, Up}},
		{"flapping stays down", 2, 3, []error{fail, nil, fail, nil}, []State{Down, Down, Down, Down}},
		{"rise 1 fall 1", 1, 1, []error{nil, fail, nil}, []State{Up, Down, Up}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var changes []Change
			m := NewMonitor("x:1", &TCP{}, Config{Rise: tt.rise, Fall: tt.fall}, Options{OnChange: func(c Change) { changes = append(changes, c) }})
			if m.State() != Unknown || !m.Available() {
				t.Fatalf("fresh monitor: state %v available %v, want unknown and available", m.State(), m.Available())
			}
			prev := Unknown
			nChanges := 0
			for i, r := range tt.results {
				m.Observe(r)
				if got := m.State(); got != tt.want[i] {
					t.Fatalf("after result %d (%v): state %v, want %v", i, r, got, tt.want[i])
				}
				if tt.want[i] != prev {
					nChanges++
					prev = tt.want[i]
				}
			}
			if len(changes) != nChanges {
				t.Fatalf("%d change callbacks, want %d: %+v", len(changes), nChanges, changes)
			}
			if st := m.Status(); st.Checks != uint64(len(tt.results)) {
				t.Errorf("checks = %d, want %d", st.Checks, len(tt.results))
			}
		})
	}
}

func TestTCPChecker(t *testing.T) {
	ln := testutil.Listen(t)
	addr := ln.Addr().String()
	testutil.Serve(t, ln, func(net.Conn) {})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := (&TCP{}).Check(ctx, addr); err != nil {
		t.Fatalf("open listener: %v", err)
	}
	ln.Close()
	if err := (&TCP{}).Check(ctx, addr); err == nil {
		t.Fatal("closed listener: check passed")
	}
}

func TestHTTPChecker(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	target := srv.Listener.Addr().String()
	tests := []struct {
		name   string
		status int
		expect int
		ok     bool
	}{
		{"200", 200, 0, true},
		{"302 counts as up", 302, 0, true},
		{"503", 503, 0, false},
		{"404", 404, 0, false},
		{"expect 204 gets 200", 200, 204, false},
		{"expect 204 gets 204", 204, 204, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			status = tt.status
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := NewHTTP(HTTPOptions{Path: "/healthz", Expect: tt.expect}).Check(ctx, target)
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestRunProbesAtStart: the first probe happens when Run starts, not after
// one interval, and Run returns when its context is cancelled.
func TestRunProbesAtStart(t *testing.T) {
	probed := make(chan struct{}, 1)
	c := checkerFunc(func(ctx context.Context, target string) error {
		select {
		case probed <- struct{}{}:
		default:
		}
		return nil
	})
	m := NewMonitor("x:1", c, Config{Interval: time.Hour}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	select {
	case <-probed:
	case <-time.After(10 * time.Second):
		t.Fatal("no probe at start (interval is 1h)")
	}
	testutil.WaitFor(t, "state up", 10*time.Second, func() bool { return m.State() == Up })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestTimeoutIsReported(t *testing.T) {
	c := checkerFunc(func(ctx context.Context, target string) error {
		<-ctx.Done()
		return ctx.Err()
	})
	m := NewMonitor("x:1", c, Config{Interval: time.Second, Timeout: 20 * time.Millisecond}, Options{})
	m.probe(context.Background())
	st := m.Status()
	if st.State != Down || st.LastError == "" {
		t.Fatalf("status %+v, want down with an error", st)
	}
}

type checkerFunc func(ctx context.Context, target string) error

func (f checkerFunc) Check(ctx context.Context, target string) error { return f(ctx, target) }
