package ecs

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// A client that opts out (/0) gets an opt-out option upstream that packs:
// a message carrying it must go on the wire.
func TestOptOutUpstreamPacks(t *testing.T) {
	for _, c := range []*dns.EDNS0_SUBNET{
		{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 0, Address: net.IPv4zero.To4()},
		{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 0, Address: net.IPv6zero},
		{Code: dns.EDNS0SUBNET, Family: 0, SourceNetmask: 0},
	} {
		up, err := Policy{}.Upstream(netip.MustParseAddr("127.0.0.1"), c)
		if err != nil {
			t.Fatalf("family %d: %v", c.Family, err)
		}
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, up)
		if _, err := m.Pack(); err != nil {
			t.Fatalf("family %d: upstream option does not pack: %v", c.Family, err)
		}
		if up.SourceNetmask != 0 {
			t.Errorf("family %d: opt-out became /%d", c.Family, up.SourceNetmask)
		}
	}
}
