package testutil

import (
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A port found free and released for a server to bind later can be taken
// in between: by another test's server, or by any outgoing connection,
// which gets its local port from the kernel's ephemeral range. Ports are
// therefore picked at random below that range (where the kernel never
// hands out ports on its own), and the caller binds them soon after.
func candidatePort() string {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	if lo <= 11000 {
		return "0" // no room below the ephemeral range: let the kernel pick
	}
	return strconv.Itoa(10000 + rand.IntN(lo-11000))
}

// SharedPort finds a port free, TCP and UDP, on every one of hosts (e.g.
// the demo's 127.0.x.y name servers, which share one port). The port is
// released for the caller to bind.
func SharedPort(t testing.TB, hosts ...string) string {
	t.Helper()
	for range 200 {
		ln, err := net.Listen("tcp", net.JoinHostPort(hosts[0], candidatePort()))
		if err != nil {
			probe, perr := net.Listen("tcp", hosts[0]+":0")
			if perr != nil {
				t.Fatalf("listen on %s: %v (Linux routes all of 127.0.0.0/8 to loopback)", hosts[0], perr)
			}
			probe.Close()
			continue // taken: another candidate
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
	for range 200 {
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", candidatePort())); err == nil {
			defer ln.Close()
			return ln.Addr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
