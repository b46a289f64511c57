package zones

import (
	"strings"

	"github.com/miekg/dns"
)

// canonicalHex writes the hex fields of rr in upper case, in place. Hex
// is case-insensitive (RFC 4034 §5.3 for a DS digest; SSHFP, TLSA and
// the NSEC3 salt alike), and a record compares by these fields as text:
// one case is what lets a DS given in the lower case of ldns-key2ds be
// written back as miekg/dns writes it, and be found a duplicate of the
// same DS in upper case.
func canonicalHex(rr dns.RR) {
	if f := hexField(rr); f != nil {
		*f = strings.ToUpper(*f)
	}
}

// hexField is rr's hex field; nil for a type without one.
func hexField(rr dns.RR) *string {
	switch r := rr.(type) {
	case *dns.DS:
		return &r.Digest
	case *dns.CDS:
		return &r.Digest
	case *dns.DLV:
		return &r.Digest
	case *dns.TA:
		return &r.Digest
	case *dns.SSHFP:
		return &r.FingerPrint
	case *dns.TLSA:
		return &r.Certificate
	case *dns.SMIMEA:
		return &r.Certificate
	case *dns.ZONEMD:
		return &r.Digest
	case *dns.NSEC3:
		return &r.Salt
	case *dns.NSEC3PARAM:
		return &r.Salt
	case *dns.HIP:
		return &r.Hit
	}
	return nil
}
