package dnssec

import (
	"fmt"
	"slices"
	"time"

	"github.com/miekg/dns"

	"netsim/zones"
)

// Publish returns the zones with the keys in place: each signed zone's
// DNSKEY RRset at its apex, and at every delegation to a signed zone in
// the list the DS records of that zone's key-signing keys (the parent
// "registrar" step done automatically). A zone whose records already say
// so is returned as it was (its serial is not moved); keys maps origins
// to the keys of the zones to sign.
func Publish(zs []*zones.Zone, keys map[string]*Keys, dsTTL uint32, now time.Time) ([]*zones.Zone, error) {
	out := slices.Clone(zs)
	for i, z := range out {
		ks := keys[z.Origin]
		if ks != nil {
			nz, err := replaceSet(z, z.Origin, dns.TypeDNSKEY, ks.DNSKEYs(), now)
			if err != nil {
				return nil, fmt.Errorf("zone %s: publishing its DNSKEY records: %w", z.Origin, err)
			}
			z = nz
		}
		for _, name := range z.Names() {
			n := z.Node(name)
			child := keys[name]
			if n == nil || !n.Cut || child == nil {
				continue
			}
			nz, err := replaceSet(z, name, dns.TypeDS, child.DS(dsTTL), now)
			if err != nil {
				return nil, fmt.Errorf("zone %s: placing the DS records of %s: %w", z.Origin, name, err)
			}
			z = nz
		}
		out[i] = z
	}
	return out, nil
}

// replaceSet makes name's RRset of type t hold exactly rrs, unless it does.
func replaceSet(z *zones.Zone, name string, t uint16, rrs []dns.RR, now time.Time) (*zones.Zone, error) {
	if sameSet(z.RRset(name, t), rrs) {
		return z, nil
	}
	return z.Apply(zones.Edit{Op: zones.Replace, Name: name, Type: t, RRs: rrs}, now)
}

// sameSet compares by presentation, TTL included (Keys.DS writes the
// digest in upper case, as a zone file read back has it).
func sameSet(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y dns.RR) bool { return x.String() == y.String() }) {
			return false
		}
	}
	return true
}

// PublishDenial puts the NSEC3PARAM record at the apex of each zone in
// keys when p is set (NSEC3), and takes away one left from an earlier
// NSEC3 signing when it is not.
func PublishDenial(zs []*zones.Zone, keys map[string]*Keys, p *NSEC3Params, now time.Time) ([]*zones.Zone, error) {
	out := slices.Clone(zs)
	for i, z := range out {
		if keys[z.Origin] == nil {
			continue
		}
		var want []dns.RR
		if p != nil {
			want = []dns.RR{p.PARAM(z.Origin)}
		}
		var nz *zones.Zone
		var err error
		switch {
		case len(want) > 0:
			nz, err = replaceSet(z, z.Origin, dns.TypeNSEC3PARAM, want, now)
		case len(z.RRset(z.Origin, dns.TypeNSEC3PARAM)) > 0:
			nz, err = z.Apply(zones.Edit{Op: zones.Remove, Name: z.Origin, Type: dns.TypeNSEC3PARAM}, now)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("zone %s: publishing its NSEC3PARAM record: %w", z.Origin, err)
		}
		out[i] = nz
	}
	return out, nil
}
