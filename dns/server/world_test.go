package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/internal/world"
	"netsim/internal/world/worldtest"
	"netsim/zones"
)

const oneWay = worldtest.OneWay

// worldServer serves example.test. on 127.0.61.1 in w.
func worldServer(t *testing.T, w *world.World) string {
	t.Helper()
	l := dnstest.Listen(t, "127.0.61.1:0", []*zones.Zone{dnstest.Embedded(t)["example.test."]}, nil, server.Limits{})
	l.SetWorld(w)
	return dnstest.Serve(t, l).Addr
}

// udpFromWorld is a UDP client on 127.0.60.5 (a place of worldtest.Pair)
// and a query for www.example.test. A.
func udpFromWorld(timeout time.Duration) (*dns.Client, *dns.Msg) {
	c := &dns.Client{Net: "udp", Timeout: timeout,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.60.5")}}}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	return c, m
}

// The reply to a UDP query leaves one round trip after the query came
// (timers never fire early, so the lower bound is exact; the upper one is
// internal/world's to check).
func TestWorldDelaysUDPReplies(t *testing.T) {
	addr := worldServer(t, worldtest.Pair(t, "0"))
	c, m := udpFromWorld(5 * time.Second)
	for range 3 {
		start := time.Now()
		r, _, err := c.Exchange(m, addr)
		took := time.Since(start)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("query: %v %v", r, err)
		}
		if took < 2*oneWay {
			t.Errorf("UDP reply after %v, want at least one round trip (%v)", took, 2*oneWay)
		}
	}
}

// Over TCP the first reply costs the handshake's round trip too.
func TestWorldDelaysTCPReplies(t *testing.T) {
	addr := worldServer(t, worldtest.Pair(t, "0"))
	start := time.Now()
	c := dialFrom(t, "127.0.60.5", addr)
	if err := ask(c, "www.example.test."); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 4*oneWay {
		t.Errorf("first TCP reply after %v, want at least two round trips (%v)", took, 4*oneWay)
	}
	start = time.Now()
	if err := ask(c, "www.example.test."); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*oneWay {
		t.Errorf("second TCP reply after %v, want at least one round trip (%v)", took, 2*oneWay)
	}
}

// A lossy link loses the exchange: no reply ever comes (the client times out).
func TestWorldLosesUDPExchanges(t *testing.T) {
	addr := worldServer(t, worldtest.Pair(t, "100"))
	c, m := udpFromWorld(300 * time.Millisecond)
	if r, _, err := c.Exchange(m, addr); err == nil {
		t.Fatalf("got a reply over a link losing every packet: %v", r)
	}
	// a client outside the world's places is at no distance: answered
	c.Dialer = nil
	if _, _, err := c.Exchange(m, addr); err != nil {
		t.Fatalf("a client in no place: %v", err)
	}
}
