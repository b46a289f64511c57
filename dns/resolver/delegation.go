package resolver

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"netsim/dns/cache"
)

// Zone cuts: the closest known delegation, delegations learnt from
// referrals, and what a server's reply means for the walk.

// delegation is where to ask about a name: the closest known zone cut.
type delegation struct {
	zone    string
	forward bool                        // forwarders: RD=1, answers accepted as given
	fixed   []netip.AddrPort            // stub, forward or root hint addresses
	ns      []string                    // NS names (from a referral)
	glue    map[string][]netip.AddrPort // NS name → addresses from glue
	source  string                      // "config", "cache", "referral"
}

func (d *delegation) addrs() []netip.AddrPort {
	out := append([]netip.AddrPort(nil), d.fixed...)
	for _, n := range d.ns {
		out = append(out, d.glue[n]...)
	}
	return out
}

// closest picks the most specific of the configured zones (stubs, forward
// zones, root hints or global forwarders) and the delegations cached for
// qname's ancestors.
func (r *Resolver) closest(st *state, qname string) *delegation {
	var cfg zoneServers
	for _, z := range r.comp.zones { // most specific first; "." always present
		if isSub(qname, z.zone) {
			cfg = z
			break
		}
	}
	if !st.noCache && !cfg.forward {
		for z := qname; dns.CountLabel(z) > dns.CountLabel(cfg.zone); z = parent(z) {
			h, ok := r.cache.Get(cache.Key{Name: z, Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation})
			if !ok || h.Stale {
				continue
			}
			d := r.delegationFrom(z, h.Msg.Ns, h.Msg.Extra)
			if d != nil && len(d.ns) > 0 {
				d.source = "cache"
				st.note("cache: delegation %s", z)
				return d
			}
		}
	}
	return &delegation{zone: cfg.zone, forward: cfg.forward, fixed: cfg.addrs, source: "config"}
}

// delegationFrom builds a delegation to child from the NS records and glue
// of the delegating parent's referral. Glue is only taken for name servers
// at or below child (in-bailiwick: the only ones that need it, and whose
// addresses the parent holds as delegation data). An address for any other
// name server — a sibling such as ns.other.test. handed out with a
// referral for evil.test. — is not the parent's to give, so that name is
// looked up from its own zone instead.
func (r *Resolver) delegationFrom(child string, ns, extra []dns.RR) *delegation {
	d := &delegation{zone: child, glue: map[string][]netip.AddrPort{}}
	seen := map[string]bool{}
	for _, rr := range ns {
		n, ok := rr.(*dns.NS)
		if !ok || !strings.EqualFold(n.Hdr.Name, child) {
			continue
		}
		t := strings.ToLower(dns.Fqdn(n.Ns))
		if !seen[t] {
			seen[t] = true
			d.ns = append(d.ns, t)
		}
	}
	for _, rr := range extra {
		owner := strings.ToLower(rr.Header().Name)
		if !seen[owner] || !isSub(owner, child) {
			continue
		}
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA)
		default:
			continue
		}
		if a.IsValid() {
			d.glue[owner] = append(d.glue[owner], netip.AddrPortFrom(a.Unmap(), uint16(r.cfg.Port)))
		}
	}
	return d
}

// verdict classifies one reply while iterating.
type verdict int

const (
	vAnswer   verdict = iota // data, CNAME, NXDOMAIN or NODATA from the zone's server
	vReferral                // a cut below the current zone toward qname
	vLame                    // not authoritative, or a referral sideways
	vLoop                    // a referral back to the zone asked or above it: lame too
	vFail                    // SERVFAIL, REFUSED, NOTIMP, FORMERR
)

func classify(d *delegation, qname string, m *dns.Msg) (verdict, string) {
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return vFail, dns.RcodeToString[m.Rcode]
	}
	if d.forward {
		return vAnswer, ""
	}
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 {
		var cut string
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNS {
				cut = strings.ToLower(rr.Header().Name)
				break
			}
		}
		if cut != "" && !m.Authoritative {
			if isSub(cut, d.zone) && cut != d.zone && isSub(qname, cut) {
				return vReferral, cut
			}
			if isSub(d.zone, cut) {
				return vLoop, "referral to " + cut + " does not lead below " + d.zone
			}
			return vLame, "referral to " + cut + " does not lead below " + d.zone
		}
	}
	if !m.Authoritative {
		return vLame, "answer without the AA flag"
	}
	return vAnswer, ""
}

func hasCNAME(rrs []dns.RR, owner string) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeCNAME && strings.EqualFold(rr.Header().Name, owner) {
			return true
		}
	}
	return false
}

func nsRecords(rrs []dns.RR, owner string) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeNS && strings.EqualFold(rr.Header().Name, owner) {
			out = append(out, rr)
		}
	}
	return out
}

// inBailiwick keeps what the zone's server may speak for: answer records
// at or below its zone (all of them from forwarders) and an SOA for a
// negative answer; the additional section is dropped. Of the answer, only
// the records that answer qname (directly or along its CNAME chain) are
// kept, as Unbound scrubs: anything else rides along with the answer and
// would be served with it.
func (r *Resolver) inBailiwick(d *delegation, qname string, m *dns.Msg) *dns.Msg {
	out := &dns.Msg{}
	out.Rcode = m.Rcode
	out.Authoritative = m.Authoritative
	for _, rr := range m.Answer {
		if rr.Header().Class != dns.ClassINET {
			continue
		}
		if d.forward || isSub(strings.ToLower(rr.Header().Name), d.zone) {
			out.Answer = append(out.Answer, rr)
		}
	}
	if chain, _, _, err := followChain(out.Answer, qname, qtypeOf(m)); err == nil {
		if r.val != nil {
			chain = append(chain, sigsFor(out.Answer, chain)...)
		}
		out.Answer = chain
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			owner := strings.ToLower(soa.Hdr.Name)
			if d.forward || isSub(owner, d.zone) {
				out.Ns = append(out.Ns, rr)
				break
			}
		}
	}
	if r.val != nil {
		// the proofs of a negative or wildcard answer: NSEC records and the
		// signatures of those and of the SOA, from this zone
		var keep []dns.RR
		for _, rr := range m.Ns {
			if t := rr.Header().Rrtype; (t == dns.TypeNSEC || t == dns.TypeNSEC3) && isSub(strings.ToLower(rr.Header().Name), d.zone) {
				keep = append(keep, rr)
			}
		}
		out.Ns = append(out.Ns, keep...)
		out.Ns = append(out.Ns, sigsFor(m.Ns, out.Ns)...)
	}
	return out
}

// qtypeOf is the type asked in m (ANY when m has no question: then
// nothing is scrubbed by type).
func qtypeOf(m *dns.Msg) uint16 {
	if len(m.Question) == 0 {
		return dns.TypeANY
	}
	return m.Question[0].Qtype
}
