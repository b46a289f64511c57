package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Questions for the DNSSEC types themselves at a signed zone's names
// (dig example.test NSEC / RRSIG / NSEC3PARAM through the resolver) are
// answered and validated: the authoritative server's NSEC lists NSEC and
// RRSIG, so a NODATA for them would be a proof that contradicts itself
// (bogus, SERVFAIL with EDE 6).
func TestValidationDNSSECTypes(t *testing.T) {
	cases := map[string][]string{
		"nsec": {
			"example.test. NSEC NOERROR answer", "example.test. RRSIG NOERROR answer", "www.example.test. NSEC NOERROR answer",
			"www.example.test. RRSIG NOERROR answer", "example.test. NSEC3PARAM NOERROR nodata", "example.test. DNSKEY NOERROR answer",
			"example.test. CDS NOERROR nodata", "example.test. CDNSKEY NOERROR nodata", "foo.apps.example.test. NSEC NOERROR answer",
			"foo.apps.example.test. RRSIG NOERROR answer", "lab.example.test. NSEC NOERROR answer", "lab.example.test. RRSIG NOERROR answer",
			"alias.example.test. NSEC NOERROR answer", "alias.example.test. RRSIG NOERROR answer", "sub.example.test. NSEC NOERROR answer",
			"nope.example.test. NSEC NXDOMAIN nodata", "test. NSEC NOERROR answer", ". RRSIG NOERROR answer",
		},
		"nsec3": {
			"example.test. NSEC3PARAM NOERROR answer", "example.test. RRSIG NOERROR answer", "example.test. NSEC NOERROR nodata",
			"example.test. NSEC3 NOERROR nodata", "www.example.test. NSEC3 NOERROR nodata", "www.example.test. RRSIG NOERROR answer",
			"example.test. DNSKEY NOERROR answer", "nope.example.test. NSEC3 NXDOMAIN nodata", "lab.example.test. RRSIG NOERROR nodata",
			"foo.apps.example.test. RRSIG NOERROR answer", "alias.example.test. RRSIG NOERROR answer", "alias.example.test. NSEC NOERROR nodata",
		},
	}
	for denial, list := range cases {
		t.Run(denial, func(t *testing.T) {
			w, anchor, _ := signedWorld(t, nil, nil)
			if denial == "nsec3" {
				w, anchor = nsec3World(t)
			}
			r := validating(t, w, anchor)
			for _, c := range list {
				f := strings.Fields(c)
				qtype, rcode := dns.StringToType[f[1]], dns.StringToRcode[f[2]]
				for _, round := range []string{"resolved", "cached"} {
					m := ask(r, f[0], qtype, true, false, false)
					// RRSIG records cannot be verified without the
					// RRsets they cover: served without ad
					wantAD := qtype != dns.TypeRRSIG || f[3] != "answer"
					if m.Rcode != rcode || m.AuthenticatedData != wantAD {
						code, text, _ := edeOf(m)
						t.Errorf("%s, %s: %s ad=%v (EDE %d %s), want %s with ad=%v", c, round, dns.RcodeToString[m.Rcode], m.AuthenticatedData, code, text, f[2], wantAD)
						continue
					}
					got := 0
					for _, rr := range m.Answer {
						if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, f[0]) {
							got++
						}
					}
					if want := f[3] == "answer"; want != (got > 0) {
						t.Errorf("%s, %s: %d %s records in the answer %v, want %s", c, round, got, f[1], m.Answer, f[3])
					}
				}
			}
		})
	}
}
