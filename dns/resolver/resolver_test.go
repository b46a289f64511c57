package resolver

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
)

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.ToLower(rr.String()))
	}
	sort.Strings(out)
	return out
}

func want(lines ...string) []string {
	var out []string
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			panic(l + ": " + err.Error())
		}
		out = append(out, strings.ToLower(rr.String()))
	}
	sort.Strings(out)
	return out
}

func sameList(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// TestEmbeddedHierarchy resolves through the real demo zones (zones/data)
// served on their own loopback addresses, as `make run` does.
func TestEmbeddedHierarchy(t *testing.T) {
	w := embeddedWorld(t)
	clk := newTestClock()
	r, _ := newTestResolver(t, w, "127.0.1.1", nil, WithClock(clk.Now))
	soa := "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112701 7200 3600 1209600 300"
	cases := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string
	}{
		{"three addresses", "www.example.test", dns.TypeA, dns.RcodeSuccess, want(
			"www.example.test. 300 IN A 127.0.10.1", "www.example.test. 300 IN A 127.0.20.1", "www.example.test. 300 IN A 127.0.30.1"), nil},
		{"aaaa", "WWW.Example.Test", dns.TypeAAAA, dns.RcodeSuccess, want("www.example.test. 300 IN AAAA ::1"), nil},
		{"cname chain of two", "alias.example.test", dns.TypeA, dns.RcodeSuccess, want(
			"alias.example.test. 3600 IN CNAME alias2.example.test.", "alias2.example.test. 3600 IN CNAME www.example.test.",
			"www.example.test. 300 IN A 127.0.10.1", "www.example.test. 300 IN A 127.0.20.1", "www.example.test. 300 IN A 127.0.30.1"), nil},
		{"cname out of zone to a name that does not exist", "ext.example.test", dns.TypeA, dns.RcodeNameError,
			want("ext.example.test. 3600 IN CNAME www.example.org."),
			// the root's negative TTL (86400) capped by cache.negative_max_ttl (1h)
			want(". 3600 IN SOA a.root-servers.test. hostmaster.root-servers.test. 2026112701 1800 900 604800 86400")},
		{"nxdomain", "nope.example.test", dns.TypeA, dns.RcodeNameError, nil, want(soa)},
		{"nodata", "www.example.test", dns.TypeMX, dns.RcodeSuccess, nil, want(soa)},
		{"mx", "mail.example.test", dns.TypeMX, dns.RcodeSuccess, want(
			"mail.example.test. 3600 IN MX 10 mx1.example.test.", "mail.example.test. 3600 IN MX 20 mx2.example.test."), nil},
		{"wildcard", "anything.apps.example.test", dns.TypeA, dns.RcodeSuccess, want("anything.apps.example.test. 3600 IN A 127.0.6.1"), nil},
		{"delegated child", "www.sub.example.test", dns.TypeA, dns.RcodeSuccess, want("www.sub.example.test. 3600 IN A 127.0.4.10"), nil},
		{"tld itself", "test", dns.TypeNS, dns.RcodeSuccess, want("test. 86400 IN NS a.nic.test."), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.Answer(context.Background(), query(tc.qname, tc.qtype), loopback)
			if resp.Rcode != tc.rcode || !resp.RecursionAvailable || !resp.Response || resp.Authoritative {
				t.Fatalf("rcode %s ra=%v aa=%v, want %s\n%v", dns.RcodeToString[resp.Rcode], resp.RecursionAvailable, resp.Authoritative, dns.RcodeToString[tc.rcode], resp)
			}
			if resp.Question[0].Name != dns.Fqdn(tc.qname) {
				t.Fatalf("question case not kept: %s", resp.Question[0].Name)
			}
			if got := rrStrings(resp.Answer); !sameList(got, tc.answer) {
				t.Fatalf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.answer, "\n"))
			}
			if got := rrStrings(resp.Ns); !sameList(got, tc.ns) {
				t.Fatalf("authority:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.ns, "\n"))
			}
		})
	}

	t.Run("second answer from cache with lower TTL", func(t *testing.T) {
		before := w.total()
		hits := testutil.Value(t, r.m.cacheHits)
		clk.Advance(7 * time.Second)
		resp := r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
		if w.total() != before {
			t.Fatalf("cache hit sent %d upstream queries", w.total()-before)
		}
		if testutil.Value(t, r.m.cacheHits) != hits+1 {
			t.Fatal("cache hit not counted")
		}
		for _, rr := range resp.Answer {
			if rr.Header().Ttl != 293 {
				t.Fatalf("TTL %d, want 293", rr.Header().Ttl)
			}
		}
	})
	t.Run("new name in a known zone asks only its server", func(t *testing.T) {
		root, tld := w.servers["127.0.1.1"].queries.Load(), w.servers["127.0.2.1"].queries.Load()
		resp := r.Answer(context.Background(), query("info.example.test", dns.TypeTXT), loopback)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("%v", resp)
		}
		if w.servers["127.0.1.1"].queries.Load() != root || w.servers["127.0.2.1"].queries.Load() != tld {
			t.Fatal("root or TLD asked again although the delegation is cached")
		}
	})
}

