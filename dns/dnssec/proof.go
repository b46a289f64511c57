package dnssec

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// NSEC proofs of denial (RFC 4035 §5.4). nsecs are the NSEC records of a
// reply, already verified.

// matching returns the NSEC whose owner is name.
func matching(nsecs []*dns.NSEC, name string) *dns.NSEC {
	for _, n := range nsecs {
		if strings.EqualFold(n.Hdr.Name, name) {
			return n
		}
	}
	return nil
}

// covering returns the NSEC that proves name absent.
func covering(nsecs []*dns.NSEC, name string) *dns.NSEC {
	for _, n := range nsecs {
		if Covers(n.Hdr.Name, n.NextDomain, name) {
			return n
		}
	}
	return nil
}

// closestEncloser is the longest ancestor of name that the covering NSEC
// n shows to exist: the longer of the names name shares with n's owner
// and with its next name.
func closestEncloser(n *dns.NSEC, name string) string {
	a := commonAncestor(n.Hdr.Name, name)
	b := commonAncestor(n.NextDomain, name)
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

func commonAncestor(a, b string) string {
	la, lb := dns.SplitDomainName(dns.CanonicalName(a)), dns.SplitDomainName(dns.CanonicalName(b))
	i, j := len(la)-1, len(lb)-1
	n := 0
	for i >= 0 && j >= 0 && la[i] == lb[j] {
		i, j, n = i-1, j-1, n+1
	}
	if n == 0 {
		return "."
	}
	return dns.Fqdn(strings.Join(la[len(la)-n:], "."))
}

// ProveNXDomain checks that nsecs show name does not exist, nor a
// wildcard that could have answered for it.
func ProveNXDomain(nsecs []*dns.NSEC, name string) error {
	n := covering(nsecs, name)
	if n == nil {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "NXDOMAIN for %s without an NSEC covering it", name)
	}
	ce := closestEncloser(n, name)
	if w := Wildcard(ce); covering(nsecs, w) == nil {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "NXDOMAIN for %s without an NSEC denying the wildcard %s", name, w)
	}
	return nil
}

// ProveNoData checks that nsecs show name exists without type t: its NSEC
// lacks t (and CNAME), or, for a name that exists through a wildcard,
// the name is covered and the wildcard's NSEC lacks t.
func ProveNoData(nsecs []*dns.NSEC, name string, t uint16) error {
	if n := matching(nsecs, name); n != nil {
		if hasBit(n, t) || hasBit(n, dns.TypeCNAME) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NODATA for %s %s, but its NSEC lists the type", name, dns.TypeToString[t])
		}
		if t == dns.TypeDS || !hasBit(n, dns.TypeNS) || hasBit(n, dns.TypeSOA) {
			return nil
		}
		return bogus(dns.ExtendedErrorCodeDNSBogus, "NODATA for %s %s from the parent side of a delegation", name, dns.TypeToString[t])
	}
	c := covering(nsecs, name)
	if c == nil {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "NODATA for %s %s without its NSEC", name, dns.TypeToString[t])
	}
	w := matching(nsecs, Wildcard(closestEncloser(c, name)))
	if w == nil || hasBit(w, t) || hasBit(w, dns.TypeCNAME) {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "NODATA for %s %s without the NSEC of the wildcard that matched", name, dns.TypeToString[t])
	}
	return nil
}

// ProveWildcard checks that a positive answer synthesised from a wildcard
// (its RRSIG has fewer labels than the owner) was right to be: nsecs
// show the name itself does not exist.
func ProveWildcard(nsecs []*dns.NSEC, name string) error {
	if covering(nsecs, name) == nil {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "wildcard answer for %s without an NSEC proving the name absent", name)
	}
	return nil
}

// ProveNoDS checks that a delegation to name is insecure: name's NSEC
// from the parent shows NS and no DS (RFC 4035 §5.2).
func ProveNoDS(nsecs []*dns.NSEC, name string) error {
	n := matching(nsecs, name)
	if n == nil {
		if covering(nsecs, name) != nil {
			return nil // no delegation at all: an empty non-terminal, or nothing
		}
		return bogus(dns.ExtendedErrorCodeNSECMissing, "no DS for %s and no NSEC to prove it", name)
	}
	if hasBit(n, dns.TypeDS) {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "the NSEC of %s lists DS, but none came", name)
	}
	if hasBit(n, dns.TypeSOA) && n.Hdr.Name != "." {
		return bogus(dns.ExtendedErrorCodeDNSBogus, "the NSEC of %s comes from the child zone, not the parent", name)
	}
	return nil
}

func hasBit(n *dns.NSEC, t uint16) bool { return slices.Contains(n.TypeBitMap, t) }
