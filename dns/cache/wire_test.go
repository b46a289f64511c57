package cache

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// sections renders a reply's three sections as text, one record a line.
func sections(m *dns.Msg) string {
	var b strings.Builder
	for i, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		b.WriteString([]string{";answer\n", ";authority\n", ";additional\n"}[i])
		for _, rr := range sec {
			b.WriteString(rr.String() + "\n")
		}
	}
	return b.String()
}

// AppendWire's packed reply is Fill's at every hit (rotation, TTLs counted
// down); the plain form is Fill's without the RRSIG, NSEC and NSEC3
// records, but those of the question's type in the answer, and a reply
// with none of them has no plain form of its own.
func TestAppendWirePlain(t *testing.T) {
	const sig = " RRSIG %s 13 3 300 20261231000000 20261101000000 12345 example.test. AAAA"
	nsec := "example.test. 300 IN NSEC www.example.test. A NS SOA RRSIG NSEC DNSKEY"
	cases := []struct {
		name   string
		k      Key
		msg    *dns.Msg
		dnssec bool
		kept   int // records of the plain form
	}{
		{"signed answer", key("www.example.test.", dns.TypeA), answer(t, dns.RcodeSuccess, []string{
			"www.example.test. 300 IN A 127.0.0.1", "www.example.test. 300 IN A 127.0.0.2", "www.example.test. 300 IN A 127.0.0.3",
			"www.example.test. 300 IN" + strings.Replace(sig, "%s", "A", 1),
		}, nil), true, 3},
		{"NXDOMAIN with proofs", key("nope.example.test.", dns.TypeA), answer(t, dns.RcodeNameError, nil, []string{
			strings.Replace(soa, "%d", "300", 1), "example.test. 300 IN" + strings.Replace(sig, "%s", "SOA", 1),
			nsec, "example.test. 300 IN" + strings.Replace(sig, "%s", "NSEC", 1),
		}), true, 1},
		{"the question's own type", key("example.test.", dns.TypeNSEC), answer(t, dns.RcodeSuccess, []string{
			nsec, "example.test. 300 IN" + strings.Replace(sig, "%s", "NSEC", 1),
		}, nil), true, 1},
		{"unsigned", key("mail.example.test.", dns.TypeMX), answer(t, dns.RcodeSuccess, []string{
			"mail.example.test. 300 IN MX 10 mx1.example.test.", "mail.example.test. 300 IN MX 20 mx2.example.test.",
		}, nil), false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newCache(t, nil)
			if _, err := c.Set(tc.k, tc.msg); err != nil {
				t.Fatal(err)
			}
			clk.Advance(3 * time.Second)
			for i := 0; i < 4; i++ {
				for _, plain := range []bool{false, true} {
					h, ok := c.Get(tc.k)
					if !ok {
						t.Fatal("miss")
					}
					b, ok := h.AppendWire([]byte{0xAA}, clk.Now(), plain)
					got := new(dns.Msg)
					if !ok || b[0] != 0xAA || got.Unpack(b[1:]) != nil {
						t.Fatalf("hit %d plain=%v: packed %v", i, plain, ok)
					}
					want := new(dns.Msg)
					h.Fill(want, clk.Now(), 0)
					if plain {
						want.Answer, want.Ns, want.Extra = StripDNSSEC(want.Answer, tc.k.Type), StripDNSSEC(want.Ns, 0), StripDNSSEC(want.Extra, 0)
					}
					if g, w := sections(got), sections(want); g != w {
						t.Fatalf("hit %d plain=%v:\npacked:\n%s\nFill:\n%s", i, plain, g, w)
					}
					if n := len(got.Answer) + len(got.Ns) + len(got.Extra); plain && n != tc.kept {
						t.Fatalf("hit %d: %d records in the plain form, want %d:\n%s", i, n, tc.kept, sections(got))
					}
					if got.Rcode != tc.msg.Rcode || got.Question[0].Name != tc.k.Name || got.AuthenticatedData {
						t.Fatalf("hit %d plain=%v: rcode %d question %v ad=%v", i, plain, got.Rcode, got.Question, got.AuthenticatedData)
					}
				}
			}
			h, _ := c.Get(tc.k)
			if own := h.e.plain.Load() != nil; own != tc.dnssec {
				t.Fatalf("a plain form of its own: %v, want %v", own, tc.dnssec)
			}
		})
	}
}
