package dnssec

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Denial is the proof records of a reply, NSEC or NSEC3 (RFC 5155 §8),
// already verified; its methods check one kind of denial with whichever
// the zone uses.
type Denial struct {
	NSEC  []*dns.NSEC
	NSEC3 []*dns.NSEC3
}

// DenialOf collects the NSEC and NSEC3 records of a section.
func DenialOf(section []dns.RR) Denial {
	var d Denial
	for _, rr := range section {
		switch n := rr.(type) {
		case *dns.NSEC:
			d.NSEC = append(d.NSEC, n)
		case *dns.NSEC3:
			d.NSEC3 = append(d.NSEC3, n)
		}
	}
	return d
}

func (d Denial) hashed() bool { return len(d.NSEC) == 0 && len(d.NSEC3) > 0 }

// NXDomain checks that name does not exist, nor a wildcard that could
// have answered for it.
func (d Denial) NXDomain(name string) error {
	if !d.hashed() {
		return ProveNXDomain(d.NSEC, name)
	}
	ce, err := d.closestEncloser(name)
	if err != nil {
		return err
	}
	if _, err := d.covering3(Wildcard(ce)); err != nil {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "NXDOMAIN for %s without an NSEC3 denying the wildcard %s", name, Wildcard(ce))
	}
	return nil
}

// NoData checks that name exists without type t (or that the wildcard
// that matched it lacks t).
func (d Denial) NoData(name string, t uint16) error {
	if !d.hashed() {
		return ProveNoData(d.NSEC, name, t)
	}
	what := name + " " + dns.TypeToString[t]
	if n, err := d.matching3(name); err != nil {
		return err
	} else if n != nil {
		if has3(n, t) || has3(n, dns.TypeCNAME) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NODATA for %s, but its NSEC3 lists the type", what)
		}
		if t != dns.TypeDS && has3(n, dns.TypeNS) && !has3(n, dns.TypeSOA) {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "NODATA for %s from the parent side of a delegation", what)
		}
		return nil
	}
	ce, err := d.closestEncloser(name)
	if err != nil {
		return err
	}
	if t == dns.TypeDS && d.optOut(name, ce) {
		return nil // an unsigned delegation in an opt-out span (RFC 5155 §8.6)
	}
	w, err := d.matching3(Wildcard(ce))
	if err != nil {
		return err
	}
	if w == nil || has3(w, t) || has3(w, dns.TypeCNAME) {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "NODATA for %s without the NSEC3 of its name or of the wildcard %s", what, Wildcard(ce))
	}
	return nil
}

// Wildcard checks that an answer for name synthesised from a wildcard
// (labels: the RRSIG's label count, that of the wildcard's parent) was
// right to be: the name one label below that parent on name's way does
// not exist.
func (d Denial) Wildcard(name string, labels uint8) error {
	if !d.hashed() {
		return ProveWildcard(d.NSEC, name)
	}
	if _, err := d.covering3(nextCloser(name, int(labels))); err != nil {
		return bogus(dns.ExtendedErrorCodeNSECMissing, "wildcard answer for %s without an NSEC3 proving the name absent", name)
	}
	return nil
}

// NoDS checks that a delegation to name is insecure: the parent's NSEC3
// of name shows NS and no DS, or name lies in an opt-out span.
func (d Denial) NoDS(name string) error {
	if !d.hashed() {
		return ProveNoDS(d.NSEC, name)
	}
	return d.NoData(name, dns.TypeDS)
}

// closestEncloser is RFC 5155 §8.3's proof: the deepest ancestor of name
// with a matching NSEC3 whose next closer name is covered. A match that
// is a delegation seen from the parent, or a DNAME, cannot be one.
func (d Denial) closestEncloser(name string) (string, error) {
	name = dns.CanonicalName(name)
	labels := dns.CountLabel(name)
	for l := labels - 1; l >= 0; l-- {
		ce := lastLabels(name, l)
		n, err := d.matching3(ce)
		if err != nil {
			return "", err
		}
		if n == nil {
			continue
		}
		if has3(n, dns.TypeDNAME) || has3(n, dns.TypeNS) && !has3(n, dns.TypeSOA) {
			return "", bogus(dns.ExtendedErrorCodeDNSBogus, "the closest encloser %s of %s is a delegation or a DNAME", ce, name)
		}
		if _, err := d.covering3(nextCloser(name, l)); err != nil {
			return "", bogus(dns.ExtendedErrorCodeNSECMissing, "no NSEC3 covers %s, the next closer name of %s", nextCloser(name, l), name)
		}
		return ce, nil
	}
	return "", bogus(dns.ExtendedErrorCodeNSECMissing, "no NSEC3 proves a closest encloser of %s", name)
}

