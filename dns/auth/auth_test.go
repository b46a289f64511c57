package auth_test

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"netsim/dns/dnstest"
	"netsim/zones"
)

const soa = "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112701 7200 3600 1209600 300"

func TestAuthoritativeAnswers(t *testing.T) {
	zs := dnstest.Embedded(t)
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)
	www := []string{
		"www.example.test. 300 IN A 127.0.10.1",
		"www.example.test. 300 IN A 127.0.20.1",
		"www.example.test. 300 IN A 127.0.30.1",
	}
	cases := []dnstest.Case{
		{Name: "A with three addresses", Qname: "www.example.test.", Qtype: dns.TypeA, AA: true, Answer: www},
		{Name: "case-insensitive, question case kept", Qname: "WwW.ExAmple.TEST.", Qtype: dns.TypeA, AA: true, Answer: www},
		{Name: "AAAA", Qname: "www.example.test.", Qtype: dns.TypeAAAA, AA: true, Answer: []string{"www.example.test. 300 IN AAAA ::1"}},
		{Name: "NXDOMAIN with SOA at min(TTL, MINIMUM)", Qname: "nope.example.test.", Qtype: dns.TypeA, AA: true, Rcode: dns.RcodeNameError, Ns: []string{soa}},
		{Name: "NODATA at an existing name", Qname: "www.example.test.", Qtype: dns.TypeMX, AA: true, Ns: []string{soa}},
		{Name: "NODATA at an empty non-terminal", Qname: "lab.example.test.", Qtype: dns.TypeA, AA: true, Ns: []string{soa}},
		{Name: "CNAME chain of two hops chased in zone", Qname: "alias.example.test.", Qtype: dns.TypeA, AA: true, Answer: append([]string{
			"alias.example.test. 3600 IN CNAME alias2.example.test.",
			"alias2.example.test. 3600 IN CNAME www.example.test.",
		}, www...)},
		{Name: "CNAME asked for itself", Qname: "alias.example.test.", Qtype: dns.TypeCNAME, AA: true, Answer: []string{"alias.example.test. 3600 IN CNAME alias2.example.test."}},
		{Name: "CNAME out of zone stops there", Qname: "ext.example.test.", Qtype: dns.TypeA, AA: true, Answer: []string{"ext.example.test. 3600 IN CNAME www.example.org."}},
		{Name: "CNAME chain ending in NODATA", Qname: "alias.example.test.", Qtype: dns.TypeMX, AA: true, Answer: []string{
			"alias.example.test. 3600 IN CNAME alias2.example.test.",
			"alias2.example.test. 3600 IN CNAME www.example.test.",
		}, Ns: []string{soa}},
		{Name: "MX with target addresses in additional", Qname: "mail.example.test.", Qtype: dns.TypeMX, AA: true,
			Answer: []string{"mail.example.test. 3600 IN MX 10 mx1.example.test.", "mail.example.test. 3600 IN MX 20 mx2.example.test."},
			Extra:  []string{"mx1.example.test. 3600 IN A 127.0.5.1", "mx2.example.test. 3600 IN A 127.0.5.2", "mx2.example.test. 3600 IN AAAA ::1"}},
		{Name: "NS at apex with addresses", Qname: "example.test.", Qtype: dns.TypeNS, AA: true,
			Answer: []string{"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.test."},
			Extra:  []string{"ns1.example.test. 3600 IN A 127.0.3.1", "ns2.example.test. 3600 IN A 127.0.3.2"}},
		{Name: "SRV with target address", Qname: "_http._tcp.example.test.", Qtype: dns.TypeSRV, AA: true,
			Answer: []string{"_http._tcp.example.test. 3600 IN SRV 10 60 8080 web.example.test."},
			Extra:  []string{"web.example.test. 3600 IN A 127.0.0.1"}},
		{Name: "SOA", Qname: "example.test.", Qtype: dns.TypeSOA, AA: true,
			Answer: []string{"example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2026112701 7200 3600 1209600 300"}},
		{Name: "TXT with two strings", Qname: "info.example.test.", Qtype: dns.TypeTXT, AA: true,
			Answer: []string{`info.example.test. 3600 IN TXT "netsim demo zone" "served by dnsd"`}},
		{Name: "CAA", Qname: "example.test.", Qtype: dns.TypeCAA, AA: true,
			Answer: []string{`example.test. 3600 IN CAA 0 issue "ca.example.test"`, `example.test. 3600 IN CAA 0 iodef "mailto:security@example.test"`}},
		{Name: "PTR", Qname: "1.ptr.example.test.", Qtype: dns.TypePTR, AA: true,
			Answer: []string{"1.ptr.example.test. 3600 IN PTR www.example.test."}},
		{Name: "wildcard synthesises the owner", Qname: "foo.apps.example.test.", Qtype: dns.TypeA, AA: true,
			Answer: []string{"foo.apps.example.test. 3600 IN A 127.0.6.1"}},
		{Name: "wildcard matches several labels down", Qname: "a.b.apps.example.test.", Qtype: dns.TypeTXT, AA: true,
			Answer: []string{`a.b.apps.example.test. 3600 IN TXT "synthesised from *.apps.example.test"`}},
		{Name: "wildcard NODATA for a type it lacks", Qname: "foo.apps.example.test.", Qtype: dns.TypeMX, AA: true, Ns: []string{soa}},
		{Name: "existing name is not covered by the wildcard", Qname: "static.apps.example.test.", Qtype: dns.TypeA, AA: true,
			Answer: []string{"static.apps.example.test. 3600 IN A 127.0.6.2"}},
		{Name: "existing name, other type: NODATA, not wildcard", Qname: "static.apps.example.test.", Qtype: dns.TypeTXT, AA: true, Ns: []string{soa}},
		{Name: "empty non-terminal blocks the wildcard", Qname: "deep.apps.example.test.", Qtype: dns.TypeA, AA: true, Ns: []string{soa}},
		{Name: "below an empty non-terminal: NXDOMAIN", Qname: "y.deep.apps.example.test.", Qtype: dns.TypeA, AA: true, Rcode: dns.RcodeNameError, Ns: []string{soa}},
		{Name: "referral below a zone cut", Qname: "www.sub.example.test.", Qtype: dns.TypeA,
			Ns:    []string{"sub.example.test. 3600 IN NS ns1.sub.example.test."},
			Extra: []string{"ns1.sub.example.test. 3600 IN A 127.0.4.1"}},
		{Name: "referral at the cut itself", Qname: "sub.example.test.", Qtype: dns.TypeNS,
			Ns:    []string{"sub.example.test. 3600 IN NS ns1.sub.example.test."},
			Extra: []string{"ns1.sub.example.test. 3600 IN A 127.0.4.1"}},
		{Name: "DS at the cut is the parent's: NODATA", Qname: "sub.example.test.", Qtype: dns.TypeDS, AA: true, Ns: []string{soa}},
		{Name: "outside every zone: REFUSED", Qname: "www.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeRefused},
		{Name: "the parent is outside too", Qname: "test.", Qtype: dns.TypeSOA, Rcode: dns.RcodeRefused},
		{Name: "ANY answered minimally (RFC 8482)", Qname: "www.example.test.", Qtype: dns.TypeANY, AA: true, Answer: www},
		{Name: "ANY at a CNAME", Qname: "alias.example.test.", Qtype: dns.TypeANY, AA: true, Answer: []string{"alias.example.test. 3600 IN CNAME alias2.example.test."}},
		{Name: "with EDNS", Qname: "www.example.test.", Qtype: dns.TypeA, EDNS: 1232, AA: true, Answer: www},
	}
	for _, c := range cases {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(c.Name+"/"+network, func(t *testing.T) {
				c.Check(t, dnstest.Exchange(t, srv.Addr, network, c.Msg()))
			})
		}
	}
}

