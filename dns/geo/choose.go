package geo

import (
	"math/bits"
	"net/netip"
)

// Which pool answers a client: trust in its ECS option, then the rules by
// network, country and continent.

func (e *Engine) trusted(client netip.Addr) bool {
	if len(e.trust) == 0 {
		return true
	}
	for _, p := range e.trust {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

var defaultTarget = ruleTarget{label: "default"}

// choose applies the rules for addr and returns the chosen pool with the
// network around addr for which every address would get the same pool:
// the database record's network (when the database was consulted), or the
// matching network rule, narrowed so that it does not straddle any other
// network rule. That network is the ECS scope.
func (e *Engine) choose(n *name, addr netip.Addr, x *Explanation) (ruleTarget, netip.Prefix) {
	if !addr.IsValid() { // opt-out: nobody's address
		t := defaultTarget
		t.pool = n.def
		return t, netip.Prefix{}
	}
	bitsLen := 0
	var chosen ruleTarget
	matched := false
	for i := range n.nets {
		if n.nets[i].prefix.Contains(addr) {
			chosen, matched = n.nets[i].ruleTarget, true
			bitsLen = n.nets[i].prefix.Bits()
			break
		}
	}
	if !matched {
		chosen = defaultTarget
		chosen.pool = n.def
		if n.usesDB && e.loc != nil {
			loc, found := e.loc.Locate(addr)
			x.DatabaseConsulted, x.Found, x.Location = true, found, loc
			if loc.Network.IsValid() && loc.Network.Addr().BitLen() == addr.BitLen() {
				bitsLen = loc.Network.Bits()
			} else {
				bitsLen = addr.BitLen()
			}
			if found {
				if t, ok := n.countries[loc.Country]; ok {
					chosen = t
				} else if t, ok := n.continents[loc.Continent]; ok {
					chosen = t
				}
			}
		}
	}
	// Narrow the network until no other network rule lies inside it.
	for i := range n.nets {
		q := n.nets[i].prefix
		if q.Bits() <= bitsLen || q.Addr().BitLen() != addr.BitLen() || q.Contains(addr) {
			continue
		}
		if netip.PrefixFrom(addr, bitsLen).Masked().Contains(q.Addr()) {
			bitsLen = commonBits(addr, q.Addr()) + 1
		}
	}
	return chosen, netip.PrefixFrom(addr, bitsLen).Masked()
}

// commonBits is the length of the common prefix of two addresses of the
// same family.
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	off := 0
	if a.Is4() {
		off = 96
	}
	hi := beUint64(x[:8]) ^ beUint64(y[:8])
	n := 0
	if hi != 0 {
		n = bits.LeadingZeros64(hi)
	} else {
		n = 64 + bits.LeadingZeros64(beUint64(x[8:])^beUint64(y[8:]))
	}
	return min(n, 128) - off
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}
