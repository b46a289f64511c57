package resolver

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"real root hints", func(c *Config) { c.RootHints = RealRootHints; c.Port = 53 }, ""},
		{"stub with unbound port syntax", func(c *Config) {
			c.Stubs = []Zone{{Name: "example.test", Addrs: []string{"127.0.3.1@1053", "[::1]:1053"}}}
		}, ""},
		{"forwarders", func(c *Config) { c.Forwarders = []string{"192.0.2.53", "192.0.2.54:5353"} }, ""},
		{"bad port", func(c *Config) { c.Port = 0 }, "resolver.port: 0"},
		{"bad root hint", func(c *Config) { c.RootHints = []string{"a.root-servers.net"} }, `resolver.root_hints[0]: "a.root-servers.net": not an address`},
		{"no root hints", func(c *Config) { c.RootHints = nil }, "resolver.root_hints"},
		{"stub without addrs", func(c *Config) { c.Stubs = []Zone{{Name: "x.test"}} }, "resolver.stubs[0].addrs"},
		{"stub bad name", func(c *Config) { c.Stubs = []Zone{{Name: "a..b", Addrs: []string{"127.0.0.1"}}} }, "resolver.stubs[0].name"},
		{"stub bad port", func(c *Config) { c.Stubs = []Zone{{Name: "x.test", Addrs: []string{"127.0.0.1@99999"}}} }, "resolver.stubs[0].addrs[0]"},
		{"zone twice", func(c *Config) {
			c.Stubs = []Zone{{Name: "x.test", Addrs: []string{"127.0.0.1"}}}
			c.ForwardZones = []Zone{{Name: "X.test.", Addrs: []string{"127.0.0.1"}}}
		}, "resolver.forward_zones[0].name"},
		{"bad allow", func(c *Config) { c.Allow = []string{"10.0.0.0/33"} }, "resolver.allow[0]"},
		{"timeout too short", func(c *Config) { c.Timeout = time.Millisecond }, "resolver.timeout"},
		{"upstream timeout over total", func(c *Config) { c.UpstreamTimeout = 10 * time.Second }, "resolver.upstream_timeout"},
		{"cname chain", func(c *Config) { c.MaxCNAMEChain = 100 }, "resolver.max_cname_chain: 100"},
		{"edns size", func(c *Config) { c.EDNSBufferSize = 100 }, "resolver.edns_buffer_size"},
		{"prefetch threshold", func(c *Config) { c.PrefetchThreshold = 0.9 }, "resolver.prefetch_threshold"},
		{"cache shards", func(c *Config) { c.Cache.Shards = 3 }, "resolver.cache.shards: 3"},
		{"cache stale window", func(c *Config) { c.Cache.StaleWindow = -time.Second }, "resolver.cache.stale_window"},
		{"no glueless lookups", func(c *Config) { c.MaxNSLookupsPerReferral = 0 }, "resolver.max_ns_lookups_per_referral: 0: must be from 1 to 64"},
		{"negative unwanted threshold", func(c *Config) { c.UnwantedReplyThreshold = -1 }, "resolver.unwanted_reply_threshold: -1"},
		{"unwanted threshold off", func(c *Config) { c.UnwantedReplyThreshold = 0 }, ""},
		{"negative client cap", func(c *Config) { c.MaxResolutionsPerClient = -5 }, "resolver.max_resolutions_per_client: -5"},
		{"client cap off, 0x20 on", func(c *Config) { c.MaxResolutionsPerClient = 0; c.CaseRandomisation = true }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			testutil.WantErr(t, "Validate", c.Validate(), tc.want)
		})
	}
}

func TestParseServer(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{"127.0.3.1", "127.0.3.1:1053"},
		{"127.0.3.1@53", "127.0.3.1:53"},
		{"127.0.3.1:5353", "127.0.3.1:5353"},
		{"::1", "[::1]:1053"},
		{"::1@53", "[::1]:53"},
		{"[2001:db8::1]:53", "[2001:db8::1]:53"},
		{"::ffff:127.0.0.1", "127.0.0.1:1053"},
		{"localhost", ""},
		{"127.0.0.1@0", ""},
		{"127.0.0.1:0", ""},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			ap, err := parseServer(tc.in, 1053)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted as %v", ap)
				}
				return
			}
			if err != nil || ap.String() != tc.want {
				t.Fatalf("%v %v, want %s", ap, err, tc.want)
			}
		})
	}
}

func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"127.0.3.1", "127.0.3.1@53", "[::1]:53", "::1@1", "x@y", "@", "1.2.3.4:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := parseServer(s, 53)
		if err == nil && (!ap.IsValid() || ap.Port() == 0) {
			t.Fatalf("%q parsed to invalid %v", s, ap)
		}
	})
}