func TestAnswerOwnerKeepsQuestionCase(t *testing.T) {
	zs := dnstest.Embedded(t)
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)
	m := new(dns.Msg)
	m.SetQuestion("WWW.Example.Test.", dns.TypeA)
	r := dnstest.Exchange(t, srv.Addr, "udp", m)
	for _, rr := range r.Answer {
		if rr.Header().Name != "WWW.Example.Test." {
			t.Errorf("owner %q, want the question's case", rr.Header().Name)
		}
	}
	// the shared zone data was not changed by the rename
	r = dnstest.Exchange(t, srv.Addr, "udp", (&dns.Msg{}).SetQuestion("www.example.test.", dns.TypeA))
	if got := r.Answer[0].Header().Name; got != "www.example.test." {
		t.Errorf("zone data was modified: owner now %q", got)
	}
}

func TestRoundRobin(t *testing.T) {
	zs := dnstest.Embedded(t)
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)
	firsts := map[string]int{}
	prev := ""
	for i := 0; i < 30; i++ {
		r := dnstest.Exchange(t, srv.Addr, "udp", (&dns.Msg{}).SetQuestion("www.example.test.", dns.TypeA))
		if len(r.Answer) != 3 {
			t.Fatalf("got %d answers", len(r.Answer))
		}
		first := r.Answer[0].(*dns.A).A.String()
		if first == prev {
			t.Errorf("query %d: first address %s repeated; answers should rotate", i, first)
		}
		prev = first
		firsts[first]++
		// the order is a rotation: the set is intact
		seen := map[string]bool{}
		for _, rr := range r.Answer {
			seen[rr.(*dns.A).A.String()] = true
		}
		if len(seen) != 3 {
			t.Fatalf("answer lost records: %v", r.Answer)
		}
	}
	for ip, n := range firsts {
		if n != 10 {
			t.Errorf("%s was first %d times of 30, want 10", ip, n)
		}
	}
}

