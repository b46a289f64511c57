package resolver

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/dns/dnstest"
	"netsim/zones"
)

// nsec3World is the signed demo hierarchy with every zone proving denial
// by NSEC3 (its NSEC3PARAM published, white lies online).
func nsec3World(t *testing.T) (*world, []*dns.DS) {
	t.Helper()
	w, anchor, _ := signedWorld(t, nil, func(s *dnstest.Signed) {
		opt := dnssec.DefaultSignerOptions()
		opt.NSEC3 = &dnssec.NSEC3Params{}
		list := make([]*zones.Zone, 0, len(s.Zones))
		for origin, z := range s.Zones {
			s.Signers[origin] = dnssec.NewSigner(s.Keys[origin], opt, nil)
			list = append(list, z)
		}
		pub, err := dnssec.PublishDenial(list, s.Keys, opt.NSEC3, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range pub {
			s.Zones[z.Origin] = z
		}
	})
	return w, anchor
}

// The resolver validates NSEC3 denial (RFC 5155 §8): NXDOMAIN, NODATA,
// an empty non-terminal, wildcard answers and wildcard NODATA are
// secure; an NXDOMAIN stripped of its NSEC3 records is bogus.
func TestValidationNSEC3(t *testing.T) {
	w, anchor := nsec3World(t)
	r := validating(t, w, anchor)
	// question and the rcode it must get, with ad
	for _, c := range []string{
		"nope.example.test. A NXDOMAIN", "a.b.nope.example.test. A NXDOMAIN", "www.example.test. MX NOERROR",
		"lab.example.test. A NOERROR", "foo.apps.example.test. A NOERROR", "foo.apps.example.test. MX NOERROR",
		"www.sub.example.test. A NOERROR", "a.lab.example.test. A NXDOMAIN", "nope.test. A NXDOMAIN", "www.example.org. A NXDOMAIN",
	} {
		f := strings.Fields(c)
		qtype, rcode := dns.StringToType[f[1]], dns.StringToRcode[f[2]]
		for _, round := range []string{"resolved", "cached"} {
			m := ask(r, f[0], qtype, true, false, false)
			if m.Rcode != rcode || !m.AuthenticatedData {
				code, text, _ := edeOf(m)
				t.Errorf("%s, %s: %s ad=%v (EDE %d %s)", c, round, dns.RcodeToString[m.Rcode], m.AuthenticatedData, code, text)
			} else if rcode == dns.RcodeNameError && len(dnssec.DenialOf(m.Ns).NSEC3) == 0 {
				t.Errorf("%s, %s: no NSEC3 passed on to the client: %v", c, round, m.Ns)
			}
		}
	}
	t.Run("NXDOMAIN without its NSEC3 records is bogus", func(t *testing.T) {
		w, anchor := nsec3World(t)
		for _, a := range []string{"127.0.3.1", "127.0.3.2"} {
			f := w.servers[a]
			f.setHook(func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
				m := serveDirect(f, req)
				var keep []dns.RR
				for _, rr := range m.Ns {
					if _, ok := rr.(*dns.NSEC3); !ok {
						keep = append(keep, rr)
					}
				}
				m.Ns = keep
				return m, false
			})
		}
		m := ask(validating(t, w, anchor), "nope.example.test.", dns.TypeA, true, false, false)
		if code, _, _ := edeOf(m); m.Rcode != dns.RcodeServerFailure || code != dns.ExtendedErrorCodeNSECMissing {
			t.Fatalf("%s EDE %d, want SERVFAIL with EDE 12 (NSEC Missing)", dns.RcodeToString[m.Rcode], code)
		}
	})
}