// TestForwarders: a forward zone with a dead first forwarder; the live one
// answers, and after repeated failures the dead one is backed off (tried
// last), so answers stop waiting for it.
func TestForwarders(t *testing.T) {
	w := faultWorld(t)
	dead := "127.0.101.240"
	live := "127.0.101.3"
	r, _ := newTestResolver(t, w, "127.0.101.1", func(c *Config) {
		c.ForwardZones = []Zone{{Name: "fwd.test", Addrs: []string{dead, live}}}
	})
	for _, n := range []string{"a", "b", "c", "d"} {
		m := r.Answer(context.Background(), query(n+".fwd.test", dns.TypeA), loopback)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("%s.fwd.test: %v", n, m)
		}
	}
	var deadStat, liveStat *Upstream
	for _, u := range r.Upstreams() {
		u := u
		switch netip.MustParseAddrPort(u.Address).Addr().String() {
		case dead:
			deadStat = &u
		case live:
			liveStat = &u
		}
	}
	if liveStat == nil || liveStat.Queries != 4 || liveStat.Errors != 0 {
		t.Fatalf("live forwarder: %+v", liveStat)
	}
	if deadStat != nil && deadStat.Queries > 3 {
		t.Fatalf("dead forwarder asked %d times: its failures are not remembered", deadStat.Queries)
	}
	// the root and TLD were never asked: forwarding, not iteration
	if w.servers["127.0.101.1"].queries.Load() != 0 || w.servers["127.0.101.2"].queries.Load() != 0 {
		t.Fatal("forward zone iterated from the root")
	}
}

func TestStubZone(t *testing.T) {
	w := faultWorld(t)
	r, _ := newTestResolver(t, w, "127.0.101.250", func(c *Config) { // the root hint is dead
		c.Stubs = []Zone{{Name: "good.test", Addrs: []string{"127.0.101.3@" + strconv.Itoa(int(w.port))}}}
	})
	m := r.Answer(context.Background(), query("www.good.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("stub zone: %v", m)
	}
}

func TestServerBackoff(t *testing.T) {
	clk := newTestClock()
	set := newServerSet(clk.Now)
	a := netip.MustParseAddrPort("192.0.2.1:53")
	b := netip.MustParseAddrPort("192.0.2.2:53")
	set.get(a).success(time.Millisecond)
	set.get(b).success(600 * time.Millisecond) // outside the 400 ms band
	if got := set.order([]netip.AddrPort{b, a}); got[0] != a {
		t.Fatalf("clearly faster server not first: %v", got)
	}
	// within the band both are equals: each comes first some of the time
	c := netip.MustParseAddrPort("192.0.2.3:53")
	set.get(c).success(20 * time.Millisecond)
	firsts := map[netip.AddrPort]int{}
	for i := 0; i < 200; i++ {
		firsts[set.order([]netip.AddrPort{a, c})[0]]++
	}
	if firsts[a] < 40 || firsts[c] < 40 {
		t.Fatalf("servers 1 ms and 20 ms apart are not shared: %v", firsts)
	}
	set.get(a).failure(clk.Now(), errTimeout)
	if !set.get(a).down(clk.Now()) {
		t.Fatal("a timeout did not back the server off")
	}
	if got := set.order([]netip.AddrPort{a, b}); got[0] != b {
		t.Fatalf("a server that just timed out is not last (behind one 600 ms slower): %v", got)
	}
	clk.Advance(1500 * time.Millisecond)
	if set.get(a).down(clk.Now()) {
		t.Fatal("backoff did not end after 1 s")
	}
	if got := set.order([]netip.AddrPort{a, b}); got[0] != b {
		t.Fatalf("a suspect whose probe is due is not last: %v", got)
	}
	set.get(a).failure(clk.Now(), errTimeout) // 2nd: 2 s
	clk.Advance(1500 * time.Millisecond)
	if !set.get(a).down(clk.Now()) {
		t.Fatal("backoff does not grow")
	}
	set.get(a).success(time.Millisecond)
	if set.get(a).down(clk.Now()) || set.get(a).fails.Load() != 0 {
		t.Fatal("success did not clear the backoff")
	}
}

// The wait for a server is its RTO (RFC 6298: srtt + 4 rttvar, at least
// minRTO), doubled per consecutive failure, never above upstream_timeout,
// which is also the wait for a server never measured.
func TestServerTimeout(t *testing.T) {
	const limit = 800 * time.Millisecond
	st := &serverStat{}
	for _, c := range []struct {
		name string
		do   func()
		want time.Duration
	}{
		{"never measured", func() {}, limit},
		{"first RTT 1 ms: minRTO", func() { st.success(time.Millisecond) }, minRTO},
		{"steady 60 ms", func() {
			for range 50 {
				st.success(60 * time.Millisecond)
			}
		}, minRTO},
		{"steady 150 ms", func() {
			for range 100 {
				st.success(150 * time.Millisecond)
			}
		}, 150 * time.Millisecond},
		{"one timeout: doubled", func() { st.failure(time.Unix(0, 0), errTimeout) }, 300 * time.Millisecond},
		{"two: doubled again", func() { st.failure(time.Unix(0, 0), errTimeout) }, 600 * time.Millisecond},
		{"three: capped", func() { st.failure(time.Unix(0, 0), errTimeout) }, limit},
		{"an answer: back to the RTO", func() { st.success(150 * time.Millisecond) }, 150 * time.Millisecond},
	} {
		c.do()
		got := st.timeout(limit)
		if d := got - c.want; d < -2*time.Millisecond || d > 2*time.Millisecond {
			t.Errorf("%s: timeout %s, want %s (srtt %s, rttvar %s, fails %d)", c.name, got, c.want,
				time.Duration(st.srtt.Load()), time.Duration(st.rttvar.Load()), st.fails.Load())
		}
	}
}
