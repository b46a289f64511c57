package server_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/zones"
)

// cookies returns n client-cookie options (8 bytes each, all different).
func cookies(n int) []dns.EDNS0 {
	out := make([]dns.EDNS0, n)
	for i := range out {
		out[i] = &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: fmt.Sprintf("%016x", i+1)}
	}
	return out
}

// More than one COOKIE option in a query is FORMERR (RFC 7873 §5.2), the
// reply carries at most one COOKIE, and a UDP reply fits the requester's
// size whatever the query holds (RFC 6891): before, each option got its
// own server cookie, 100 of them made a 2,845-byte UDP reply and 5,000
// over TCP a SERVFAIL (issue 9, defect 5).
func TestCookieOptions(t *testing.T) {
	zs := dnstest.Embedded(t)
	h := server.NewHandler("t", auth.NewSet([]*zones.Zone{zs["example.test."]}), nil, nil)
	cases := []struct {
		name    string
		proto   server.Protocol
		edns    uint16
		cookies int
		rcode   int
	}{
		{"one cookie", server.UDP, 1232, 1, dns.RcodeSuccess},
		{"two cookies", server.UDP, 1232, 2, dns.RcodeFormatError},
		{"100 cookies, UDP 1232", server.UDP, 1232, 100, dns.RcodeFormatError},
		{"100 cookies, UDP 4096", server.UDP, 4096, 100, dns.RcodeFormatError},
		{"100 cookies, UDP 512", server.UDP, 512, 100, dns.RcodeFormatError},
		{"5,000 cookies, TCP", server.TCP, 1232, 5000, dns.RcodeFormatError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("www.example.test.", dns.TypeA)
			m.SetEdns0(c.edns, false)
			m.IsEdns0().Option = cookies(c.cookies)
			pkt, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			out := h.ServePacket(context.Background(), pkt, netip.MustParseAddr("192.0.2.1"), c.proto, nil)
			if c.proto == server.UDP {
				if limit := dnstest.UDPLimit(pkt); len(out) > limit {
					t.Errorf("a %d-byte query got a %d-byte UDP reply, over its limit %d", len(pkt), len(out), limit)
				}
			}
			r := new(dns.Msg)
			if err := r.Unpack(out); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if r.Rcode != c.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
			n := 0
			if opt := r.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if _, ok := o.(*dns.EDNS0_COOKIE); ok {
						n++
					}
				}
			}
			if want := min(c.cookies, 1); c.rcode == dns.RcodeSuccess && n != want || n > 1 {
				t.Errorf("%d COOKIE options in the reply, want %d", n, want)
			}
		})
	}
}
