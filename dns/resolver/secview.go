package resolver

import (
	"strings"

	"github.com/miekg/dns"

	"netsim/dns/cache"
)

// What a client sees of validation (RFC 4035 §3.2, RFC 6840 §5.7-5.9):
// AD only on secure data, and only when the client asked for it (AD or DO
// set); RRSIG and NSEC records only for clients that set DO (or asked for
// those types).

// dnssecView shapes resp for the client that sent req.
func (r *Resolver) dnssecView(req, resp *dns.Msg) {
	opt := req.IsEdns0()
	do := opt != nil && opt.Do()
	resp.AuthenticatedData = resp.AuthenticatedData && r.val != nil && (do || req.AuthenticatedData)
	if do {
		return
	}
	q := req.Question[0].Qtype
	resp.Answer = cache.StripDNSSEC(resp.Answer, q)
	resp.Ns = cache.StripDNSSEC(resp.Ns, 0)
	resp.Extra = cache.StripDNSSEC(resp.Extra, 0)
}

// nsecProofs returns the NSEC and NSEC3 records of a section and their RRSIGs.
func nsecProofs(section []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		switch t := rr.(type) {
		case *dns.NSEC, *dns.NSEC3:
			out = append(out, rr)
		case *dns.RRSIG:
			if t.TypeCovered == dns.TypeNSEC || t.TypeCovered == dns.TypeNSEC3 {
				out = append(out, rr)
			}
		}
	}
	return out
}

// sigsFor returns the RRSIGs in section that cover the RRsets of recs.
func sigsFor(section, recs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range section {
		s, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		for _, x := range recs {
			if h := x.Header(); h.Rrtype == s.TypeCovered && strings.EqualFold(h.Name, s.Hdr.Name) {
				out = append(out, rr)
				break
			}
		}
	}
	return out
}
