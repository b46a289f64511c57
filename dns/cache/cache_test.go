package cache

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
)

// clock is a manual clock for tests.
func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

func rrs(t testing.TB, text ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range text {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("NewRR(%q): %v", s, err)
		}
		out = append(out, rr)
	}
	return out
}

func answer(t testing.TB, rcode int, ans, ns []string) *dns.Msg {
	m := &dns.Msg{}
	m.Rcode = rcode
	m.Answer = rrs(t, ans...)
	m.Ns = rrs(t, ns...)
	return m
}

const soa = "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 %d"

// newCache is a cache on DefaultConfig changed by mod (may be nil), with
// a manual clock.
func newCache(t testing.TB, mod func(*Config)) (*Cache, *testutil.Clock) {
	t.Helper()
	cfg, clk := DefaultConfig(), newClock()
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func key(name string, typ uint16) Key {
	return Key{Name: name, Type: typ, Class: dns.ClassINET}
}

func TestTTLAndNegative(t *testing.T) {
	cases := []struct {
		name     string
		cfg      func(*Config)
		msg      *dns.Msg
		kind     Kind
		wantTTL  uint32
		wantNeg  bool
		wantOK   bool
		wantSOA  uint32 // TTL of the SOA stored in authority, when negative
		wantAns0 uint32
	}{
		{name: "positive min of answer", msg: answer(t, 0, []string{"a.example.test. 300 IN A 192.0.2.1", "a.example.test. 200 IN A 192.0.2.2"}, nil), wantTTL: 200, wantOK: true, wantAns0: 300},
		{name: "nxdomain uses soa minimum", msg: answer(t, dns.RcodeNameError, nil, []string{fmt.Sprintf(soa, 60)}), wantTTL: 60, wantNeg: true, wantOK: true, wantSOA: 60},
		{name: "nodata uses soa ttl when lower", msg: answer(t, 0, nil, []string{strings.Replace(fmt.Sprintf(soa, 900), "3600", "120", 1)}), wantTTL: 120, wantNeg: true, wantOK: true, wantSOA: 120},
		{name: "negative without soa not cached", msg: answer(t, dns.RcodeNameError, nil, nil), wantNeg: true},
		{name: "servfail not cached", msg: answer(t, dns.RcodeServerFailure, nil, nil)},
		{name: "zero ttl not cached", msg: answer(t, 0, []string{"a.example.test. 0 IN A 192.0.2.1"}, nil), wantOK: false},
		{name: "max ttl cap", cfg: func(c *Config) { c.MaxTTL = time.Hour }, msg: answer(t, 0, []string{"a.example.test. 86400 IN A 192.0.2.1"}, nil), wantTTL: 3600, wantOK: true, wantAns0: 3600},
		{name: "min ttl floor", cfg: func(c *Config) { c.MinTTL = 30 * time.Second }, msg: answer(t, 0, []string{"a.example.test. 5 IN A 192.0.2.1"}, nil), wantTTL: 30, wantOK: true, wantAns0: 30},
		{name: "negative cap", cfg: func(c *Config) { c.NegativeMaxTTL = 10 * time.Second }, msg: answer(t, dns.RcodeNameError, nil, []string{fmt.Sprintf(soa, 600)}), wantTTL: 10, wantNeg: true, wantOK: true, wantSOA: 10},
		{name: "negative ignores min ttl floor", cfg: func(c *Config) { c.MinTTL = time.Minute }, msg: answer(t, dns.RcodeNameError, nil, []string{fmt.Sprintf(soa, 5)}), wantTTL: 5, wantNeg: true, wantOK: true, wantSOA: 5},
		{name: "delegation min of ns and glue", kind: Delegation, msg: func() *dns.Msg {
			m := answer(t, 0, nil, []string{"example.test. 86400 IN NS ns1.example.test."})
			m.Extra = rrs(t, "ns1.example.test. 3600 IN A 127.0.3.1")
			return m
		}(), wantTTL: 3600, wantOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCache(t, tc.cfg)
			ttl, neg, ok := c.TTL(tc.kind, tc.msg)
			if ttl != tc.wantTTL && ok || neg != tc.wantNeg || ok != tc.wantOK {
				t.Fatalf("TTL = %d neg=%v ok=%v, want %d %v %v", ttl, neg, ok, tc.wantTTL, tc.wantNeg, tc.wantOK)
			}
			k := key("a.example.test.", dns.TypeA)
			k.Kind = tc.kind
			d, err := c.Set(k, tc.msg)
			if !tc.wantOK {
				if err == nil {
					t.Fatalf("Set stored an uncacheable response")
				}
				return
			}
			if err != nil || d != time.Duration(tc.wantTTL)*time.Second {
				t.Fatalf("Set = %v, %v", d, err)
			}
			h, ok := c.Get(k)
			if !ok || h.Negative != tc.wantNeg {
				t.Fatalf("Get = %v negative=%v", ok, h.Negative)
			}
			if tc.wantNeg && h.Msg.Ns[0].Header().Ttl != tc.wantSOA {
				t.Fatalf("stored SOA TTL %d, want %d", h.Msg.Ns[0].Header().Ttl, tc.wantSOA)
			}
			if tc.wantAns0 != 0 && h.Msg.Answer[0].Header().Ttl != tc.wantAns0 {
				t.Fatalf("stored answer TTL %d, want %d", h.Msg.Answer[0].Header().Ttl, tc.wantAns0)
			}
		})
	}
}

