package auth

import (
	"strings"

	"github.com/miekg/dns"

	"netsim/zones"
)

// Questions for the DNSSEC types themselves, as BIND and Knot answer them
// for a zone they sign online. The NSEC (or NSEC3) this server makes for
// a name lists RRSIG and NSEC, so answering them with NODATA would be a
// proof that contradicts itself (a validator calls it bogus):
//   - RRSIG: the signatures of every RRset at the name (RFC 4035 §3.1.5's
//     spirit, what `dig +dnssec name RRSIG` gets from Knot), themselves
//     unsigned;
//   - NSEC (NSEC zones): the NSEC the signer makes for that owner, signed;
//     at a name a wildcard answers for, the wildcard's, synthesised as any
//     of its RRsets is (RFC 4592 §4.4);
//   - NSEC with NSEC3 denial, NSEC3 (RFC 5155 §7.2.8 and erratum 4622):
//     no such RRset at the name; the NODATA proof stays.
// Only with DO: without it the question is answered from the zone's data,
// which holds no signatures (NODATA), as Knot's online signing does.

// sigTypes rewrites the NODATA reply (or the CNAME chased: these types
// live beside a CNAME and are not chased) to a question for RRSIG or
// NSEC at an existing name of a signed zone, before the answer section
// is signed (the RRSIGs answered are not, the NSEC is); it reports
// whether it did.
func (sg *signing) sigTypes(resp *dns.Msg, q dns.Question) bool {
	if q.Qtype != dns.TypeRRSIG && q.Qtype != dns.TypeNSEC || resp.Rcode != dns.RcodeSuccess {
		return false
	}
	name := strings.ToLower(q.Name)
	z := sg.set.Find(name)
	sgn := sg.set.signers[zoneOrigin(z)]
	if sgn == nil || z.Down != "" {
		return false
	}
	res := z.Lookup(name, q.Qtype)
	if res.Node == nil || res.Kind == zones.Delegation || z.Occluded(name) {
		return false
	}
	var answer []dns.RR
	switch {
	case q.Qtype == dns.TypeNSEC && sgn.NSEC3() == nil:
		answer = renamed([]dns.RR{sg.match(z, res.Node)}, q.Name)
	case q.Qtype == dns.TypeRRSIG:
		answer = sg.sigsAt(z, res.Node, q.Name)
	}
	if len(answer) == 0 {
		return false
	}
	resp.Answer, resp.Ns, resp.Authoritative = answer, nil, true
	extra := resp.Extra[:0]
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	resp.Extra = extra
	return true
}

// sigsAt signs every RRset of node n (and its NSEC, with NSEC denial)
// under owner, the question's name: the RRSIGs alone.
func (sg *signing) sigsAt(z *zones.Zone, n *zones.Node, owner string) []dns.RR {
	var out []dns.RR
	for _, t := range n.Types() {
		out = append(out, sg.signSet(renamed(n.RRsets[t].RRs, owner), true)...)
	}
	if sg.set.signers[z.Origin].NSEC3() == nil {
		out = append(out, sg.signSet(renamed([]dns.RR{sg.match(z, n)}, owner), true)...)
	}
	return out
}

// renamed copies rrs with owner as their name.
func renamed(rrs []dns.RR, owner string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = owner
	}
	return out
}
