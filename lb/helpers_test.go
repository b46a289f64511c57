package lb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"netsim/internal/testutil"
	"netsim/lb/l4"
)

// Running an lbd in a test: its config, the Server, Run until the test
// ends. harness_test.go puts webd backends behind it.

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
