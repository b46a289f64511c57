// Package wiretext renders a packed DNS reply as text that two ways of
// answering can be compared by (a test helper apart from dnstest, which
// imports dns/server and so cannot serve dns/server's own tests).
package wiretext

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Reply is the reply in b as text: the header and the question as they
// are, each section's records sorted (two answers may rotate differently)
// with their names in lower case (compression against the question may
// carry its case into owner names).
func Reply(t testing.TB, b []byte) string {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	var s strings.Builder
	s.WriteString(m.MsgHdr.String())
	for _, q := range m.Question {
		s.WriteString(q.String())
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		rrs := make([]string, 0, len(sec))
		for _, rr := range sec {
			rrs = append(rrs, strings.ToLower(rr.String()))
		}
		slices.Sort(rrs)
		s.WriteString("\n;; section\n" + strings.Join(rrs, "\n"))
	}
	return s.String()
}
