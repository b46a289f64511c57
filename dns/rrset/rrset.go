// Package rrset holds the round-robin order of DNS answers, shared by every
// answer source (zones, the resolver's cache, GeoDNS), so that they all
// rotate the same way.
package rrset

import (
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
