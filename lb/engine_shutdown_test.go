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