func TestTraceWalksThreeHops(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	// warm the cache first: Trace must still walk from the root
	r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	res, err := r.Trace(context.Background(), "www.example.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rcode != "NOERROR" || len(res.Answer) != 3 {
		t.Fatalf("trace result %s %v (%s)", res.Rcode, res.Answer, res.Error)
	}
	wantHops := []struct{ server, zone, kind string }{
		{fmt.Sprintf("127.0.1.1:%d", w.port), ".", "referral"},
		{fmt.Sprintf("127.0.2.1:%d", w.port), "test.", "referral"},
		{"127.0.3.", "example.test.", "answer"},
	}
	if len(res.Hops) != len(wantHops) {
		t.Fatalf("%d hops, want 3: %+v", len(res.Hops), res.Hops)
	}
	for i, wh := range wantHops {
		h := res.Hops[i]
		if !strings.HasPrefix(h.Server, wh.server) || h.Zone != wh.zone || h.Kind != wh.kind {
			t.Errorf("hop %d: %s %s %s, want %s %s %s", i+1, h.Server, h.Zone, h.Kind, wh.server, wh.zone, wh.kind)
		}
	}
	if res.Hops[0].Referral == nil || res.Hops[0].Referral.Zone != "test." || len(res.Hops[0].Referral.Glue) == 0 {
		t.Errorf("first hop does not show the referral with glue: %+v", res.Hops[0].Referral)
	}
	if len(res.Hops[2].Cached) == 0 {
		t.Error("last hop does not say what was cached")
	}
	var buf bytes.Buffer
	if err := res.Format(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{"127.0.1.1", "127.0.2.1", "referral to test.", "referral to example.test.", "result NOERROR", "www.example.test.\t300\tIN\tA"} {
		if !strings.Contains(out, s) {
			t.Errorf("Format output lacks %q:\n%s", s, out)
		}
	}
}

// TestCoalescing: 100 concurrent clients ask one uncached name; the
// authoritative server sees exactly one query for it.
func TestCoalescing(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	auth1, auth2 := w.servers["127.0.3.1"], w.servers["127.0.3.2"]
	release := make(chan struct{})
	hold := func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
		<-release // hold the answer until every client has joined
		return nil, false
	}
	auth1.setHook(hold)
	auth2.setHook(hold)
	const clients = 100
	var wg sync.WaitGroup
	replies := make([]*dns.Msg, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i] = r.Answer(context.Background(), query("mx1.example.test", dns.TypeA), loopback)
		}(i)
	}
	testutil.WaitFor(t, "99 clients to join the flight", 5*time.Second, func() bool {
		return testutil.Value(t, r.m.coalesced) >= clients-1
	})
	close(release)
	wg.Wait()
	for i, m := range replies {
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("client %d: %v", i, m)
		}
	}
	n := auth1.count("mx1.example.test.", dns.TypeA) + auth2.count("mx1.example.test.", dns.TypeA)
	if n != 1 {
		t.Fatalf("authoritative servers saw %d queries for mx1.example.test, want 1", n)
	}
	if got := testutil.Value(t, r.m.coalesced); got != clients-1 {
		t.Fatalf("coalesced %v, want %d", got, clients-1)
	}
}

// TestServeStale runs in a synctest bubble over an in-memory network: the
// client timeouts it checks are measured on the bubble's clock.
func TestServeStale(t *testing.T) { synctest.Test(t, testServeStale) }