func TestCountdownAndStale(t *testing.T) {
	c, clk := newCache(t, func(cfg *Config) { cfg.StaleWindow = time.Minute })
	k := key("www.example.test.", dns.TypeA)
	if _, err := c.Set(k, answer(t, 0, []string{"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"}, nil)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance   time.Duration
		wantOK    bool
		wantStale bool
		wantTTL   uint32
	}{
		{0, true, false, 300},
		{10*time.Second + 500*time.Millisecond, true, false, 290},
		{279 * time.Second, true, false, 11},
		{10 * time.Second, true, false, 1},
		{500 * time.Millisecond, true, true, 30}, // expired: stale TTL
		{59 * time.Second, true, true, 30},
		{time.Second, false, false, 0}, // past the stale window
	}
	for i, st := range steps {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			clk.Advance(st.advance)
			h, ok := c.Get(k)
			if ok != st.wantOK {
				t.Fatalf("ok = %v, want %v", ok, st.wantOK)
			}
			if !ok {
				if c.Len() != 0 {
					t.Fatalf("entry past the stale window not removed: len %d", c.Len())
				}
				return
			}
			if h.Stale != st.wantStale {
				t.Fatalf("stale = %v, want %v", h.Stale, st.wantStale)
			}
			var reply dns.Msg
			h.Fill(&reply, clk.Now(), 30)
			for _, rr := range reply.Answer {
				if rr.Header().Ttl != st.wantTTL {
					t.Fatalf("ttl %d, want %d", rr.Header().Ttl, st.wantTTL)
				}
			}
			// the stored message is untouched
			if h.Msg.Answer[0].Header().Ttl != 300 {
				t.Fatalf("stored TTL changed to %d", h.Msg.Answer[0].Header().Ttl)
			}
		})
	}
}

func TestNoStaleWindow(t *testing.T) {
	c, clk := newCache(t, func(cfg *Config) { cfg.StaleWindow = 0 })
	k := key("a.test.", dns.TypeA)
	c.Set(k, answer(t, 0, []string{"a.test. 5 IN A 192.0.2.1"}, nil))
	clk.Advance(5 * time.Second)
	if _, ok := c.Get(k); ok {
		t.Fatal("expired entry served with no stale window")
	}
}

