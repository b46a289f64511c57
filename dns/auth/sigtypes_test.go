package auth_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
)

// A DO question for RRSIG gets the signatures of every RRset at the name
// (its NSEC's too), each verifying over that RRset, none over an RRSIG;
// one for NSEC gets the NSEC the signer makes for the name, signed. The
// same question without DO is answered from the zone's data: NODATA.
func TestAnswersForDNSSECTypes(t *testing.T) {
	sets, keys := signedDemo(t)
	set := sets["example.test."]
	zoneKeys := keys["example.test."].Public()
	for _, c := range []struct {
		name  string
		types []uint16
	}{
		{"example.test.", []uint16{dns.TypeA, dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeTXT, dns.TypeDNSKEY, dns.TypeNSEC, dns.TypeCAA}},
		{"www.example.test.", []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeNSEC}},
		{"lab.example.test.", []uint16{dns.TypeNSEC}}, // an empty non-terminal: its NSEC only
	} {
		m := ask(set, c.name, dns.TypeRRSIG)
		if m.Rcode != dns.RcodeSuccess || len(m.Ns) != 0 {
			t.Errorf("%s RRSIG: %s, authority %v; want an answer", c.name, dns.RcodeToString[m.Rcode], m.Ns)
		}
		var covered []uint16
		for _, rr := range m.Answer {
			sig, ok := rr.(*dns.RRSIG)
			if !ok || !strings.EqualFold(sig.Hdr.Name, c.name) {
				t.Fatalf("%s RRSIG: %v in the answer", c.name, rr)
			}
			covered = append(covered, sig.TypeCovered)
			data := ask(set, c.name, sig.TypeCovered).Answer
			data = slices.DeleteFunc(slices.Clone(data), func(rr dns.RR) bool { return rr.Header().Rrtype != sig.TypeCovered })
			if _, err := dnssec.VerifyRRset(data, []*dns.RRSIG{sig}, zoneKeys, "example.test.", time.Now()); err != nil {
				t.Errorf("%s RRSIG %s: %v over %v", c.name, dns.TypeToString[sig.TypeCovered], err, data)
			}
		}
		slices.Sort(covered)
		want := slices.Sorted(slices.Values(c.types))
		if !slices.Equal(covered, want) {
			t.Errorf("%s RRSIG covers %v, want %v", c.name, covered, want)
		}
	}
	m := ask(set, "www.example.test.", dns.TypeNSEC)
	if len(m.Answer) != 2 || m.Answer[0].Header().Rrtype != dns.TypeNSEC || m.Answer[1].(*dns.RRSIG).TypeCovered != dns.TypeNSEC {
		t.Fatalf("www NSEC: answer %v, want the NSEC and its RRSIG", m.Answer)
	}
	if bm := m.Answer[0].(*dns.NSEC).TypeBitMap; !slices.Contains(bm, dns.TypeRRSIG) || !slices.Contains(bm, dns.TypeNSEC) {
		t.Errorf("www NSEC lists %v", bm)
	}
	// without DO: no signer involved
	q := dns.Question{Name: "example.test.", Qtype: dns.TypeRRSIG, Qclass: dns.ClassINET}
	plain := new(dns.Msg)
	set.Answer(plain, q, "example.test.", set.Find("example.test."))
	if len(plain.Answer) != 0 || len(plain.Ns) != 1 {
		t.Errorf("RRSIG without DO: answer %v, authority %v; want NODATA", plain.Answer, plain.Ns)
	}
}
