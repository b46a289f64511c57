// Package rrset holds the round-robin order of DNS answers, shared by every
// answer source (zones, the resolver's cache, GeoDNS), so that they all
// rotate the same way.
package rrset

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Rotate turns rrs left by off (mod len(rrs)) in place: the record at
// off leads. A caller keeps a counter per RRset and passes the next value
// each time, so successive answers lead with successive records.
func Rotate(rrs []dns.RR, off uint32) {
	if len(rrs) > 1 {
		rotate(rrs, off)
	}
}

func rotate(rrs []dns.RR, off uint32) {
	if k := int(off % uint32(len(rrs))); k > 0 {
		reverse(rrs[:k])
		reverse(rrs[k:])
		reverse(rrs)
	}
}

// RotateEach rotates, by off, each run of records of one RRset (same owner
// and type) in rrs: a section holding several RRsets, such as a CNAME
// chain and its final addresses.
func RotateEach(rrs []dns.RR, off uint32) {
	for i := 0; i < len(rrs); {
		hi := rrs[i].Header()
		j := i + 1
		for j < len(rrs) {
			hj := rrs[j].Header()
			if hj.Rrtype != hi.Rrtype || !strings.EqualFold(hj.Name, hi.Name) {
				break
			}
			j++
		}
		Rotate(rrs[i:j], off)
		i = j
	}
}

func reverse(s []dns.RR) {
	for a, b := 0, len(s)-1; a < b; a, b = a+1, b-1 {
		s[a], s[b] = s[b], s[a]
	}
}

// Equal reports whether a and b hold the same records, in the same order,
// by their presentation text.
func Equal(a, b []dns.RR) bool {
	return slices.EqualFunc(a, b, func(x, y dns.RR) bool { return x.String() == y.String() })
}

// Count is the number of records of type t in rrs.
func Count(rrs []dns.RR, t uint16) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			n++
		}
	}
	return n
}

// ParseType reads a record type by its mnemonic ("A", "aaaa", "TXT"); an
// empty s is def. An unknown name is an error that names it.
func ParseType(s string, def uint16) (uint16, error) {
	if s == "" {
		return def, nil
	}
	t, ok := dns.StringToType[strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("type %q is not a DNS record type (try A, AAAA, MX, NS, TXT…)", s)
	}
	return t, nil
}
