package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/auth"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/internal/testutil"
)

// TestClientCapKeepsListenerSlots: behind a real UDP listener with 4 slots
// for recursion, a client flooding names whose server never answers holds
// only max_resolutions_per_client (2) of them, so another client is
// answered while the flood's resolutions still hang. Without the cap the
// flood takes all 4 slots and the other client's queries are dropped until
// the hanging resolutions give up (the test then fails: the other client's
// answer comes only once nothing is in flight any more).
func TestClientCapKeepsListenerSlots(t *testing.T) {
	const slots, limit = 4, 2
	w := memWorld(t, hostileSpec)
	w.servers[evilNS].setHook(func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true })
	r := newMemResolver(t, w, "127.0.102.1", func(c *Config) {
		c.MaxResolutionsPerClient = limit
		c.Timeout = 20 * time.Second
		c.UpstreamTimeout = 10 * time.Second
	})
	reg := prometheus.NewRegistry()
	h := server.NewHandler("resolver", auth.NewSet(nil), r, server.NewMetrics(reg))
	l, err := server.Listen("127.0.0.1:0", h, server.Limits{Inflight: slots}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Serve(t, l)
	t.Cleanup(func() { _ = r.Close() }) // before the listener stops: the hanging resolutions end

	flood := dial(t, "127.0.0.1", l.Addr)
	for i := range 10 {
		send(t, flood, fmt.Sprintf("f%d.evil.test.", i))
	}
	testutil.WaitFor(t, "the flood's resolutions to start", 10*time.Second, func() bool {
		return testutil.Value(t, r.m.inflight) == limit && testutil.Value(t, r.m.clientLimited) > 0
	})
	// a query that finds no free slot is dropped by the listener
	dropped := func() float64 {
		return testutil.MetricValue(t, reg, "dnsd_dropped_packets_total", "server", "resolver")
	}
	before := dropped()
	other := dial(t, "127.0.0.2", l.Addr)
	var m *dns.Msg
	testutil.WaitFor(t, "an answer for the other client", 30*time.Second, func() bool {
		send(t, other, "www.victim.test.")
		m = receive(t, other, 200*time.Millisecond)
		return m != nil
	})
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("other client: %v", m)
	}
	if n := dropped() - before; n != 0 {
		t.Fatalf("%v of the other client's queries dropped for want of a slot", n)
	}
	// The flood's resolutions still hang (the other client's, which may
	// have asked twice while waiting, end just after its answer).
	testutil.WaitFor(t, fmt.Sprintf("the flood's %d resolutions alone in flight", limit), 5*time.Second, func() bool {
		return testutil.Value(t, r.m.inflight) == limit
	})
}

func dial(t *testing.T, local, remote string) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(local+":0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(remote)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, name string) {
	t.Helper()
	pkt, err := query(name, dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
}

// receive reads one reply, or nil when none comes within wait.
func receive(t *testing.T, c *net.UDPConn, wait time.Duration) *dns.Msg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientID(t *testing.T) {
	same := [][2]string{
		{"192.0.2.1", "::ffff:192.0.2.1"},
		{"2001:db8::1", "2001:db8::ffff:1"}, // one /64: one client
	}
	for _, p := range same {
		if a, b := clientID(netip.MustParseAddr(p[0])), clientID(netip.MustParseAddr(p[1])); a != b {
			t.Errorf("%s and %s are different clients (%s, %s)", p[0], p[1], a, b)
		}
	}
	differ := [][2]string{{"192.0.2.1", "192.0.2.2"}, {"2001:db8::1", "2001:db8:0:1::1"}}
	for _, p := range differ {
		if clientID(netip.MustParseAddr(p[0])) == clientID(netip.MustParseAddr(p[1])) {
			t.Errorf("%s and %s are one client", p[0], p[1])
		}
	}
}
