package auth

import (
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/zones"
)

// WithSigners makes s sign the zones that have a signer (by origin) when
// a query asks for DNSSEC records; it returns s, and is called before s
// serves.
func (s *Set) WithSigners(signers map[string]*dnssec.Signer) *Set {
	s.signers = signers
	return s
}

// Signed reports whether any zone of s is signed.
func (s *Set) Signed() bool { return s != nil && len(s.signers) > 0 }

// Signer returns the signer of the zone with origin, or nil.
func (s *Set) Signer(origin string) *dnssec.Signer {
	if s == nil {
		return nil
	}
	return s.signers[origin]
}

// Sign adds the DNSSEC records to a reply that this set (or GeoDNS, for
// names in its zones) filled for question q from a client that set DO
// (RFC 4035 §3.1): an RRSIG after every authoritative RRset of the
// answer and authority sections, the DS records of a signed delegation
// (or the NSEC proving there are none), and minimally covering NSEC
// records for NXDOMAIN, NODATA and wildcard answers. It returns the time
// after which the reply should be signed again (zero: nothing signed).
func (s *Set) Sign(resp *dns.Msg, q dns.Question) (until time.Time) {
	if !s.Signed() {
		return time.Time{}
	}
	sg := &signing{set: s}
	sg.sigTypes(resp, q) // a question for RRSIG or NSEC itself (sigtypes.go)
	resp.Answer = sg.sections(resp.Answer, true)
	var proofs []dns.RR
	last := strings.ToLower(q.Name)
	for _, rr := range resp.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			last = strings.ToLower(c.Target)
		}
	}
	for _, w := range sg.wildcards {
		proofs = append(proofs, sg.cover(w.zone, w.name, w.encloser)...)
	}
	switch {
	case hasType(resp.Ns, dns.TypeSOA):
		proofs = append(proofs, sg.denial(last, q.Qtype)...)
	case hasType(resp.Ns, dns.TypeNS) && !resp.Authoritative || hasType(resp.Ns, dns.TypeNS) && len(resp.Answer) > 0:
		proofs = append(proofs, sg.referral(resp.Ns)...)
	}
	resp.Ns = sg.sections(resp.Ns, false)
	resp.Ns = append(resp.Ns, sg.signAll(dedupeOwners(proofs))...)
	return sg.until
}

type wildcardUse struct {
	zone           *zones.Zone
	name, encloser string
}

// signing is one reply being signed.
type signing struct {
	set       *Set
	until     time.Time
	wildcards []wildcardUse
}

func (sg *signing) note(t time.Time) {
	if sg.until.IsZero() || t.Before(sg.until) {
		sg.until = t
	}
}

// sections signs each RRset of rrs whose zone is signed and which is
// authoritative data there (not a delegation's NS set, not glue).
func (sg *signing) sections(rrs []dns.RR, answer bool) []dns.RR {
	out := make([]dns.RR, 0, len(rrs)*2)
	for i := 0; i < len(rrs); {
		j := i + 1
		h := rrs[i].Header()
		for j < len(rrs) && rrs[j].Header().Rrtype == h.Rrtype && strings.EqualFold(rrs[j].Header().Name, h.Name) {
			j++
		}
		set := rrs[i:j]
		out = append(out, set...)
		out = append(out, sg.signSet(set, answer)...)
		i = j
	}
	return out
}

func (sg *signing) signSet(set []dns.RR, answer bool) []dns.RR {
	h := set[0].Header()
	if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeOPT {
		return nil
	}
	owner := strings.ToLower(h.Name)
	z := sg.set.Find(owner)
	sgn := sg.set.signers[zoneOrigin(z)]
	if sgn == nil {
		return nil
	}
	signOwner := ""
	if h.Rrtype == dns.TypeNS && owner != z.Origin {
		return nil // a delegation: the child's data, not signed by the parent
	}
	parentSide := h.Rrtype == dns.TypeDS || h.Rrtype == dns.TypeNSEC // at a cut, the parent's
	if !parentSide && z.Delegated(owner) || parentSide && z.Occluded(owner) {
		return nil
	}
	if answer {
		if res := z.Lookup(owner, h.Rrtype); res.Wildcard && res.Node != nil {
			signOwner = res.Node.Name
			sg.wildcards = append(sg.wildcards, wildcardUse{zone: z, name: owner, encloser: encloserOf(res.Node.Name)})
		}
	}
	sigs, until, err := sgn.Sign(set, signOwner)
	if err != nil {
		return nil
	}
	sg.note(until)
	return sigs
}

func zoneOrigin(z *zones.Zone) string {
	if z == nil {
		return ""
	}
	return z.Origin
}

// signAll signs records made for this reply (NSEC, DS), each its own set.
func (sg *signing) signAll(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, 0, len(rrs)*2)
	for i := 0; i < len(rrs); {
		j := i + 1
		for j < len(rrs) && rrs[j].Header().Rrtype == rrs[i].Header().Rrtype && rrs[j].Header().Name == rrs[i].Header().Name {
			j++
		}
		out = append(out, rrs[i:j]...)
		out = append(out, sg.signSet(rrs[i:j], false)...)
		i = j
	}
	return out
}

