package dnssec

import (
	"fmt"
	"slices"
	"time"

	"github.com/miekg/dns"

	"netsim/zones"
)

// A zone as a pre-signed zone holds it: every authoritative RRset with its
// RRSIGs, and a complete denial chain — an NSEC for every owner name in
// canonical order (RFC 4035 §2.3), or an NSEC3 for every hashed owner
// name (RFC 5155 §7.1), each signed. Online answers prove denial with
// white lies made per query (denial.go, nsec3.go); a zone transfer needs
// the real chain, so that a secondary's copy validates on its own (as
// Knot and BIND send it when they sign). The chain is built once per zone
// version and kept until its first signature needs refreshing.

// SignedZone is one zone version signed whole.
type SignedZone struct {
	Zone *zones.Zone
	// RRs: every record of the zone, owner by owner in canonical order
	// (NSEC3 records last, in hash order), each signed RRset followed by
	// its RRSIGs. The SOA is among them; the caller owns the slice, not
	// the records.
	RRs []dns.RR
	// Refresh: past it, the zone must be signed again.
	Refresh time.Time
	// Took is how long the build took (names, records, signatures).
	Took time.Duration
	// Names is how many owner names got an NSEC (or NSEC3).
	Names int
}

// SignZone returns z signed whole, from the signer's cache when z is the
// zone version signed last and no signature of it is due for refresh.
// Callers asking at once wait for one build; built says this call built
// it.
func (s *Signer) SignZone(z *zones.Zone) (sz *SignedZone, built bool, err error) {
	s.zmu.Lock()
	defer s.zmu.Unlock()
	if c := s.signed; c != nil && c.Zone == z && s.now().Before(c.Refresh) {
		return c, false, nil
	}
	start := time.Now()
	b := &zoneBuild{s: s, z: z}
	if s.opt.NSEC3 != nil {
		err = b.nsec3Chain(*s.opt.NSEC3)
	} else {
		err = b.nsecChain()
	}
	if err != nil {
		return nil, false, fmt.Errorf("signing zone %s whole: %w", z.Origin, err)
	}
	c := &SignedZone{Zone: z, RRs: b.out, Refresh: b.until, Took: time.Since(start), Names: b.names}
	s.signed = c
	return c, true, nil
}

// LastSigned is the zone version signed whole last (nil: none yet).
func (s *Signer) LastSigned() *SignedZone {
	s.zmu.Lock()
	defer s.zmu.Unlock()
	return s.signed
}

// zoneBuild is one zone being signed whole.
type zoneBuild struct {
	s     *Signer
	z     *zones.Zone
	out   []dns.RR
	until time.Time
	names int
}

// sign appends rrs and their signatures.
func (b *zoneBuild) sign(rrs []dns.RR) error {
	b.out = append(b.out, rrs...)
	sigs, until, err := b.s.Sign(rrs, "")
	if err != nil {
		return fmt.Errorf("%s %s: %w", rrs[0].Header().Name, dns.TypeToString[rrs[0].Header().Rrtype], err)
	}
	if b.until.IsZero() || until.Before(b.until) {
		b.until = until
	}
	b.out = append(b.out, sigs...)
	return nil
}

// node appends the records of one owner name: its authoritative RRsets
// signed, a delegation's NS set and glue as they are.
func (b *zoneBuild) node(n *zones.Node, occluded bool) error {
	for _, t := range n.Types() {
		rrs := n.RRsets[t].RRs
		if t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			continue // made here, not taken from the zone's data
		}
		authoritative := !occluded && (!n.Cut || t == dns.TypeDS)
		if !authoritative {
			b.out = append(b.out, rrs...)
			continue
		}
		if err := b.sign(rrs); err != nil {
			return err
		}
	}
	return nil
}

// bitmap is the types an NSEC or NSEC3 lists for a node: those it holds
// with authority (NS and DS at a delegation), plus extra.
func bitmap(n *zones.Node, extra ...uint16) []uint16 {
	var types []uint16
	if n.Cut {
		for _, t := range []uint16{dns.TypeNS, dns.TypeDS} {
			if n.RRsets[t] != nil {
				types = append(types, t)
			}
		}
	} else {
		types = n.Types()
	}
	types = slices.DeleteFunc(append(types, extra...), func(t uint16) bool { return t == dns.TypeNSEC3 })
	slices.Sort(types)
	return slices.Compact(types)
}

// nsecChain: every owner name with authoritative data or a delegation
// gets an NSEC naming the next such name (the last one the apex) and its
// types, RRSIG and NSEC included; empty non-terminals and glue get none.
func (b *zoneBuild) nsecChain() error {
	z := b.z
	names := z.Names()
	var owners []string
	for _, name := range names {
		if n := z.Node(name); !n.Empty() && !z.Occluded(name) {
			owners = append(owners, name)
		}
	}
	b.names = len(owners)
	next := map[string]string{}
	for i, o := range owners {
		next[o] = owners[(i+1)%len(owners)]
	}
	ttl := z.NegSOA.Hdr.Ttl
	for _, name := range names {
		n := z.Node(name)
		occluded := z.Occluded(name)
		if err := b.node(n, occluded); err != nil {
			return err
		}
		nx, ok := next[name]
		if !ok {
			continue
		}
		nsec := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: nx,
			TypeBitMap: bitmap(n, dns.TypeRRSIG, dns.TypeNSEC),
		}
		if err := b.sign([]dns.RR{nsec}); err != nil {
			return err
		}
	}
	return nil
}