func TestEvictionKeepsVisited(t *testing.T) {
	c, _ := newCache(t, func(cfg *Config) { cfg.Shards, cfg.MaxEntries = 1, 10 })
	name := func(i int) string { return fmt.Sprintf("n%d.test.", i) }
	for i := 0; i < 10; i++ {
		c.Set(key(name(i), dns.TypeA), answer(t, 0, []string{name(i) + " 300 IN A 192.0.2.1"}, nil))
	}
	// n0..n4 are popular
	for i := 0; i < 5; i++ {
		if _, ok := c.Get(key(name(i), dns.TypeA)); !ok {
			t.Fatalf("%s missing", name(i))
		}
	}
	for i := 10; i < 15; i++ {
		c.Set(key(name(i), dns.TypeA), answer(t, 0, []string{name(i) + " 300 IN A 192.0.2.1"}, nil))
	}
	if c.Len() != 10 {
		t.Fatalf("len %d, want 10", c.Len())
	}
	if c.Evictions() != 5 {
		t.Fatalf("evictions %d, want 5", c.Evictions())
	}
	for i := 0; i < 5; i++ {
		if _, ok := c.Get(key(name(i), dns.TypeA)); !ok {
			t.Errorf("popular %s was evicted", name(i))
		}
	}
	for i := 5; i < 10; i++ {
		if _, ok := c.Get(key(name(i), dns.TypeA)); ok {
			t.Errorf("unvisited %s survived", name(i))
		}
	}
}

func TestByteBound(t *testing.T) {
	const bound = 2 * 8192
	c, _ := newCache(t, func(cfg *Config) { cfg.Shards, cfg.MaxBytes = 2, bound })
	for i := 0; i < 500; i++ {
		n := fmt.Sprintf("host%d.example.test.", i)
		c.Set(key(n, dns.TypeTXT), answer(t, 0, []string{n + ` 300 IN TXT "` + strings.Repeat("x", 200) + `"`}, nil))
		if c.Bytes() > bound {
			t.Fatalf("after %d inserts bytes %d > bound %d", i+1, c.Bytes(), bound)
		}
	}
	if c.Len() == 0 || c.Len() >= 500 || c.Evictions() == 0 {
		t.Fatalf("len %d evictions %d: byte bound not enforced by eviction", c.Len(), c.Evictions())
	}
	var sum int64
	for _, h := range c.Entries(nil) {
		sum += h.Size
	}
	if sum != c.Bytes() {
		t.Fatalf("bytes accounting %d != sum of entries %d", c.Bytes(), sum)
	}
}

func TestScopedLookup(t *testing.T) {
	c, _ := newCache(t, nil)
	base := key("www.example.test.", dns.TypeA)
	eu, na := base, base
	eu.Scope = netip.MustParsePrefix("127.0.10.0/24")
	na.Scope = netip.MustParsePrefix("127.0.20.77/24") // masked on Set
	c.Set(eu, answer(t, 0, []string{"www.example.test. 60 IN A 127.0.10.1"}, nil))
	c.Set(na, answer(t, 0, []string{"www.example.test. 60 IN A 127.0.20.1"}, nil))
	cases := []struct {
		client string
		want   string
	}{
		{"127.0.10.5", "127.0.10.1"},
		{"127.0.20.200", "127.0.20.1"},
		{"127.0.30.5", ""},
		{"::1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.client, func(t *testing.T) {
			h, ok := c.Lookup(base, netip.MustParseAddr(tc.client))
			if tc.want == "" {
				if ok {
					t.Fatalf("client %s got %v", tc.client, h.Msg.Answer)
				}
				return
			}
			if !ok || h.Msg.Answer[0].(*dns.A).A.String() != tc.want {
				t.Fatalf("client %s: ok=%v %v", tc.client, ok, h.Msg)
			}
		})
	}
	// a global answer is found for everyone
	c.Set(base, answer(t, 0, []string{"www.example.test. 60 IN A 192.0.2.9"}, nil))
	if h, ok := c.Lookup(base, netip.MustParseAddr("127.0.30.5")); !ok || h.Key.Scope.IsValid() {
		t.Fatalf("global entry not found")
	}
	if h, ok := c.Lookup(base, netip.MustParseAddr("127.0.10.5")); !ok || h.Key.Scope != eu.Scope {
		t.Fatalf("the global entry shadowed the client's own scope: %v", h.Key)
	}
	if n := c.DeleteName("WWW.example.test"); n != 3 {
		t.Fatalf("DeleteName removed %d, want 3", n)
	}
	if _, ok := c.Lookup(base, netip.MustParseAddr("127.0.10.5")); ok {
		t.Fatal("entry survived DeleteName")
	}
}

