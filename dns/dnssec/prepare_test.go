package dnssec_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/dns/dnstest"
	"netsim/zones"
)

// A zone saved with its keys published (dnsd writes the zone file on a
// record change) and read again is published as it is: its serial does
// not move (netsim fix waits for the serial of the file it puts back).
func TestPublishIsStableAcrossAZoneFile(t *testing.T) {
	sg := dnstest.SignWith(t, dnstest.Embedded(t), dnssec.DefaultSignerOptions()) // every zone's keys, published
	for _, z := range sg.Zones {
		var b bytes.Buffer
		if err := z.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		again, err := zones.Parse(&b, z.Origin, "saved", false)
		if err != nil {
			t.Fatalf("%s: %v\n%s", z.Origin, err, b.String())
		}
		repub, err := dnssec.Publish([]*zones.Zone{again}, sg.Keys, 3600, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if repub[0].SOA.Serial != again.SOA.Serial {
			for _, t2 := range []uint16{dns.TypeDNSKEY, dns.TypeDS} {
				for _, n := range again.Names() {
					if a, b := again.RRset(n, t2), repub[0].RRset(n, t2); len(a) > 0 || len(b) > 0 {
						t.Logf("%s %s: file %v, published %v", n, dns.TypeToString[t2], a, b)
					}
				}
			}
			t.Fatalf("%s: published again, serial %d -> %d", z.Origin, again.SOA.Serial, repub[0].SOA.Serial)
		}
	}
}
