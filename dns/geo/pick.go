package geo

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/rrset"
)

// The records of members, and weighted draws of them for an answer.

func makeRR(owner string, ttl uint32, a netip.Addr) dns.RR {
	if a.Is4() {
		b := a.As4()
		return &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IP(b[:])}
	}
	b := a.As16()
	return &dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.IP(b[:])}
}

func famOf(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// pick draws k members by weight without replacement. For k == 1 (the
// default) it returns the member's shared one-record slice.
func (e *Engine) pick(ms []*member, total uint64, k int) []dns.RR {
	if len(ms) == 1 {
		return ms[0].one
	}
	if k == 1 {
		return pickOne(ms, e.rand(total)).one
	}
	k = min(k, len(ms))
	if k == len(ms) && equalWeights(ms) {
		// every member goes out: rotate the order instead of drawing it
		out := make([]dns.RR, k)
		for i := range out {
			out[i] = ms[i].rr
		}
		rrset.Rotate(out, e.rot.Add(1)-1)
		return out
	}
	out := make([]dns.RR, 0, k)
	var usedSmall [16]bool
	var used []bool
	if len(ms) <= len(usedSmall) {
		used = usedSmall[:len(ms)]
	} else {
		used = make([]bool, len(ms))
	}
	left := total
	for len(out) < k {
		r := e.rand(left)
		for i, m := range ms {
			if used[i] {
				continue
			}
			if r < m.weight {
				used[i] = true
				left -= m.weight
				out = append(out, m.rr)
				break
			}
			r -= m.weight
		}
	}
	return out
}

func equalWeights(ms []*member) bool {
	for _, m := range ms[1:] {
		if m.weight != ms[0].weight {
			return false
		}
	}
	return true
}

// pickOne returns the member whose cumulative weight range holds r.
func pickOne(ms []*member, r uint64) *member {
	for _, m := range ms {
		if r < m.weight {
			return m
		}
		r -= m.weight
	}
	return ms[len(ms)-1]
}
