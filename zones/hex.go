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
	switch r := rr.(type) {
	case *dns.DS:
		r.Digest = strings.ToUpper(r.Digest)
	case *dns.CDS:
		r.Digest = strings.ToUpper(r.Digest)
	case *dns.DLV:
		r.Digest = strings.ToUpper(r.Digest)
	case *dns.TA:
		r.Digest = strings.ToUpper(r.Digest)
	case *dns.SSHFP:
		r.FingerPrint = strings.ToUpper(r.FingerPrint)
	case *dns.TLSA:
		r.Certificate = strings.ToUpper(r.Certificate)
	case *dns.SMIMEA:
		r.Certificate = strings.ToUpper(r.Certificate)
	case *dns.ZONEMD:
		r.Digest = strings.ToUpper(r.Digest)
	case *dns.NSEC3:
		r.Salt = strings.ToUpper(r.Salt)
	case *dns.NSEC3PARAM:
		r.Salt = strings.ToUpper(r.Salt)
	case *dns.HIP:
		r.Hit = strings.ToUpper(r.Hit)
	}
}