func testServeStale(t *testing.T) {
	w := memEmbeddedWorld(t)
	clk := newTestClock()
	r := newMemResolver(t, w, "127.0.1.1", func(c *Config) {
		c.Cache.StaleWindow = time.Hour
		c.Timeout = 2 * time.Second
		c.UpstreamTimeout = 200 * time.Millisecond
		c.StaleClientTimeout = time.Second
	}, WithClock(clk.Now))
	if m := r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback); len(m.Answer) != 3 {
		t.Fatalf("warm-up: %v", m)
	}
	// the example.test servers go away; the entry expires
	w.servers["127.0.3.1"].stop()
	w.servers["127.0.3.2"].stop()
	clk.Advance(301 * time.Second)

	start := time.Now()
	m := r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 3 || m.Answer[0].Header().Ttl != 30 {
		t.Fatalf("stale answer: %v", m)
	}
	if d := time.Since(start); d > r.cfg.StaleClientTimeout {
		t.Fatalf("stale answer took %v, want at most the client timeout %v", d, r.cfg.StaleClientTimeout)
	}
	if testutil.Value(t, r.m.stale) != 1 {
		t.Fatal("stale answer not counted")
	}
	// an uncached name in the dead zone: SERVFAIL within the limit
	start = time.Now()
	m = r.Answer(context.Background(), query("web.example.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("uncached name: %v", m)
	}
	if d := time.Since(start); d > r.cfg.Timeout {
		t.Fatalf("SERVFAIL took %v, limit %v", d, r.cfg.Timeout)
	}
	// after the failed refresh, stale answers go out at once (failure recheck)
	synctest.Wait()
	r.mu.Lock()
	failed, flights := len(r.failed), len(r.flights)
	r.mu.Unlock()
	if failed == 0 || flights != 0 {
		t.Fatalf("after the refresh: %d failures noted, %d resolutions in flight; want some, none", failed, flights)
	}
	start = time.Now()
	m = r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	if len(m.Answer) != 3 || time.Since(start) != 0 { // not the 1 s client timeout
		t.Fatalf("stale answer during failure recheck took %v: %v", time.Since(start), m)
	}
	// past the stale window, nothing is served
	clk.Advance(time.Hour)
	m = r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("past the stale window: %v", m)
	}
}

func TestAccessAndRD0(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	if r.Allowed(netip.MustParseAddr("192.0.2.1")) || !r.Allowed(netip.MustParseAddr("::1")) || !r.Allowed(netip.MustParseAddr("::ffff:127.0.0.9")) {
		t.Fatal("Allowed")
	}
	before := w.total()
	m := r.Answer(context.Background(), query("www.example.test", dns.TypeA), netip.MustParseAddr("192.0.2.1"))
	if m.Rcode != dns.RcodeRefused || w.total() != before {
		t.Fatalf("outside client: %v", m)
	}
	norec := query("www.example.test", dns.TypeA)
	norec.RecursionDesired = false
	if m := r.Answer(context.Background(), norec, loopback); m.Rcode != dns.RcodeRefused || w.total() != before {
		t.Fatalf("RD=0 on an empty cache: %v", m)
	}
	r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	before = w.total()
	if m := r.Answer(context.Background(), norec, loopback); len(m.Answer) != 3 {
		t.Fatalf("RD=0 cached: %v", m)
	}
	other := query("mail.example.test", dns.TypeMX)
	other.RecursionDesired = false
	m = r.Answer(context.Background(), other, loopback)
	if len(m.Answer) != 0 || len(m.Ns) != 2 || m.Ns[0].Header().Name != "example.test." {
		t.Fatalf("RD=0 miss: want a referral to example.test from cache, got %v", m)
	}
	if w.total() != before {
		t.Fatal("RD=0 queries went upstream")
	}
	bad := []struct {
		name  string
		m     *dns.Msg
		rcode int
	}{
		{"notify", func() *dns.Msg { m := query("x.test", dns.TypeA); m.Opcode = dns.OpcodeNotify; return m }(), dns.RcodeNotImplemented},
		{"no question", func() *dns.Msg { m := query("x.test", dns.TypeA); m.Question = nil; return m }(), dns.RcodeFormatError},
		{"chaos class", func() *dns.Msg { m := query("x.test", dns.TypeA); m.Question[0].Qclass = dns.ClassCHAOS; return m }(), dns.RcodeRefused},
		{"axfr", query("example.test", dns.TypeAXFR), dns.RcodeRefused},
		{"a response", func() *dns.Msg { m := query("x.test", dns.TypeA); m.Response = true; return m }(), dns.RcodeFormatError},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if m := r.Answer(context.Background(), tc.m, loopback); m.Rcode != tc.rcode || !m.Response {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
		})
	}
}

