package labs_test

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func init() {
	symptoms["bad-ds"] = bogus(dns.ExtendedErrorCodeDNSKEYMissing)
	symptoms["expired-signatures"] = bogus(dns.ExtendedErrorCodeSignatureExpired)
	symptoms["missing-dnskey"] = bogus(dns.ExtendedErrorCodeDNSKEYMissing)
	symptoms["unsigned-delegation"] = func(t *testing.T, s *stack) {
		r := s.askDNSSEC(t, false)
		if r.Rcode != dns.RcodeSuccess || r.AuthenticatedData || len(r.Answer) == 0 {
			t.Fatalf("resolver: %s ad=%v; want the answer, insecure (no ad)", dns.RcodeToString[r.Rcode], r.AuthenticatedData)
		}
	}
}

// bogus: the resolver answers www.example.test SERVFAIL with the EDE
// code, and with CD the data without ad.
func bogus(code uint16) func(t *testing.T, s *stack) {
	return func(t *testing.T, s *stack) {
		r := s.askDNSSEC(t, false)
		got, text := uint16(0), ""
		if opt := r.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if e, ok := o.(*dns.EDNS0_EDE); ok {
					got, text = e.InfoCode, e.ExtraText
				}
			}
		}
		if r.Rcode != dns.RcodeServerFailure || got != code {
			t.Fatalf("resolver: %s EDE %d %q; want SERVFAIL with EDE %d", dns.RcodeToString[r.Rcode], got, text, code)
		}
		cd := s.askDNSSEC(t, true)
		if cd.Rcode != dns.RcodeSuccess || cd.AuthenticatedData || len(cd.Answer) == 0 {
			t.Fatalf("resolver with CD: %s ad=%v; want the data without ad", dns.RcodeToString[cd.Rcode], cd.AuthenticatedData)
		}
	}
}

// askDNSSEC asks the resolver for www.example.test A with DO (and CD).
func (s *stack) askDNSSEC(t *testing.T, cd bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	m.CheckingDisabled = cd
	c := &dns.Client{Timeout: 8 * time.Second}
	r, _, err := c.Exchange(m, s.env.Resolver)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