// optOut: the NSEC3 covering name's next closer name below ce has the
// opt-out flag.
func (d Denial) optOut(name, ce string) bool {
	n, _ := d.covering3(nextCloser(name, dns.CountLabel(ce)))
	return n != nil && n.Flags&1 == 1
}

// matching3 returns the NSEC3 whose owner is the hash of name in a zone
// above name, or nil.
func (d Denial) matching3(name string) (*dns.NSEC3, error) {
	for _, n := range d.NSEC3 {
		h, zone, err := nsec3Parts(n, name)
		if err != nil {
			return nil, err
		}
		if zone != "" && strings.EqualFold(h, nsec3Owner(n)) {
			return n, nil
		}
	}
	return nil, nil
}

// covering3 returns the NSEC3 whose span (owner hash, next hash) holds
// the hash of name strictly, wrapping around at the end of the chain.
func (d Denial) covering3(name string) (*dns.NSEC3, error) {
	for _, n := range d.NSEC3 {
		h, zone, err := nsec3Parts(n, name)
		if err != nil {
			return nil, err
		}
		if zone == "" {
			continue
		}
		o, x := strings.ToUpper(nsec3Owner(n)), strings.ToUpper(n.NextDomain)
		if o < x && o < h && h < x || o >= x && (h > o || h < x) && h != o {
			return n, nil
		}
	}
	return nil, bogus(dns.ExtendedErrorCodeNSECMissing, "no NSEC3 covers %s", name)
}

// nsec3Parts hashes name with n's parameters; zone is n's zone, "" when
// name is not in it. Parameters a validator does not take are bogus.
func nsec3Parts(n *dns.NSEC3, name string) (hash, zone string, err error) {
	if n.Hash != dns.SHA1 {
		return "", "", bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC3 %s: hash algorithm %d, want 1 (SHA-1)", n.Hdr.Name, n.Hash)
	}
	if n.Iterations > MaxNSEC3Iterations {
		return "", "", bogus(dns.ExtendedErrorCodeUnsupportedNSEC3IterValue, "NSEC3 %s: %d iterations, more than the %d taken (RFC 9276)", n.Hdr.Name, n.Iterations, MaxNSEC3Iterations)
	}
	owner := dns.CanonicalName(n.Hdr.Name)
	_, zone = firstLabelString(owner)
	if !dns.IsSubDomain(zone, dns.CanonicalName(name)) {
		return "", "", nil
	}
	return dns.HashName(dns.CanonicalName(name), n.Hash, n.Iterations, n.Salt), zone, nil
}

func nsec3Owner(n *dns.NSEC3) string {
	l, _ := firstLabelString(n.Hdr.Name)
	return strings.ToUpper(l)
}

func firstLabelString(name string) (label, parent string) {
	i := dns.Split(name)
	if len(i) < 2 {
		return strings.TrimSuffix(name, "."), "."
	}
	return name[:i[1]-1], name[i[1]:]
}

// lastLabels is the ancestor of name with l labels.
func lastLabels(name string, l int) string {
	i := dns.Split(name)
	if l >= len(i) {
		return name
	}
	if l <= 0 {
		return "."
	}
	return name[i[len(i)-l]:]
}

// nextCloser is the ancestor of name one label longer than l labels.
func nextCloser(name string, l int) string { return lastLabels(dns.CanonicalName(name), l+1) }

func has3(n *dns.NSEC3, t uint16) bool { return slices.Contains(n.TypeBitMap, t) }
