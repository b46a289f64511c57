package auth_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnssec"
	"netsim/dns/dnstest"
	"netsim/zones"
)

// signedDemo returns a set per demo zone (each served alone, as the
// demo's listeners do), signed, and the keys.
func signedDemo(t *testing.T, nsec3 ...dnssec.NSEC3Params) (map[string]*auth.Set, map[string]*dnssec.Keys) {
	t.Helper()
	opt := dnssec.DefaultSignerOptions()
	if len(nsec3) > 0 {
		opt.NSEC3 = &nsec3[0]
	}
	sg := dnstest.SignWith(t, dnstest.Embedded(t), opt)
	sets := map[string]*auth.Set{}
	for origin, z := range sg.Zones {
		sets[origin] = auth.NewSet([]*zones.Zone{z}).WithSigners(sg.Signers)
	}
	return sets, sg.Keys
}

func ask(set *auth.Set, name string, qtype uint16) *dns.Msg {
	q := dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	resp := new(dns.Msg)
	resp.Question = []dns.Question{q}
	qname := strings.ToLower(name)
	set.Answer(resp, q, qname, set.Find(qname))
	set.Sign(resp, q)
	return resp
}

// verifySections checks every RRset of the answer and authority sections
// that the zone signs has a signature that verifies with the zone's keys.
func verifySections(t *testing.T, resp *dns.Msg, zone string, ks *dnssec.Keys) dnssec.Denial {
	t.Helper()
	keys := ks.Public()
	for _, sec := range [][]dns.RR{resp.Answer, resp.Ns} {
		seen := map[string]bool{}
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeRRSIG {
				continue
			}
			if h.Rrtype == dns.TypeNS && !strings.EqualFold(h.Name, zone) {
				continue // a delegation: not signed by the parent
			}
			k := strings.ToLower(h.Name) + dns.TypeToString[h.Rrtype]
			if seen[k] {
				continue
			}
			seen[k] = true
			set := dnssec.RRset(sec, h.Name, h.Rrtype)
			if _, err := dnssec.VerifyRRset(set, dnssec.Sigs(sec, h.Name, h.Rrtype), keys, zone, time.Now()); err != nil {
				t.Errorf("%s %s: %v", h.Name, dns.TypeToString[h.Rrtype], err)
			}
		}
	}
	return dnssec.DenialOf(resp.Ns)
}

func TestSignedAnswers(t *testing.T) {
	t.Run("nsec", func(t *testing.T) { testSignedAnswers(t) })
	t.Run("nsec3", func(t *testing.T) { testSignedAnswers(t, dnssec.NSEC3Params{}) })
	t.Run("nsec3 salted", func(t *testing.T) { testSignedAnswers(t, dnssec.NSEC3Params{Iterations: 3, Salt: "AB12"}) })
}

