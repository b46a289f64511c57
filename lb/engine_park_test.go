//go:build linux

package lb

import (
	"bufio"
	"io"
	"net"
	"net/http"
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
