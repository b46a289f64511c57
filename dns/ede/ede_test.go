package ede

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestShorten(t *testing.T) {
	long := "no server for the zone answered usefully evil.test.: address of ns.cycle.test.: " +
		strings.Repeat("no server for the zone answered usefully cycle.test.: ", 4) +
		"referral loop: finding the address of ns.evil.test. needs that address"
	for _, tc := range []struct {
		name, in string
		want     func(string) bool
	}{
		{"short text unchanged", "127.0.3.1:1053: timeout", func(s string) bool { return s == "127.0.3.1:1053: timeout" }},
		{"exactly the limit unchanged", strings.Repeat("x", maxText), func(s string) bool { return s == strings.Repeat("x", maxText) }},
		{"long text keeps the zone asked first", long, func(s string) bool {
			return strings.HasPrefix(s, "no server for the zone answered usefully evil.test.")
		}},
		{"long text keeps the root cause at its end", long, func(s string) bool {
			return strings.HasSuffix(s, "referral loop: finding the address of ns.evil.test. needs that address")
		}},
		{"long text marked as cut", long, func(s string) bool { return strings.Contains(s, "...") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Shorten(tc.in)
			if len(got) > maxText || !tc.want(got) {
				t.Errorf("Shorten: %q (%d bytes, at most %d)", got, len(got), maxText)
			}
		})
	}
	m := new(dns.Msg)
	Set(m, dns.ExtendedErrorCodeOther, long)
	if e := Find(m); e == nil || e.ExtraText != Shorten(long) {
		t.Errorf("Set: EDE %v, want the shortened text", e)
	}
}