func testSignedAnswers(t *testing.T, nsec3 ...dnssec.NSEC3Params) {
	sets, keys := signedDemo(t, nsec3...)
	ex := sets["example.test."]
	for _, tc := range []struct {
		name  string
		set   *auth.Set
		zone  string
		qname string
		qtype uint16
		check func(t *testing.T, resp *dns.Msg, d dnssec.Denial)
	}{
		{"positive", ex, "example.test.", "www.example.test.", dns.TypeA, func(t *testing.T, resp *dns.Msg, d dnssec.Denial) {
			if len(dnssec.Sigs(resp.Answer, "www.example.test.", dns.TypeA)) != 1 {
				t.Errorf("want one RRSIG (the ZSK's) over www A: %v", resp.Answer)
			}
		}},
		{"question case kept", ex, "example.test.", "WWW.example.TEST.", dns.TypeA, nil},
		{"DNSKEY signed by the KSK", ex, "example.test.", "example.test.", dns.TypeDNSKEY, func(t *testing.T, resp *dns.Msg, _ dnssec.Denial) {
			var ds []*dns.DS
			for _, rr := range keys["example.test."].DS(0) {
				ds = append(ds, rr.(*dns.DS))
			}
			if _, _, err := dnssec.VerifyKeys("example.test.", dnssec.RRset(resp.Answer, "example.test.", dns.TypeDNSKEY), dnssec.Sigs(resp.Answer, "example.test.", dns.TypeDNSKEY), ds, time.Now()); err != nil {
				t.Error(err)
			}
		}},
		{"CNAME chain", ex, "example.test.", "alias.example.test.", dns.TypeA, func(t *testing.T, resp *dns.Msg, _ dnssec.Denial) {
			if len(dnssec.Sigs(resp.Answer, "alias.example.test.", dns.TypeCNAME)) != 1 {
				t.Errorf("the CNAME is not signed: %v", resp.Answer)
			}
		}},
		{"NXDOMAIN", ex, "example.test.", "nope.example.test.", dns.TypeA, func(t *testing.T, resp *dns.Msg, d dnssec.Denial) {
			if resp.Rcode != dns.RcodeNameError {
				t.Errorf("rcode %s, want NXDOMAIN (white lies keep it)", dns.RcodeToString[resp.Rcode])
			}
			if err := d.NXDomain("nope.example.test."); err != nil {
				t.Error(err)
			}
		}},
		{"NXDOMAIN deep", ex, "example.test.", "a.b.c.example.test.", dns.TypeA, func(t *testing.T, _ *dns.Msg, d dnssec.Denial) {
			if err := d.NXDomain("a.b.c.example.test."); err != nil {
				t.Error(err)
			}
		}},
		{"NXDOMAIN below an empty non-terminal", ex, "example.test.", "a.lab.example.test.", dns.TypeA, func(t *testing.T, _ *dns.Msg, d dnssec.Denial) {
			if err := d.NXDomain("a.lab.example.test."); err != nil {
				t.Error(err)
			}
		}},
		{"NODATA", ex, "example.test.", "www.example.test.", dns.TypeMX, func(t *testing.T, _ *dns.Msg, d dnssec.Denial) {
			if err := d.NoData("www.example.test.", dns.TypeMX); err != nil {
				t.Error(err)
			}
		}},
		{"NODATA at an empty non-terminal", ex, "example.test.", "lab.example.test.", dns.TypeA, func(t *testing.T, _ *dns.Msg, d dnssec.Denial) {
			if err := d.NoData("lab.example.test.", dns.TypeA); err != nil {
				t.Error(err)
			}
		}},
		{"wildcard answer", ex, "example.test.", "foo.apps.example.test.", dns.TypeA, func(t *testing.T, resp *dns.Msg, d dnssec.Denial) {
			sig := dnssec.Sigs(resp.Answer, "foo.apps.example.test.", dns.TypeA)
			if len(sig) != 1 || sig[0].Labels != 3 {
				t.Fatalf("want an RRSIG with labels 3 (the wildcard's): %v", sig)
			}
			if err := d.Wildcard("foo.apps.example.test.", sig[0].Labels); err != nil {
				t.Error(err)
			}
		}},
		{"wildcard NODATA", ex, "example.test.", "foo.apps.example.test.", dns.TypeMX, func(t *testing.T, _ *dns.Msg, d dnssec.Denial) {
			if err := d.NoData("foo.apps.example.test.", dns.TypeMX); err != nil {
				t.Error(err)
			}
		}},
		{"secure referral carries the DS", sets["test."], "test.", "www.example.test.", dns.TypeA, func(t *testing.T, resp *dns.Msg, _ dnssec.Denial) {
			if len(dnssec.RRset(resp.Ns, "example.test.", dns.TypeDS)) != 1 || len(dnssec.Sigs(resp.Ns, "example.test.", dns.TypeDS)) != 1 {
				t.Errorf("want the DS and its RRSIG in the referral: %v", resp.Ns)
			}
		}},
		{"DS asked of the parent", sets["test."], "test.", "example.test.", dns.TypeDS, func(t *testing.T, resp *dns.Msg, _ dnssec.Denial) {
			if len(dnssec.RRset(resp.Answer, "example.test.", dns.TypeDS)) != 1 {
				t.Errorf("no DS in the answer: %v", resp.Answer)
			}
		}},
		{"NXDOMAIN at the root", sets["."], ".", "www.example.org.", dns.TypeA, func(t *testing.T, _ *dns.Msg, d dnssec.Denial) {
			if err := d.NXDomain("www.example.org."); err != nil {
				t.Error(err)
			}
		}},
		{"root referral to test.", sets["."], ".", "www.example.test.", dns.TypeA, func(t *testing.T, resp *dns.Msg, _ dnssec.Denial) {
			if len(dnssec.RRset(resp.Ns, "test.", dns.TypeDS)) != 1 {
				t.Errorf("the root holds no DS of test.: %v", resp.Ns)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := ask(tc.set, tc.qname, tc.qtype)
			d := verifySections(t, resp, tc.zone, keys[tc.zone])
			if len(nsec3) > 0 && len(d.NSEC) > 0 {
				t.Errorf("an NSEC3 zone answers with NSEC: %v", d.NSEC)
			}
			if tc.check != nil {
				tc.check(t, resp, d)
			}
		})
	}
}

func TestInsecureDelegationProvesNoDS(t *testing.T) {
	for _, p := range []*dnssec.NSEC3Params{nil, {}} {
		t.Run(fmt.Sprintf("nsec3 %v", p != nil), func(t *testing.T) {
			opt := dnssec.DefaultSignerOptions()
			opt.NSEC3 = p
			// sub.example.test. is not signed: no DS is placed, the referral proves it
			sg := dnstest.SignWith(t, dnstest.Embedded(t), opt, "sub.example.test.")
			set := auth.NewSet([]*zones.Zone{sg.Zones["example.test."]}).WithSigners(sg.Signers)
			resp := ask(set, "www.sub.example.test.", dns.TypeA)
			d := verifySections(t, resp, "example.test.", sg.Keys["example.test."])
			if err := d.NoDS("sub.example.test."); err != nil {
				t.Fatalf("%v in %v", err, resp.Ns)
			}
			if len(dnssec.RRset(resp.Ns, "sub.example.test.", dns.TypeDS)) != 0 {
				t.Fatalf("a DS for an unsigned child")
			}
			// and a DS query at the cut: NODATA proved the same way
			resp = ask(set, "sub.example.test.", dns.TypeDS)
			if err := verifySections(t, resp, "example.test.", sg.Keys["example.test."]).NoData("sub.example.test.", dns.TypeDS); err != nil {
				t.Fatalf("%v in %v", err, resp.Ns)
			}
		})
	}
}

func TestUnsignedQueryGetsNoDNSSEC(t *testing.T) {
	sets, _ := signedDemo(t)
	ex := sets["example.test."]
	q := dns.Question{Name: "nope.example.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	resp := new(dns.Msg)
	ex.Answer(resp, q, q.Name, ex.Find(q.Name))
	for _, rr := range append(resp.Answer, resp.Ns...) {
		if t2 := rr.Header().Rrtype; t2 == dns.TypeRRSIG || t2 == dns.TypeNSEC {
			t.Fatalf("an answer without Sign carries %s", rr)
		}
	}
}
