package resolver

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
)

// One lost packet is no reason for SERVFAIL: the zone's only server drops
// the first query for a name and answers the retry.
func TestLostPacketRetried(t *testing.T) { synctest.Test(t, testLostPacketRetried) }

func testLostPacketRetried(t *testing.T) {
	w := faultMemWorld(t)
	var drops atomic.Int32
	w.servers["127.0.101.3"].setHook(func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
		if strings.EqualFold(req.Question[0].Name, "www.good.test.") && drops.Add(1) == 1 {
			return nil, true // lost
		}
		return nil, false
	})
	r := newMemResolver(t, w, "127.0.101.1", func(c *Config) {
		c.UpstreamTimeout = 300 * time.Millisecond
	})
	m := r.Answer(context.Background(), query("www.good.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("after one lost packet: rcode %s, answer %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
	if n := drops.Load(); n < 2 {
		t.Fatalf("server asked %d times, want a retry", n)
	}
}