func TestPrefetch(t *testing.T) {
	w := embeddedWorld(t)
	clk := newTestClock()
	r, _ := newTestResolver(t, w, "127.0.1.1", func(c *Config) { c.PrefetchMinHits = 2 }, WithClock(clk.Now))
	auth := func() int {
		return w.servers["127.0.3.1"].count("www.example.test.", dns.TypeA) + w.servers["127.0.3.2"].count("www.example.test.", dns.TypeA)
	}
	r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	if auth() != 1 {
		t.Fatalf("%d upstream queries before prefetch", auth())
	}
	// hold the refresh until the answers below are checked: they must come
	// from the cache while the prefetch is in flight, however fast it is
	release := make(chan struct{})
	hold := func(*dns.Msg, bool) (*dns.Msg, bool) { <-release; return nil, false }
	w.servers["127.0.3.1"].setHook(hold)
	w.servers["127.0.3.2"].setHook(hold)
	clk.Advance(275 * time.Second) // 25 s of 300 left: under 10%
	for i := 0; i < 5; i++ {
		if m := r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback); m.Answer[0].Header().Ttl != 25 {
			t.Fatalf("answer during prefetch: %v", m)
		}
	}
	close(release)
	testutil.WaitFor(t, "the prefetch to refresh the entry", 3*time.Second, func() bool {
		h, ok := r.cache.Get(cacheKey("www.example.test.", dns.TypeA))
		return ok && h.Remaining > 290*time.Second
	})
	if auth() != 2 || testutil.Value(t, r.m.prefetches) != 1 {
		t.Fatalf("upstream %d prefetches %v: want one single-flight refresh", auth(), testutil.Value(t, r.m.prefetches))
	}
}

// TestPartialChainNotCached: a CNAME leaving the zone is not cached as the
// whole answer while (or if) the rest of the chain fails.
func TestPartialChainNotCached(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	m := r.Answer(context.Background(), query("ext.example.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeNameError || len(m.Answer) != 1 {
		t.Fatalf("ext.example.test: %v", m)
	}
	// the root now fails: the chain cannot complete, and the cached
	// CNAME-only hop must not be served as a NOERROR answer
	r.cache.Flush()
	w.servers["127.0.1.1"].setHook(func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
		if strings.HasSuffix(strings.ToLower(req.Question[0].Name), ".org.") {
			x := new(dns.Msg)
			x.SetRcode(req, dns.RcodeServerFailure)
			return x, false
		}
		return nil, false
	})
	if m := r.Answer(context.Background(), query("ext.example.test", dns.TypeA), loopback); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("chain with a failing hop: %v", m)
	}
	if m := r.Answer(context.Background(), query("ext.example.test", dns.TypeA), loopback); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("second ask served a partial chain from cache: %v", m)
	}
	if _, ok := r.cache.Get(cacheKey("ext.example.test.", dns.TypeA)); ok {
		t.Fatal("partial chain cached under the question")
	}
}

func TestAnswerCached(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	norec := query("www.example.test", dns.TypeA)
	norec.RecursionDesired = false
	cases := []struct {
		name   string
		before func()
		req    *dns.Msg
		client string
		ok     bool
		rcode  int
	}{
		{"miss needs resolving", nil, query("www.example.test", dns.TypeA), "127.0.0.1", false, 0},
		{"refused at once", nil, query("www.example.test", dns.TypeA), "192.0.2.1", true, dns.RcodeRefused},
		{"rd=0 at once", nil, norec, "127.0.0.1", true, dns.RcodeRefused},
		{"hit at once", func() { r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback) }, query("www.example.test", dns.TypeA), "127.0.0.1", true, dns.RcodeSuccess},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			before := w.total()
			m, ok := r.AnswerCached(tc.req, netip.MustParseAddr(tc.client))
			if ok != tc.ok || w.total() != before {
				t.Fatalf("ok=%v (want %v), %d upstream queries", ok, tc.ok, w.total()-before)
			}
			if ok && m.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
		})
	}
}

