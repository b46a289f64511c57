package geo

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
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

// pick draws k members of ms by weight without replacement into d: the
// one member, k == 1 (the default) by weight, every member of an
// equal-weight pool turned in turn (round-robin), or k draws by weight.
func (e *Engine) pick(d *draw, ms []*member, total uint64, k int) {
	d.ms = ms
	if len(ms) == 1 {
		d.n = 1
		return
	}
	if k == 1 {
		i := pickOne(ms, e.rand(total))
		if i > 0xFF {
			d.wide = ms[i].one
			return
		}
		d.n, d.idx[0] = 1, uint8(i)
		return
	}
	k = min(k, len(ms))
	if k == len(ms) && equalWeights(ms) {
		// every member goes out: rotate the order instead of drawing it
		d.rotate, d.rot = true, (e.rot.Add(1)-1)%uint32(k)
		return
	}
	var usedSmall [16]bool
	var used []bool
	if len(ms) <= len(usedSmall) {
		used = usedSmall[:len(ms)]
	} else {
		used = make([]bool, len(ms))
	}
	var wide []dns.RR
	if len(ms) > 0x100 {
		wide = make([]dns.RR, 0, k)
	}
	left := total
	for n := 0; n < k; n++ {
		r := e.rand(left)
		for i, m := range ms {
			if used[i] {
				continue
			}
			if r < m.weight {
				used[i] = true
				left -= m.weight
				if wide != nil {
					wide = append(wide, m.rr)
				} else {
					d.idx[n] = uint8(i)
				}
				break
			}
			r -= m.weight
		}
	}
	d.wide, d.n = wide, uint8(k)
	if wide != nil {
		d.n = 0
	}
}

func equalWeights(ms []*member) bool {
	for _, m := range ms[1:] {
		if m.weight != ms[0].weight {
			return false
		}
	}
	return true
}

// pickOne returns the place of the member whose cumulative weight range
// holds r.
func pickOne(ms []*member, r uint64) int {
	for i, m := range ms {
		if r < m.weight {
			return i
		}
		r -= m.weight
	}
	return len(ms) - 1
}
