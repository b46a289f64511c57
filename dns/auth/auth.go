// Package auth builds authoritative answers from loaded zones (RFC 1034
// §4.3.2, RFC 2308, RFC 4592, RFC 6604, RFC 8482): AA answers, CNAME chasing
// inside the served zones, referrals at zone cuts, NXDOMAIN/NODATA with the
// SOA, wildcards, additional addresses for MX/NS/SRV targets, and
// round-robin order of RRsets.
package auth

import (
	"sort"
	"strings"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/dns/rrset"
	"netsim/zones"
)

// Set is the immutable group of zones one listener is authoritative for.
// A reload builds a new Set and swaps it in.
type Set struct {
	zones  []*zones.Zone // most labels first, so the closest zone wins
	byName map[string]*zones.Zone
	// signers sign the zones that have one, for queries with DO (sign.go)
	signers map[string]*dnssec.Signer
}

// NewSet groups zones.
func NewSet(zs []*zones.Zone) *Set {
	s := &Set{zones: append([]*zones.Zone(nil), zs...), byName: map[string]*zones.Zone{}}
	sort.SliceStable(s.zones, func(i, j int) bool {
		return dns.CountLabel(s.zones[i].Origin) > dns.CountLabel(s.zones[j].Origin)
	})
	for _, z := range s.zones {
		s.byName[z.Origin] = z
	}
	return s
}

// Zones lists the zones, closest first.
func (s *Set) Zones() []*zones.Zone {
	if s == nil {
		return nil
	}
	return s.zones
}

// Find returns the closest enclosing zone for a lower-case name, or nil.
func (s *Set) Find(name string) *zones.Zone {
	if s == nil || len(s.zones) == 0 {
		return nil
	}
	// walk the name's suffixes from the longest; a map hit is the closest zone
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z := s.byName[name[off:]]; z != nil {
			return z
		}
	}
	return s.byName["."]
}

// maxChase bounds CNAME chasing inside our own zones.
const maxChase = 8

// Answer fills resp (already SetReply'd to the query) for question q, whose
// name is lower-cased in qname, from zone z (which contains qname). It sets
// Rcode, AA and the three sections. Each RRset leads with its next record
// (round robin by the RRset's own counter).
func (s *Set) Answer(resp *dns.Msg, q dns.Question, qname string, z *zones.Zone) {
	s.answer(resp, q, qname, z, (*zones.RRset).Rotated)
}

// Variant fills resp as Answer does, but with every RRset it rotates
// turned by v (mod the set's size) instead of by the set's counter, so
// that the answer is a function of v alone: the server packs each variant
// once and hands them out in turn. It returns how many distinct variants
// there are, the least common multiple of the rotated sets' sizes (1 when
// none has more than one record).
func (s *Set) Variant(resp *dns.Msg, q dns.Question, qname string, z *zones.Zone, v uint32) (variants int) {
	variants = 1
	s.answer(resp, q, qname, z, func(set *zones.RRset) []dns.RR {
		rrs := append(make([]dns.RR, 0, len(set.RRs)), set.RRs...)
		rrset.Rotate(rrs, v)
		variants = lcm(variants, len(rrs))
		return rrs
	})
	return variants
}

