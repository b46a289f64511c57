//go:build linux

package server

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"netsim/dns/auth"
	"netsim/zones"
)

// With GOMAXPROCS 2 a listener has one UDP socket per reader on one port
// (SO_REUSEPORT), each with a receive buffer for bursts, all answering;
// the address stays its own: a second listener on it fails.
func TestListenerSocketPerReader(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	l, err := serveEmbedded(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.udp) != 2 {
		t.Fatalf("%d UDP sockets with GOMAXPROCS 2, want 2", len(l.udp))
	}
	want := udpRecvBuffer
	if unix.Geteuid() != 0 {
		want = min(want, readInt(t, "/proc/sys/net/core/rmem_max"))
	}
	for i, u := range l.udp {
		got, err := unix.GetsockoptInt(u.(*rawSocket).fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		if err != nil || got/2 < want { // the kernel reports twice what was set
			t.Errorf("socket %d: SO_RCVBUF %d (%v), want at least %d", i, got/2, err, want)
		}
	}
	if l2, err := Listen(l.Addr, l.handler, Limits{}, nil); err == nil {
		l2.udp[0].Shutdown()
		l2.udp[0].Close()
		l2.tcp.Close()
		t.Fatalf("a second listener on %s started; want the address in use", l.Addr)
	}
	// clients from many ports land on both sockets; every one is answered
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	for i := 0; i < 16; i++ {
		c := &dns.Client{Net: "udp"}
		if r, _, err := c.Exchange(m, l.Addr); err != nil || len(r.Answer) != 3 {
			t.Fatalf("client %d: %v %v", i, r, err)
		}
	}
}

// serveEmbedded serves the demo zones on addr until the test ends.
func serveEmbedded(t *testing.T, addr string) (*Listener, error) {
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, addr, NewHandler(addr, auth.NewSet(zs), nil, NewMetrics(nil)))
}

func readInt(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("this kernel does not expose %s, so the socket buffer limit cannot be read: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Skipf("%s does not hold a number, so the socket buffer limit cannot be read: %v", path, err)
	}
	return n
}

// An IPv6 listener answers over its raw socket as an IPv4 one does.
func TestListenerIPv6(t *testing.T) {
	l, err := serveEmbedded(t, "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	m := new(dns.Msg)
	m.SetQuestion("mail.example.test.", dns.TypeMX)
	if r, _, err := (&dns.Client{Net: "udp"}).Exchange(m, l.Addr); err != nil || len(r.Answer) != 2 {
		t.Fatalf("over %s: %v %v", l.Addr, r, err)
	}
}

// Every UDP socket sends its replies with DF set and ignores the path MTU
// ICMP reports (IP_PMTUDISC_PROBE, RFC 9715 §3.1): replies are never
// fragmented, and need no IP ID from the kernel's shared generator.
func TestUDPRepliesDontFragment(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := serveEmbedded(t, addr)
		if err != nil {
			if addr == "[::1]:0" {
				continue // no IPv6 loopback
			}
			t.Fatal(err)
		}
		for i, u := range l.udp {
			fd := u.(*rawSocket).fd
			level, opt, want := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE
			if addr == "[::1]:0" {
				level, opt, want = unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE
			}
			if got, err := unix.GetsockoptInt(fd, level, opt); err != nil || got != want {
				t.Errorf("%s socket %d: MTU discovery %d (%v), want %d (probe: DF, path MTU ignored)", addr, i, got, err, want)
			}
		}
	}
}