func TestHierarchyReferrals(t *testing.T) {
	zs := dnstest.Embedded(t)
	root := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["."]}, nil)
	tld := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["test."]}, nil)
	sub := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["sub.example.test."]}, nil)
	cases := []struct {
		srv *dnstest.Server
		c   dnstest.Case
	}{
		{root, dnstest.Case{Name: "root refers to test.", Qname: "www.example.test.", Qtype: dns.TypeA,
			Ns: []string{"test. 172800 IN NS a.nic.test."}, Extra: []string{"a.nic.test. 172800 IN A 127.0.2.1"}}},
		{root, dnstest.Case{Name: "root NXDOMAIN for an unknown TLD", Qname: "www.example.invalid.", Qtype: dns.TypeA, AA: true, Rcode: dns.RcodeNameError,
			Ns: []string{". 86400 IN SOA a.root-servers.test. hostmaster.root-servers.test. 2026112701 1800 900 604800 86400"}}},
		{root, dnstest.Case{Name: "root NS with glue below the test. cut", Qname: ".", Qtype: dns.TypeNS, AA: true,
			Answer: []string{". 86400 IN NS a.root-servers.test."}, Extra: []string{"a.root-servers.test. 518400 IN A 127.0.1.1"}}},
		{tld, dnstest.Case{Name: "TLD refers to example.test.", Qname: "www.example.test.", Qtype: dns.TypeA,
			Ns:    []string{"example.test. 172800 IN NS ns1.example.test.", "example.test. 172800 IN NS ns2.example.test."},
			Extra: []string{"ns1.example.test. 172800 IN A 127.0.3.1", "ns2.example.test. 172800 IN A 127.0.3.2"}}},
		{sub, dnstest.Case{Name: "child answers", Qname: "www.sub.example.test.", Qtype: dns.TypeA, AA: true,
			Answer: []string{"www.sub.example.test. 3600 IN A 127.0.4.10"}}},
	}
	for _, tc := range cases {
		t.Run(tc.c.Name, func(t *testing.T) {
			tc.c.Check(t, dnstest.Exchange(t, tc.srv.Addr, "udp", tc.c.Msg()))
		})
	}
}

func TestSeveralZonesClosestWins(t *testing.T) {
	zs := dnstest.Embedded(t)
	// one server for example.test. and its child: the child's data answers,
	// no referral, and a CNAME into the child is chased.
	parent := dnstest.Zone(t, "example.test.", strings.Replace(zoneText(t, "example.test.zone"),
		"ext             IN CNAME www.example.org.", "ext             IN CNAME www.sub.example.test.", 1))
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{parent, zs["sub.example.test."]}, nil)
	c := dnstest.Case{Qname: "ext.example.test.", Qtype: dns.TypeA, AA: true, Answer: []string{
		"ext.example.test. 3600 IN CNAME www.sub.example.test.",
		"www.sub.example.test. 3600 IN A 127.0.4.10",
	}}
	c.Check(t, dnstest.Exchange(t, srv.Addr, "udp", c.Msg()))
}

func zoneText(t *testing.T, name string) string {
	b, err := zones.EmbeddedFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