func lcm(a, b int) int {
	if b <= 1 {
		return a
	}
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// answer is Answer with the rotation of each RRset given: rotated returns
// a fresh slice of the set's records in the order to send.
func (s *Set) answer(resp *dns.Msg, q dns.Question, qname string, z *zones.Zone, rotated func(*zones.RRset) []dns.RR) {
	resp.Authoritative = true
	resp.Rcode = dns.RcodeSuccess
	owner := q.Name // the first owner keeps the question's case
	visited := map[string]bool{}
	var additional []dns.RR
	for hop := 0; ; hop++ {
		visited[qname] = true
		var res zones.Result
		if q.Qtype == dns.TypeANY {
			res = anyLookup(z, qname)
		} else {
			res = z.Lookup(qname, q.Qtype)
		}
		switch res.Kind {
		case zones.Success:
			rrs := rotated(res.Set)
			renameIfNeeded(rrs, owner, res.Node.Name, res.Wildcard)
			resp.Answer = append(resp.Answer, rrs...)
			additional = s.addAdditional(additional, rrs)
			resp.Extra = append(resp.Extra, dedupe(additional, resp.Answer)...)
			return
		case zones.CNAME:
			rrs := rotated(res.Set)
			renameIfNeeded(rrs, owner, res.Node.Name, res.Wildcard)
			resp.Answer = append(resp.Answer, rrs...)
			target := strings.ToLower(rrs[0].(*dns.CNAME).Target)
			if visited[target] || hop+1 >= maxChase {
				return // a loop or a long chain: the client follows the rest
			}
			nz := s.Find(target)
			if nz == nil || nz.Down != "" {
				return // out of our zones (or a secondary's out of service): stop at the CNAME (RFC 1034 §4.3.2 3a)
			}
			z, qname, owner = nz, target, rrs[0].(*dns.CNAME).Target
		case zones.NoData:
			resp.Ns = append(resp.Ns, z.NegSOA)
			return
		case zones.NXDomain:
			resp.Rcode = dns.RcodeNameError // RFC 6604: also after a CNAME
			resp.Ns = append(resp.Ns, z.NegSOA)
			return
		case zones.Delegation:
			if hop == 0 {
				resp.Authoritative = false
			}
			resp.Ns = append(resp.Ns, rotated(res.Set)...)
			for _, rr := range res.Set.RRs {
				resp.Extra = append(resp.Extra, z.Glue(rr.(*dns.NS).Ns)...)
			}
			return
		}
	}
}

// anyLookup answers ANY minimally (RFC 8482 §4.1): one RRset of the name,
// a CNAME if there is one, else the lowest type present.
func anyLookup(z *zones.Zone, qname string) zones.Result {
	res := z.Lookup(qname, dns.TypeCNAME)
	if res.Kind != zones.NoData {
		if res.Kind == zones.Success {
			res.Kind = zones.CNAME
			if len(res.Node.RRsets) == 1 { // only the CNAME: it is the answer
				res.Kind = zones.Success
			}
		}
		return res
	}
	types := res.Node.Types()
	if len(types) == 0 {
		return res
	}
	return zones.Result{Kind: zones.Success, Set: res.Node.RRsets[types[0]], Node: res.Node, Wildcard: res.Wildcard}
}

// renameIfNeeded rewrites owner names of a fresh slice (copying the records,
// which are shared) when the answer comes from a wildcard or when the
// question's case differs from the zone's.
func renameIfNeeded(rrs []dns.RR, owner, stored string, wildcard bool) {
	if !wildcard && owner == stored {
		return
	}
	if !wildcard && !strings.EqualFold(owner, stored) {
		return
	}
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = owner
		rrs[i] = c
	}
}

// addAdditional appends A/AAAA records for the targets of MX, NS and SRV
// records that live in our zones (and are not below a cut unless glue).
func (s *Set) addAdditional(extra []dns.RR, rrs []dns.RR) []dns.RR {
	for _, rr := range rrs {
		target, ok := zones.Target(rr)
		if !ok {
			continue
		}
		t := strings.ToLower(target)
		z := s.Find(t)
		if z == nil {
			continue
		}
		if _, isNS := rr.(*dns.NS); !isNS && z.Occluded(t) {
			continue
		}
		extra = append(extra, z.Glue(t)...)
	}
	return extra
}

// dedupe drops additional records already in the answer section.
func dedupe(extra, answer []dns.RR) []dns.RR {
	if len(extra) == 0 {
		return nil
	}
	out := extra[:0]
	for _, e := range extra {
		dup := false
		for _, a := range answer {
			if a == e {
				dup = true
				break
			}
		}
		for _, o := range out {
			if o == e {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}
