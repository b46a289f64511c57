package testutil

import (
	"io"
	"net"
	"testing"
)

// SharedPort finds a port free, TCP and UDP, on every one of hosts (e.g.
// the demo's 127.0.x.y name servers, which share one port). The port is
// released for the caller to bind.
func SharedPort(t testing.TB, hosts ...string) string {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", hosts[0]+":0")
		if err != nil {
			t.Fatalf("listen on %s: %v (Linux routes all of 127.0.0.0/8 to loopback)", hosts[0], err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		var held []io.Closer
		ok := true
		for _, h := range hosts {
			a := net.JoinHostPort(h, port)
			if l, err := net.Listen("tcp", a); err == nil {
				held = append(held, l)
			} else {
				ok = false
			}
			if u, err := net.ListenPacket("udp", a); err == nil {
				held = append(held, u)
			} else {
				ok = false
			}
			if !ok {
				break
			}
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return ""
}

// FreeAddr reserves a TCP port on 127.0.0.1 and releases it for the
// caller to bind ("127.0.0.1:PORT"), for a server that must be told its
// address before it starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
