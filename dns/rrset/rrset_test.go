package rrset

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func records(t *testing.T, text ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range text {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

func addrs(rrs []dns.RR) string {
	var b []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			b = append(b, r.A.String())
		case *dns.CNAME:
			b = append(b, "cname")
		}
	}
	return strings.Join(b, " ")
}

func TestRotate(t *testing.T) {
	for _, c := range []struct {
		off  uint32
		want string
	}{{0, "1 2 3"}, {1, "2 3 1"}, {2, "3 1 2"}, {3, "1 2 3"}, {4, "2 3 1"}, {1<<32 - 1, "1 2 3"}} {
		rrs := records(t, "a. 60 IN A 0.0.0.1", "a. 60 IN A 0.0.0.2", "a. 60 IN A 0.0.0.3")
		Rotate(rrs, c.off)
		if got := strings.ReplaceAll(addrs(rrs), "0.0.0.", ""); got != c.want {
			t.Errorf("off %d: %s, want %s", c.off, got, c.want)
		}
	}
	Rotate(nil, 5) // no records: nothing to do
}

// RotateEach leaves a CNAME in front and rotates the addresses after it,
// each RRset on its own.
func TestRotateEach(t *testing.T) {
	rrs := records(t, "a. 60 IN CNAME b.", "b. 60 IN A 0.0.0.1", "B. 60 IN A 0.0.0.2", "b. 60 IN AAAA ::1", "c. 60 IN A 0.0.0.3")
	RotateEach(rrs, 1)
	if got := fmt.Sprint(addrs(rrs)); got != "cname 0.0.0.2 0.0.0.1 0.0.0.3" {
		t.Errorf("got %s", got)
	}
	if _, ok := rrs[3].(*dns.AAAA); !ok {
		t.Errorf("the AAAA moved: %v", rrs)
	}
}

func TestEqualCountParseType(t *testing.T) {
	a := records(t, "a.test. 60 IN A 192.0.2.1", "a.test. 60 IN CNAME b.test.", "a.test. 60 IN A 192.0.2.2")
	b := records(t, "a.test. 60 IN A 192.0.2.1", "a.test. 60 IN CNAME b.test.", "a.test. 60 IN A 192.0.2.2")
	if !Equal(a, b) || Equal(a, b[:2]) || Equal(a, []dns.RR{b[2], b[1], b[0]}) {
		t.Fatal("Equal: same records in the same order only")
	}
	if Count(a, dns.TypeA) != 2 || Count(a, dns.TypeCNAME) != 1 || Count(a, dns.TypeMX) != 0 {
		t.Fatal("Count miscounts")
	}
	for _, tc := range []struct {
		in   string
		want uint16
		err  bool
	}{{"", dns.TypeA, false}, {"aaaa", dns.TypeAAAA, false}, {"TXT", dns.TypeTXT, false}, {"FOO", 0, true}} {
		got, err := ParseType(tc.in, dns.TypeA)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseType(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), `"FOO"`) {
			t.Errorf("error %q does not name the value", err)
		}
	}
}
