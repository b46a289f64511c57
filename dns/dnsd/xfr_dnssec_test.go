package dnsd

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/dns/dnstest"
	"netsim/internal/testutil"
)

// checkTransferSigned checks a transfer of a signed zone as a secondary's
// validator would: every RRSIG verifies with the zone's DNSKEYs from the
// transfer, and the NSEC (or NSEC3) records form one closed chain over
// the links, each signed. It returns the number of links.
func checkTransferSigned(t *testing.T, rrs []dns.RR, origin string, nsec3 bool) int {
	t.Helper()
	var keys []*dns.DNSKEY
	for _, rr := range rrs {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys = append(keys, k)
		}
	}
	rrs = rrs[:len(rrs)-1] // the closing SOA
	signed := map[string]bool{}
	for _, rr := range rrs {
		s, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		set := dnssec.RRset(rrs, s.Hdr.Name, s.TypeCovered)
		if _, err := dnssec.VerifyRRset(set, []*dns.RRSIG{s}, keys, origin, time.Now()); err != nil {
			t.Errorf("%s %s: %v", s.Hdr.Name, dns.TypeToString[s.TypeCovered], err)
		}
		signed[strings.ToLower(s.Hdr.Name)+"/"+dns.TypeToString[s.TypeCovered]] = true
	}
	next := map[string]string{}
	for _, rr := range rrs {
		owner := strings.ToLower(rr.Header().Name)
		switch n := rr.(type) {
		case *dns.NSEC:
			if nsec3 {
				t.Errorf("an NSEC in an NSEC3 zone: %s", n)
			}
			next[owner] = strings.ToLower(n.NextDomain)
		case *dns.NSEC3:
			if !nsec3 {
				t.Errorf("an NSEC3 in an NSEC zone: %s", n)
			}
			next[owner] = strings.ToLower(n.NextDomain) + "." + origin
		default:
			continue
		}
		if !signed[owner+"/"+dns.TypeToString[rr.Header().Rrtype]] {
			t.Errorf("%s is not signed", rr)
		}
	}
	if len(next) == 0 {
		t.Fatal("no denial chain in the transfer")
	}
	start := origin
	if nsec3 {
		for o := range next {
			start = o
			break
		}
	}
	at, steps := start, 0
	for steps = 1; steps <= len(next); steps++ {
		nx, ok := next[at]
		if !ok {
			t.Fatalf("the chain breaks after %s: its next link %s is not in the transfer", at, nx)
		}
		if at = nx; at == start {
			break
		}
	}
	if at != start || steps != len(next) {
		t.Fatalf("the chain does not close over its %d links (%d steps)", len(next), steps)
	}
	return len(next)
}

// TestTransferOfSignedZone: AXFR of a zone signed online carries the
// DNSKEYs, an RRSIG over every RRset and a full, signed NSEC (or NSEC3)
// chain; after a change an IXFR gets the whole new zone, its chain
// including the new name.
func TestTransferOfSignedZone(t *testing.T) {
	for _, denial := range []string{"nsec", "nsec3"} {
		t.Run(denial, func(t *testing.T) {
			dir := t.TempDir()
			p := startPrimaryWith(t, filepath.Join(dir, "zones"), "127.0.0.0/8", "increment",
				"dnssec:\n  enabled: true\n  zones: [example.test.]\n  denial: "+denial+"\n")
			all, size, err := transfer(t, p.addr, 0, "", "")
			if err != nil {
				t.Fatal(err)
			}
			links := checkTransferSigned(t, all, "example.test.", denial == "nsec3")
			t.Logf("%s: AXFR of %d records, %d bytes, %d chain links", denial, len(all), size, links)
			// the admin API says how the zone is denied and what transfers carry
			_, body := testutil.Fetch(t, "GET", "http://"+p.d.AdminAddr()+"/api/v1/dnssec/zones/example.test.", "", "")
			for _, want := range []string{`"denial": "` + denial + `"`, fmt.Sprintf(`"chain_links": %d`, links), fmt.Sprintf(`"records": %d`, len(all)-1)} {
				if !strings.Contains(body, want) {
					t.Errorf("GET /api/v1/dnssec/zones/example.test.: no %s in\n%s", want, body)
				}
			}
			s0 := p.serial()
			if r := update(t, p.addr, "udp", keyName, testKey, func(m *dns.Msg) {
				m.Insert([]dns.RR{dnstest.RR(t, "new.example.test. 60 IN A 127.0.0.99")})
			}); r.Rcode != dns.RcodeSuccess {
				t.Fatalf("update: %s", dns.RcodeToString[r.Rcode])
			}
			diff, _, err := transfer(t, p.addr, s0, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if got := checkTransferSigned(t, diff, "example.test.", denial == "nsec3"); got != links+1 {
				t.Fatalf("IXFR of the signed zone after one new name: %d chain links, want the whole zone's %d", got, links+1)
			}
		})
	}
}
