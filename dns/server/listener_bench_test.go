package server_test

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"netsim/dns/dnstest"
	"netsim/dns/server"
)

// BenchmarkListenerUDP is one query and its reply over loopback UDP through
// the listener's read loop, in a flat world (none set): what the world's
// wiring must not slow down or make allocate.
func BenchmarkListenerUDP(b *testing.B) {
	h := embeddedHandler(b)
	l, err := server.Listen("127.0.0.1:0", h, server.Limits{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	dnstest.Serve(b, l)
	c, err := net.Dial("udp", l.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	pkt, _ := m.Pack()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(pkt); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