// denial proves a negative answer for name (the question, or the last
// CNAME target): NXDOMAIN with an NSEC covering the name and one
// covering the wildcard of its closest encloser (RFC 4035 §3.1.3.2),
// NODATA with the NSEC of the name (or of the wildcard that matched,
// and one covering the name: §3.1.3.4).
func (sg *signing) denial(name string, qtype uint16) []dns.RR {
	z := sg.set.Find(name)
	sgn := sg.set.signers[zoneOrigin(z)]
	if sgn == nil {
		return nil
	}
	res := z.Lookup(name, qtype)
	switch res.Kind {
	case zones.NXDomain:
		ce := closestEncloser(z, name)
		out := sg.encloser(z, ce) // NSEC3: the closest encloser's own (RFC 5155 §7.2.2)
		out = append(out, sg.cover(z, name, ce)...)
		return append(out, sg.coverName(z, dnssec.Wildcard(ce)))
	case zones.NoData:
		if !res.Wildcard {
			return []dns.RR{sg.match(z, res.Node)}
		}
		ce := encloserOf(res.Node.Name)
		out := sg.encloser(z, ce)
		out = append(out, sg.cover(z, name, ce)...)
		return append(out, sg.match(z, res.Node))
	}
	return nil
}

// match is the NSEC (or NSEC3) of an existing node: the types it holds.
func (sg *signing) match(z *zones.Zone, n *zones.Node) dns.RR {
	ttl := z.NegSOA.Hdr.Ttl
	if p := sg.set.signers[z.Origin].NSEC3(); p != nil {
		return p.MatchNSEC3(z.Origin, n.Name, dnssec.NSEC3Types(n), ttl)
	}
	types := n.Types()
	if n.Cut {
		types = cutTypes(n)
	}
	return dnssec.MatchNSEC(n.Name, types, ttl)
}

// coverName is the white lie that proves name absent: an NSEC around the
// name, or an NSEC3 around its hash.
func (sg *signing) coverName(z *zones.Zone, name string) dns.RR {
	if p := sg.set.signers[z.Origin].NSEC3(); p != nil {
		return p.CoverNSEC3(z.Origin, name, z.NegSOA.Hdr.Ttl)
	}
	return dnssec.CoverNSEC(name, z.NegSOA.Hdr.Ttl)
}

// encloser is, with NSEC3, the NSEC3 matching the closest encloser ce
// (a proof needs it: hashes say nothing of ancestors); nothing with NSEC,
// whose covering record names its neighbours.
func (sg *signing) encloser(z *zones.Zone, ce string) []dns.RR {
	n := z.Node(ce)
	if sg.set.signers[z.Origin].NSEC3() == nil || n == nil {
		return nil
	}
	return []dns.RR{sg.match(z, n)}
}

// cover returns the NSEC that proves name absent below its closest
// encloser ce: it covers the name one label below ce on name's way.
func (sg *signing) cover(z *zones.Zone, name, ce string) []dns.RR {
	below := name
	for dns.CountLabel(below) > dns.CountLabel(ce)+1 {
		_, off := firstLabelEnd(below)
		below = below[off:]
	}
	return []dns.RR{sg.coverName(z, below)}
}

func firstLabelEnd(name string) (string, int) {
	off, _ := dns.NextLabel(name, 0)
	return name[:off], off
}

// encloserOf is the closest encloser of a wildcard: its parent.
func encloserOf(wildcard string) string {
	if e := strings.TrimPrefix(wildcard, "*."); e != "" {
		return e
	}
	return "."
}

// closestEncloser is the deepest existing ancestor of name in z.
func closestEncloser(z *zones.Zone, name string) string {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if off > 0 && z.Node(name[off:]) != nil {
			return name[off:]
		}
		if !dns.IsSubDomain(z.Origin, name[off:]) {
			break
		}
	}
	return z.Origin
}

// cutTypes are the types a parent holds at a delegation: NS and DS.
func cutTypes(n *zones.Node) []uint16 {
	var out []uint16
	for _, t := range []uint16{dns.TypeNS, dns.TypeDS} {
		if n.RRsets[t] != nil {
			out = append(out, t)
		}
	}
	return out
}

// referral adds to a delegation the child's DS records, or the NSEC of
// the cut that proves it has none (an insecure delegation).
func (sg *signing) referral(ns []dns.RR) []dns.RR {
	for _, rr := range ns {
		if rr.Header().Rrtype != dns.TypeNS {
			continue
		}
		cut := strings.ToLower(rr.Header().Name)
		z := sg.set.Find(cut)
		if z == nil || z.Origin == cut || sg.set.signers[z.Origin] == nil {
			continue
		}
		if ds := z.RRset(cut, dns.TypeDS); len(ds) > 0 {
			return append([]dns.RR(nil), ds...)
		}
		if n := z.Node(cut); n != nil {
			return []dns.RR{sg.match(z, n)}
		}
		return nil
	}
	return nil
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

// dedupeOwners drops repeated records (two proofs may need the same
// NSEC), keeping the first of each in place.
func dedupeOwners(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if !slices.ContainsFunc(out, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
			out = append(out, rr)
		}
	}
	return out
}