// TestQNAMEMinimisation: each server sees only one label more than its
// zone (RFC 9156); answers are the same as without it.
func TestQNAMEMinimisation(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", func(c *Config) { c.QNAMEMinimisation = true })
	cases := []struct {
		name   string
		qname  string
		rcode  int
		answer int
		seen   map[string][]string // server → names it must have been asked (type A)
		unseen map[string][]string // server → names it must not have been asked
	}{
		{"three hops", "www.example.test", dns.RcodeSuccess, 3,
			map[string][]string{"127.0.1.1": {"test."}, "127.0.2.1": {"example.test."}},
			map[string][]string{"127.0.1.1": {"www.example.test.", "example.test."}, "127.0.2.1": {"www.example.test."}}},
		{"child zone", "www.sub.example.test", dns.RcodeSuccess, 1,
			map[string][]string{"127.0.4.1": {"www.sub.example.test."}}, nil},
		{"empty non-terminals on the way", "x.deep.apps.example.test", dns.RcodeSuccess, 1, nil, nil},
		{"nxdomain on the way", "a.b.nope.example.test", dns.RcodeNameError, 0, nil, nil},
		{"cname on the way", "x.alias.example.test", dns.RcodeNameError, 0, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := r.Answer(context.Background(), query(tc.qname, dns.TypeA), loopback)
			if m.Rcode != tc.rcode || len(m.Answer) != tc.answer {
				t.Fatalf("rcode %s, %d answers: %v", dns.RcodeToString[m.Rcode], len(m.Answer), m)
			}
			for ip, names := range tc.seen {
				for _, n := range names {
					if w.servers[ip].count(n, dns.TypeA) == 0 {
						t.Errorf("%s was not asked %s A", ip, n)
					}
				}
			}
			for ip, names := range tc.unseen {
				for _, n := range names {
					if c := w.servers[ip].count(n, dns.TypeA); c != 0 {
						t.Errorf("%s was asked %s A %d times", ip, n, c)
					}
				}
			}
		})
	}
	res, err := r.Trace(context.Background(), "www.example.test", dns.TypeA)
	if err != nil || len(res.Hops) != 3 || res.Hops[0].Question != "test. A" {
		t.Fatalf("trace with minimisation: %v %+v", err, res)
	}
}

// TestFirstAnswerCapped: the client whose query filled the cache sees the
// same capped TTL as the next one.
func TestFirstAnswerCapped(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", func(c *Config) { c.Cache.MaxTTL = time.Minute })
	for i := 0; i < 2; i++ {
		m := r.Answer(context.Background(), query("mail.example.test", dns.TypeMX), loopback)
		if len(m.Answer) != 2 || m.Answer[0].Header().Ttl > 60 {
			t.Fatalf("answer %d: TTL above max_ttl: %v", i, m.Answer)
		}
	}
}

// TestAggressiveNXDomain: once nope.example.test is known not to exist,
// names below it (and other types at it) are NXDOMAIN without asking
// (RFC 8020); with the option off they are asked.
func TestAggressiveNXDomain(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("aggressive=", on), func(t *testing.T) {
			w := embeddedWorld(t)
			r, _ := newTestResolver(t, w, "127.0.1.1", func(c *Config) { c.AggressiveNXDomain = on })
			if m := r.Answer(context.Background(), query("nope.example.test", dns.TypeA), loopback); m.Rcode != dns.RcodeNameError {
				t.Fatalf("nope: %v", m)
			}
			before := w.total()
			for _, q := range []*dns.Msg{query("a.b.nope.example.test", dns.TypeA), query("nope.example.test", dns.TypeAAAA)} {
				m := r.Answer(context.Background(), q, loopback)
				if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Fatalf("%s: %v", q.Question[0].Name, m)
				}
			}
			if asked := w.total() - before; (asked == 0) != on {
				t.Fatalf("aggressive=%v: %d upstream queries", on, asked)
			}
		})
	}
}
