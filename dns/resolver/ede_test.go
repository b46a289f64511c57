package resolver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/ede"
)

// Every failure and every stale answer says why, in an Extended DNS Error
// naming the server or the reason (RFC 8914): servers that time out (No
// Reachable Authority), a refused port (Network Error), the failure cache
// (Cached Error), an expired entry served while its servers are gone
// (Stale Answer), and a cached NXDOMAIN served stale (Stale NXDOMAIN Answer).
func TestExtendedErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := faultMemWorld(t)
		clk := newTestClock()
		r := newMemResolver(t, w, "127.0.101.1", func(c *Config) {
			c.UpstreamTimeout = 200 * time.Millisecond
			c.FailureTTL = 5 * time.Second
			c.StaleRecheck = 0
			c.Cache.MaxTTL, c.Cache.NegativeMaxTTL = time.Second, time.Second
		}, WithClock(clk.Now))
		ask := func(name string) *dns.Msg {
			return r.Answer(context.Background(), query(name, dns.TypeA), loopback)
		}
		check := func(what string, m *dns.Msg, rcode int, code uint16, text string) {
			t.Helper()
			e := ede.Find(m)
			if m.Rcode != rcode || e == nil || e.InfoCode != code || !strings.Contains(e.ExtraText, text) {
				t.Errorf("%s: %s with EDE %v, want %s with EDE %d (%s) naming %q",
					what, dns.RcodeToString[m.Rcode], e, dns.RcodeToString[rcode], code, dns.ExtendedErrorCodeToString[code], text)
			}
		}
		// cached while the servers answer, then both servers of bad.test. drop everything
		if m := ask("www.bad.test"); m.Rcode != dns.RcodeSuccess || ede.Find(m) != nil {
			t.Fatalf("healthy answer: %v", m)
		}
		if m := ask("nx.bad.test"); m.Rcode != dns.RcodeNameError {
			t.Fatalf("healthy NXDOMAIN: %v", m)
		}
		badHook(w, func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true })
		clk.Advance(2 * time.Second) // past the 1 s TTL cap: expired, within the stale window
		check("timeouts", ask("new.bad.test"), dns.RcodeServerFailure, ede.NoReachableAuthority, "127.0.101.")
		check("within failure_ttl", ask("new.bad.test"), dns.RcodeServerFailure, ede.CachedError, "failure_ttl 5s")
		check("expired, servers gone", ask("www.bad.test"), dns.RcodeSuccess, ede.StaleAnswer, "")
		check("expired NXDOMAIN, servers gone", ask("nx.bad.test"), dns.RcodeNameError, ede.StaleNXDomainAnswer, "")
		// the servers' port is closed: ICMP port unreachable, a network error
		w.servers["127.0.101.4"].stopped.Store(true)
		w.servers["127.0.101.5"].stopped.Store(true)
		check("refused", ask("other.bad.test"), dns.RcodeServerFailure, ede.NetworkError, "connection refused")
	})
}

func TestFailureCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want uint16
	}{
		{errTimeout, ede.NoReachableAuthority},
		{ErrCNAMELoop, dns.ExtendedErrorCodeOther},
		{ErrQueryLimit, dns.ExtendedErrorCodeOther},
		// a referral loop at every server of the zone is still a loop
		{fmt.Errorf("%w evil.test.: 127.0.102.4:53: %w: to evil.test.", ErrNoServers, ErrReferralLoop), dns.ExtendedErrorCodeOther},
		{fmt.Errorf("%w evil.test.: %w", ErrNoServers, errTimeout), ede.NoReachableAuthority},
	} {
		if got := failureCode(tc.err); got != tc.want {
			t.Errorf("failureCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
