//go:build linux

package lb

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// parkedConns is how many connections f's parker holds.
func parkedConns(f *frontend) int {
	f.eng.mu.Lock()
	p := f.eng.parker
	f.eng.mu.Unlock()
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.set.byToken)
}

func getOn(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestIdleConnectionParks: a keep-alive connection idle for parkAfter
// gives up its goroutine and buffer to the parker, is served again when
// its next request comes, and is closed by the parker at idle_timeout.
func TestIdleConnectionParks(t *testing.T) {
	srv, addr := engineLB(t, EngineFast, okBackend(t, nil), func(c *Config) { c.Frontends[0].IdleTimeout = 2 * time.Second })
	f := srv.frontends[0]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	getOn(t, c, br)
	testutil.WaitFor(t, "the idle connection parks", 5*time.Second, func() bool { return parkedConns(f) == 1 })
	start := time.Now()
	for range 3 { // woken by each request, parked again after it
		getOn(t, c, br)
		testutil.WaitFor(t, "the connection parks again", 5*time.Second, func() bool { return parkedConns(f) == 1 })
	}
	// idle_timeout closes it while parked: the client reads EOF.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read on a connection past its idle timeout: %v, want EOF", err)
	}
	t.Logf("closed %v after the last request (idle_timeout 2s)", time.Since(start).Round(time.Millisecond))
	// the parker lets go of it and the engine stops counting it
	testutil.WaitFor(t, "the closed connection is neither parked nor open", 5*time.Second, func() bool {
		f.eng.mu.Lock()
		open := len(f.eng.conns)
		f.eng.mu.Unlock()
		return parkedConns(f) == 0 && open == 0
	})
}

// TestParkedBurstReleasesMemory: once release.after connections have
// parked and none has for release.quiet, the parker gives the freed heap
// back to the OS, once per burst (an idle lbd seldom collects, and kept
// the heap 10,000 connections grew: 2.1x HAProxy's RSS in bench/lb-idle.sh).
func TestParkedBurstReleasesMemory(t *testing.T) {
	srv, addr := engineLB(t, EngineFast, okBackend(t, nil))
	f := srv.frontends[0]
	conn := func() {
		c := testutil.Dial(t, addr, "")
		getOn(t, c, bufio.NewReader(c))
	}
	conn()
	testutil.WaitFor(t, "the first connection parks", 5*time.Second, func() bool { return parkedConns(f) == 1 })
	f.eng.mu.Lock()
	p := f.eng.parker
	f.eng.mu.Unlock()
	var releases atomic.Int32
	p.mu.Lock()
	p.release.after, p.release.quiet = 3, 50*time.Millisecond
	p.release.notify = func() { releases.Add(1) }
	p.mu.Unlock()
	conn()
	testutil.WaitFor(t, "two connections parked", 5*time.Second, func() bool { return parkedConns(f) == 2 })
	p.interrupt()
	if n := releases.Load(); n != 0 {
		t.Fatalf("%d releases after 2 parks, want none before release.after (3)", n)
	}
	conn()
	testutil.WaitFor(t, "the memory is released after the third park", 5*time.Second, func() bool { return releases.Load() == 1 })
	p.interrupt() // another turn of the loop: no second release without new parks
	testutil.WaitFor(t, "the parker's loop turns", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.waiting.IsZero() && time.Until(p.waiting) > 0
	})
	if n := releases.Load(); n != 1 {
		t.Fatalf("%d releases, want 1 for one burst", n)
	}
}

// TestShutdownClosesParked: shutting down with connections parked (no
// goroutine of their own) closes them and returns; nothing waits for
// their idle timeout.
func TestShutdownClosesParked(t *testing.T) {
	lbd := stoppableLB(t, EngineFast)
	srv := lbd.srv
	f := srv.frontends[0]
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", srv.Addr("http").String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		getOn(t, c, bufio.NewReader(c))
		conns = append(conns, c)
	}
	testutil.WaitFor(t, "three connections park", 5*time.Second, func() bool { return parkedConns(f) == 3 })
	lbd.cancel()
	if err := lbd.wait(); err != nil {
		t.Fatalf("shutdown with three connections parked: %v", err)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("connection %d after shutdown: %v, want EOF", i, err)
		}
	}
}

// TestShutdownServesNewConnection: a connection accepted before SIGTERM
// whose request has not arrived yet (the client connected and is about
// to write) is served during the drain, as net/http serves a StateNew
// connection: closing it would lose a request whose connect succeeded,
// which a client that tries the next address only on a failed connect
// (make scale-demo's) cannot recover. The fast engine's drain closes an
// idle kept-alive connection in the same pass as it looks at the new one;
// net/http's drain has begun once its listener refuses connections.
func TestShutdownServesNewConnection(t *testing.T) {
	engines(t, func(t *testing.T, engine string) {
		lbd := stoppableLB(t, engine)
		srv := lbd.srv
		addr := srv.Addr("http").String()
		idle, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		getOn(t, idle, bufio.NewReader(idle))
		fresh, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		open := srv.met.conns.WithLabelValues("http")
		testutil.WaitFor(t, "both connections accepted", 5*time.Second, func() bool { return testutil.Value(t, open) == 2 })

		lbd.cancel() // SIGTERM
		testutil.WaitFor(t, "the listener closed", 10*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		if engine == EngineFast { // the drain closes idle connections as it closes the listener
			_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("the idle connection after the drain began: %v, want EOF", err)
			}
		}
		// the request of the connection accepted before the drain
		if _, err := io.WriteString(fresh, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatalf("writing on the connection accepted before the drain: %v", err)
		}
		_ = fresh.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(fresh), nil)
		if err != nil {
			t.Fatalf("the request of a connection accepted before the drain: %v, want its answer", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		if err := lbd.wait(); err != nil {
			t.Fatalf("the drain once the new connection was served: %v", err)
		}
	})
}

// stoppableLB runs the engineConfig (idle_timeout an hour) in front of
// an okBackend; the test may begin its drain with cancel.
func stoppableLB(t *testing.T, engine string) *running {
	t.Helper()
	cfg := engineConfig(engine, okBackend(t, nil), func(c *Config) { c.Frontends[0].IdleTimeout = time.Hour })
	return run(t, newServer(t, cfg))
}
