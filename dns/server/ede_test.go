package server_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnstest"
	"netsim/dns/ede"
	"netsim/zones"
)

// edeRecursor allows 127.0.0.1 only and fails every resolution with an
// Extended DNS Error, as the resolver does.
type edeRecursor struct{}

func (edeRecursor) Allowed(c netip.Addr) bool                      { return c == netip.MustParseAddr("127.0.0.1") }
func (edeRecursor) ResolveCached(_, _ *dns.Msg, _ netip.Addr) bool { return false }
func (edeRecursor) Resolve(_ context.Context, _, resp *dns.Msg, _ netip.Addr) {
	resp.Rcode = dns.RcodeServerFailure
	ede.Set(resp, ede.NoReachableAuthority, "no server for the zone answered usefully: 192.0.2.53:53: timeout")
}

// Refusals and failures say why in an Extended DNS Error (RFC 8914), over
// UDP and TCP; a query without EDNS gets the same rcode and no OPT.
func TestExtendedErrors(t *testing.T) {
	zs := dnstest.Embedded(t)
	auth := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)
	res := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, edeRecursor{})
	for _, tc := range []struct {
		name   string
		server string
		qname  string
		qtype  uint16
		class  uint16
		rcode  int
		code   uint16
		text   string
	}{
		{"outside the zones, no recursion", auth.Addr, "www.other.test.", dns.TypeA, dns.ClassINET, dns.RcodeRefused, ede.NotAuthoritative, "is not authoritative for www.other.test."},
		{"zone transfer", auth.Addr, "example.test.", dns.TypeAXFR, dns.ClassINET, dns.RcodeRefused, ede.Prohibited, "zone transfers are not offered"},
		{"class HS", auth.Addr, "example.test.", dns.TypeA, dns.ClassHESIOD, dns.RcodeRefused, ede.NotSupported, "class IN"},
		{"the recursor's failure", res.Addr, "www.other.test.", dns.TypeA, dns.ClassINET, dns.RcodeServerFailure, ede.NoReachableAuthority, "192.0.2.53:53: timeout"},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+" "+network, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				m.Question[0].Qclass = tc.class
				m.SetEdns0(1232, false)
				r := dnstest.Exchange(t, tc.server, network, m)
				e := ede.Find(r)
				if r.Rcode != tc.rcode || e == nil || e.InfoCode != tc.code || !strings.Contains(e.ExtraText, tc.text) {
					t.Errorf("%s with EDE %v, want %s with EDE %d naming %q", dns.RcodeToString[r.Rcode], e, dns.RcodeToString[tc.rcode], tc.code, tc.text)
				}
				if n := len(r.Extra); n != 1 {
					t.Errorf("%d additional records, want the server's one OPT", n)
				}
				m.Extra = nil
				if r := dnstest.Exchange(t, tc.server, network, m); r.Rcode != tc.rcode || r.IsEdns0() != nil {
					t.Errorf("without EDNS: %s, OPT %v; want %s and no OPT", dns.RcodeToString[r.Rcode], r.IsEdns0(), dns.RcodeToString[tc.rcode])
				}
			})
		}
	}
	// a client not allowed to recurse: Prohibited, naming it
	m := new(dns.Msg)
	m.SetQuestion("www.other.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}}}
	r, _, err := c.Exchange(m, res.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if e := ede.Find(r); r.Rcode != dns.RcodeRefused || e == nil || e.InfoCode != ede.Prohibited || !strings.Contains(e.ExtraText, "127.0.0.2") {
		t.Errorf("client outside the allow list: %s with EDE %v, want REFUSED with Prohibited naming 127.0.0.2", dns.RcodeToString[r.Rcode], e)
	}
}
