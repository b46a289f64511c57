package world

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// exact is a world without jitter: EU↔AS 100 ms one way at 8 Mbit/s
// (1 byte per µs), so timings can be checked to the nanosecond in a
// synctest bubble.
const exact = "world: {links: [{between: [eu, as], latency: 100ms, jitter: 0, bandwidth: 8Mbit}]}"

// addrConn gives a net.Pipe end socket addresses.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

var (
	euAddr = &net.TCPAddr{IP: net.ParseIP("127.0.10.5"), Port: 40000}
	asAddr = &net.TCPAddr{IP: net.ParseIP("127.0.30.1"), Port: 8080}
)

// pipe is a client end (raw, as an external tool's socket) and a server
// end seen through w as Listener.Accept returns it.
func pipe(t *testing.T, w *World) (client net.Conn, server net.Conn) {
	c, s := net.Pipe()
	server = w.serverConn(addrConn{s, asAddr, euAddr})
	if _, ok := server.(*conn); !ok {
		t.Fatal("the accepted connection was not wrapped")
	}
	return c, server
}

// exactPipe is a client and a server connection through the exact world,
// both closed when the test ends.
func exactPipe(t *testing.T) (client, server net.Conn) {
	client, server = pipe(t, testWorld(t, exact, Options{}))
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

func readAt(t *testing.T, c net.Conn, want string) time.Time {
	t.Helper()
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
	return time.Now()
}

func TestConnTwoRoundTrips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := exactPipe(t)
		t0 := time.Now()
		go func() { _, _ = client.Write([]byte("GET")) }()
		// the request: handshake (200 ms) and one way (100 ms)
		if got := readAt(t, server, "GET").Sub(t0); got != 300*time.Millisecond {
			t.Errorf("request readable after %v, want 300ms", got)
		}
		wrote := time.Now()
		if _, err := server.Write([]byte("OK")); err != nil {
			t.Fatal(err)
		}
		if time.Since(wrote) != 0 {
			t.Error("Write waited for the latency")
		}
		// (each byte also takes 1µs on the wire at 8 Mbit/s)
		if got := readAt(t, client, "OK").Sub(t0); got != 400*time.Millisecond+2*time.Microsecond {
			t.Errorf("response after %v, want 400.002ms (two round trips)", got)
		}
		// on the open connection, one round trip
		t1 := time.Now()
		go func() { _, _ = client.Write([]byte("again")) }()
		readAt(t, server, "again")
		_, _ = server.Write([]byte("OK"))
		if got := readAt(t, client, "OK").Sub(t1); got != 200*time.Millisecond+7*time.Microsecond {
			t.Errorf("second exchange took %v, want 200.007ms", got)
		}
	})
}

func TestConnBandwidthAndCloseFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := exactPipe(t)
		go func() { _, _ = client.Write([]byte("GET")) }()
		readAt(t, server, "GET")
		t0 := time.Now()
		body := make([]byte, 100_000) // 100 ms at 8 Mbit/s
		if n, err := server.Write(body); n != len(body) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if err := server.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		got, err := io.ReadAll(client) // the body, then EOF when the socket closes
		if err != nil || len(got) != len(body) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if d := time.Since(t0); d != 200*time.Millisecond {
			t.Errorf("body complete after %v, want 200ms (100ms on the wire + 100ms one way)", d)
		}
	})
}

func TestConnDeadlinesAndEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := exactPipe(t)
		t0 := time.Now()
		// nothing sent: the deadline fires on time
		_ = server.SetReadDeadline(t0.Add(50 * time.Millisecond))
		if _, err := server.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(t0) != 50*time.Millisecond {
			t.Errorf("Read = %v after %v, want a timeout after 50ms", err, time.Since(t0))
		}
		// data in flight: the deadline still fires before it arrives
		go func() { _, _ = client.Write([]byte("x")) }()
		_ = server.SetReadDeadline(t0.Add(100 * time.Millisecond))
		if _, err := server.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(t0) != 100*time.Millisecond {
			t.Errorf("Read = %v after %v, want a timeout after 100ms", err, time.Since(t0))
		}
		// a deadline moved while a Read waits wakes it
		_ = server.SetReadDeadline(time.Time{})
		go func() {
			time.Sleep(10 * time.Millisecond)
			_ = server.SetReadDeadline(time.Now())
		}()
		if _, err := server.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(t0) != 110*time.Millisecond {
			t.Errorf("Read = %v after %v, want a timeout when the deadline moved (110ms)", err, time.Since(t0))
		}
		_ = server.SetReadDeadline(time.Time{})
		if readAt(t, server, "x").Sub(t0) != 300*time.Millisecond {
			t.Errorf("byte read after %v, want 300ms", time.Since(t0))
		}
		// the client goes away: EOF one way later
		t1 := time.Now()
		client.Close()
		if _, err := server.Read(make([]byte, 1)); err != io.EOF || time.Since(t1) != 100*time.Millisecond {
			t.Errorf("Read = %v after %v, want EOF after 100ms", err, time.Since(t1))
		}
		if _, err := server.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("second Read = %v, want EOF again", err)
		}
	})
}

func TestDialClientSide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := testWorld(t, exact, Options{})
		c, s := net.Pipe()
		defer s.Close()
		dial := w.Dial(func(context.Context, string, string) (net.Conn, error) {
			return addrConn{c, euAddr, asAddr}, nil
		})
		t0 := time.Now()
		client, err := dial(context.Background(), "tcp", asAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if d := time.Since(t0); d != 200*time.Millisecond {
			t.Errorf("connect took %v, want one round trip (200ms)", d)
		}
		if _, err := client.Write([]byte("GET")); err != nil {
			t.Fatal(err)
		}
		// the raw server end is an external server: no distance of its own
		if got := readAt(t, s, "GET").Sub(t0); got != 300*time.Millisecond+3*time.Microsecond {
			t.Errorf("request reached the server after %v, want 300.003ms", got)
		}
		go func() { _, _ = s.Write([]byte("OK")) }()
		if got := readAt(t, client, "OK").Sub(t0); got != 400*time.Millisecond+5*time.Microsecond {
			t.Errorf("response after %v, want 400.005ms", got)
		}
		// a cancelled dial gives up at once
		ctx, cancel := context.WithCancel(context.Background())
		c2, s2 := net.Pipe()
		defer s2.Close()
		dial2 := w.Dial(func(context.Context, string, string) (net.Conn, error) { return addrConn{c2, euAddr, asAddr}, nil })
		go func() { time.Sleep(time.Millisecond); cancel() }()
		if _, err := dial2(ctx, "tcp", "x"); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled dial: %v", err)
		}
	})
}

func TestFlatListenerAndDialAreUnwrapped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, w := range []*World{nil, testWorld(t, "world: off", Options{})} {
		if got := w.Listener(ln); got != ln {
			t.Errorf("flat Listener wrapped the listener: %T", got)
		}
	}
	// a client in no place is accepted as it is
	w := testWorld(t, "", Options{})
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	other := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}
	if got := w.serverConn(addrConn{s, asAddr, other}); got.(addrConn).Conn != s {
		t.Errorf("a client in no place was wrapped: %T", got)
	}
}