func TestDeleteFlushSweep(t *testing.T) {
	c, clk := newCache(t, func(cfg *Config) { cfg.StaleWindow = 10 * time.Second })
	for i := 0; i < 100; i++ {
		n := fmt.Sprintf("h%d.test.", i)
		ttl := 10
		if i%2 == 0 {
			ttl = 100
		}
		c.Set(key(n, dns.TypeA), answer(t, 0, []string{fmt.Sprintf("%s %d IN A 192.0.2.1", n, ttl)}, nil))
	}
	c.Set(key("h1.test.", dns.TypeAAAA), answer(t, 0, []string{"h1.test. 100 IN AAAA 2001:db8::1"}, nil))
	if !c.Delete(key("h1.test.", dns.TypeAAAA)) || c.Delete(key("h1.test.", dns.TypeAAAA)) {
		t.Fatal("Delete")
	}
	clk.Advance(15 * time.Second) // odd ones expired 5 s ago: stale, kept
	if n := c.Sweep(); n != 0 {
		t.Fatalf("swept %d within the stale window", n)
	}
	clk.Advance(6 * time.Second)
	if n := c.Sweep(); n != 50 {
		t.Fatalf("swept %d, want 50", n)
	}
	if c.Len() != 50 {
		t.Fatalf("len %d", c.Len())
	}
	if n := c.Flush(); n != 50 || c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("flush %d len %d bytes %d", n, c.Len(), c.Bytes())
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"shards not power of two", func(c *Config) { c.Shards = 3 }, "shards: 3: must be a power of two"},
		{"too few entries", func(c *Config) { c.MaxEntries = 4 }, "max_entries: 4: must be at least the shard count"},
		{"too few bytes", func(c *Config) { c.MaxBytes = 100 }, "max_bytes: 100: "},
		{"min above max", func(c *Config) { c.MinTTL = 2 * time.Hour; c.MaxTTL = time.Hour }, "min_ttl: 2h0m0s: must be at most max_ttl (1h0m0s)"},
		{"jitter", func(c *Config) { c.Jitter = 0.9 }, "jitter: 0.9: "},
		{"negative stale", func(c *Config) { c.StaleWindow = -1 }, "stale_window: -1ns: must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mod(&cfg)
			if _, err := New(cfg, nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestJitter(t *testing.T) {
	c, _ := newCache(t, func(cfg *Config) { cfg.Jitter = 0.2 })
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		d, err := c.Set(key("j.test.", dns.TypeA), answer(t, 0, []string{"j.test. 1000 IN A 192.0.2.1"}, nil))
		if err != nil || d > 1000*time.Second || d < 800*time.Second {
			t.Fatalf("jittered ttl %v outside [800s,1000s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 5 {
		t.Fatalf("jitter produced only %d distinct TTLs", len(seen))
	}
}

func TestConcurrent(t *testing.T) {
	c, clk := newCache(t, func(cfg *Config) { cfg.MaxEntries = 256 })
	msgs := make([]*dns.Msg, 64)
	for i := range msgs {
		msgs[i] = answer(t, 0, []string{fmt.Sprintf("c%d.test. 60 IN A 192.0.2.1", i)}, nil)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				n := (i*7 + g) % 64
				k := key(fmt.Sprintf("c%d.test.", n), dns.TypeA)
				switch i % 5 {
				case 0:
					c.Set(k, msgs[n])
				case 1:
					if i%100 == 1 {
						c.DeleteName(k.Name)
					}
				default:
					if h, ok := c.Get(k); ok {
						var r dns.Msg
						h.Fill(&r, clk.Now(), 30)
					}
				}
				if g == 0 && i%500 == 0 {
					clk.Advance(time.Second)
					c.Sweep()
					c.Entries(nil)
				}
			}
		}(g)
	}
	wg.Wait()
	if c.Len() > c.Config().MaxEntries {
		t.Fatalf("len %d over bound", c.Len())
	}
}

func BenchmarkGetFill(b *testing.B) {
	c, clk := newCache(b, nil)
	k := key("www.example.test.", dns.TypeA)
	c.Set(k, answer(b, 0, []string{"www.example.test. 300 IN A 127.0.3.10", "www.example.test. 300 IN A 127.0.3.11", "www.example.test. 300 IN A 127.0.3.12"}, nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var r dns.Msg
		for pb.Next() {
			h, ok := c.Get(k)
			if !ok {
				b.Fatal("miss")
			}
			h.Fill(&r, clk.Now(), 30)
		}
	})
}

func TestFillRotatesRRsets(t *testing.T) {
	c, clk := newCache(t, nil)
	k := key("alias.example.test.", dns.TypeA)
	c.Set(k, answer(t, 0, []string{
		"alias.example.test. 300 IN CNAME www.example.test.",
		"www.example.test. 300 IN A 192.0.2.1",
		"www.example.test. 300 IN A 192.0.2.2",
		"www.example.test. 300 IN A 192.0.2.3",
	}, nil))
	firsts := map[string]bool{}
	for i := 0; i < 6; i++ {
		h, _ := c.Get(k)
		var r dns.Msg
		h.Fill(&r, clk.Now(), 0)
		if len(r.Answer) != 4 || r.Answer[0].Header().Rrtype != dns.TypeCNAME {
			t.Fatalf("CNAME must stay first: %v", r.Answer)
		}
		seen := map[string]bool{}
		for _, rr := range r.Answer[1:] {
			seen[rr.(*dns.A).A.String()] = true
		}
		if len(seen) != 3 {
			t.Fatalf("rotation lost records: %v", r.Answer)
		}
		firsts[r.Answer[1].(*dns.A).A.String()] = true
	}
	if len(firsts) != 3 {
		t.Fatalf("first address did not rotate through all three: %v", firsts)
	}
}

// FuzzSetFill stores arbitrary upstream messages and reads them back: no
// panic, byte accounting holds, and no answered TTL exceeds what was stored.
func FuzzSetFill(f *testing.F) {
	seed := []*dns.Msg{
		answer(f, 0, []string{"a.test. 300 IN A 192.0.2.1", "a.test. 30 IN A 192.0.2.2"}, nil),
		answer(f, dns.RcodeNameError, nil, []string{fmt.Sprintf(soa, 60)}),
		answer(f, 0, nil, []string{fmt.Sprintf(soa, 60)}),
	}
	for _, m := range seed {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0), uint16(10))
	}
	c, clk := newCache(f, func(cfg *Config) { cfg.MaxEntries, cfg.MaxBytes, cfg.Shards = 64, 64*4096, 4 })
	cfg := c.Config()
	f.Fuzz(func(t *testing.T, pkt []byte, kind uint8, advance uint16) {
		m := new(dns.Msg)
		if m.Unpack(pkt) != nil {
			return
		}
		k := key("fuzz.test.", dns.TypeA)
		k.Kind = Kind(kind % 2)
		ttl, err := c.Set(k, m)
		if err != nil {
			return
		}
		clk.Advance(time.Duration(advance) * time.Millisecond)
		h, ok := c.Get(k)
		if !ok {
			if time.Duration(advance)*time.Millisecond < ttl {
				t.Fatalf("entry with TTL %v gone after %dms", ttl, advance)
			}
			return
		}
		var r dns.Msg
		h.Fill(&r, clk.Now(), 30)
		for _, rr := range append(append(r.Answer, r.Ns...), r.Extra...) {
			if !h.Stale && time.Duration(rr.Header().Ttl)*time.Second > cfg.MaxTTL {
				t.Fatalf("TTL %d above the cap", rr.Header().Ttl)
			}
		}
		if c.Bytes() > cfg.MaxBytes || c.Len() > cfg.MaxEntries {
			t.Fatalf("bounds exceeded: %d entries %d bytes", c.Len(), c.Bytes())
		}
	})
}
