package resolver

import (
	"fmt"

	"github.com/miekg/dns"
)

// Zones and replies for the fake authorities of the fault and hostile
// tests: each zone text states what is particular to it, the SOA and NS
// records that every one starts with are written here.

// rootZone is a root zone served at rootIP that delegates test. to a
// server at tldIP.
func rootZone(rootIP, tldIP string) string {
	return `$ORIGIN .
$TTL 86400
@ IN SOA a.root. h.root. 1 1800 900 604800 86400
@ IN NS a.root.
a.root. IN A ` + rootIP + `
test. IN NS a.nic.test.
a.nic.test. IN A ` + tldIP + `
`
}

// tldZone is the test. zone served by a.nic.test. at tldIP, with the
// delegations (zone text relative to test.) that follow its own records.
func tldZone(tldIP, delegations string) string {
	return "$ORIGIN test.\n$TTL 86400\n@ IN SOA a.nic h 1 1800 900 604800 3600\n@ IN NS a.nic\na.nic IN A " + tldIP + "\n" + delegations
}

// leafZone is origin's zone whose (first) name server is ns, a name
// relative to origin or absolute, followed by records (zone text: the
// name server's address when it is in the zone, and the zone's data).
func leafZone(origin, ns, records string) string {
	return "$ORIGIN " + origin + "\n$TTL 300\n@ IN SOA " + ns + " h 1 7200 3600 1209600 60\n@ IN NS " + ns + "\n" + records
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", s, err))
	}
	return rr
}

// forged builds an authoritative reply to req with the given sections.
func forged(req *dns.Msg, rcode int, answer, ns, extra []string) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative = true
	for _, s := range answer {
		m.Answer = append(m.Answer, mustRR(s))
	}
	for _, s := range ns {
		m.Ns = append(m.Ns, mustRR(s))
	}
	for _, s := range extra {
		m.Extra = append(m.Extra, mustRR(s))
	}
	return m
}

// referral builds a referral (no AA, no answer) to req.
func referral(req *dns.Msg, ns, extra []string) *dns.Msg {
	m := forged(req, dns.RcodeSuccess, nil, ns, extra)
	m.Authoritative = false
	return m
}
