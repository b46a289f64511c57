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
