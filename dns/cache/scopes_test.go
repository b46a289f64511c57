package cache

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// scopeKeys counts the keys of the scope index across shards.
func (c *Cache) scopeKeys() int {
	n := 0
	for _, s := range c.shards {
		s.mu.RLock()
		n += len(s.scopes)
		s.mu.RUnlock()
	}
	return n
}

// indexLens is how many scope lengths the index holds for k's name and type.
func (c *Cache) indexLens(k Key) int {
	s := c.shard(k.Name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.scopes[k])
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The scope index follows the entries: 200,000 scoped answers (each name
// once, as a scope-returning upstream gives them) through a cache of 1,024
// entries leave at most one index key per entry, and the heap the cache
// holds stays under max_bytes (issue 9, defect 4: the index kept a key per
// name ever stored).
func TestScopeIndexFollowsEviction(t *testing.T) {
	before := heapInUse()
	c, _ := newCache(t, func(cfg *Config) { cfg.MaxEntries, cfg.MaxBytes = 1024, 4<<20 })
	cfg := c.Config()
	msg := answer(t, 0, []string{"x.test. 300 IN A 192.0.2.1"}, nil)
	for i := 0; i < 200_000; i++ {
		k := key(fmt.Sprintf("h%d.scoped.test.", i), dns.TypeA)
		k.Scope = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 24)
		if _, err := c.Set(k, msg); err != nil {
			t.Fatal(err)
		}
	}
	if n, max := c.scopeKeys(), c.Len(); n > max {
		t.Errorf("scope index has %d keys for %d entries (max_entries %d)", n, max, cfg.MaxEntries)
	}
	if grew := int64(heapInUse()) - int64(before); grew > cfg.MaxBytes {
		t.Errorf("the cache holds %d bytes of heap, over max_bytes %d", grew, cfg.MaxBytes)
	}
	runtime.KeepAlive(c)
}

// Expiry (by Get and by Sweep), Delete and replacement take a scoped
// entry's length out of the index when it was the last of its kind, and a
// lookup still finds the entries that remain.
func TestScopeIndexFollowsRemoval(t *testing.T) {
	c, clk := newCache(t, func(cfg *Config) { cfg.StaleWindow = 0 })
	base := key("www.example.test.", dns.TypeA)
	set := func(prefix string, ttl int) Key {
		k := base
		k.Scope = netip.MustParsePrefix(prefix)
		c.Set(k, answer(t, 0, []string{fmt.Sprintf("www.example.test. %d IN A 192.0.2.1", ttl)}, nil))
		return k
	}
	a := set("10.0.1.0/24", 10)
	set("10.0.2.0/24", 100)
	set("10.0.0.0/16", 10)
	set("2001:db8::/56", 10)
	if n := c.scopeKeys(); n != 1 {
		t.Fatalf("%d index keys for one name, want 1", n)
	}
	if !c.Delete(a) {
		t.Fatal("Delete")
	}
	if n := c.indexLens(base); n != 3 {
		t.Fatalf("%d lengths after deleting one /24 of two, want 3: /24, /16 and the v6 /56", n)
	}
	clk.Advance(20 * time.Second)
	if _, ok := c.Lookup(base, netip.MustParseAddr("10.0.9.9")); ok { // the /16 expired: removed by the lookup
		t.Fatal("expired /16 found")
	}
	if n := c.Sweep(); n != 1 { // the v6 one
		t.Fatalf("swept %d, want 1", n)
	}
	if h, ok := c.Lookup(base, netip.MustParseAddr("10.0.2.9")); !ok || h.Key.Scope.Bits() != 24 {
		t.Fatalf("the live /24 is not found: %v %v", ok, h.Key)
	}
	if n := c.indexLens(base); n != 1 {
		t.Fatalf("%d index lengths, want 1: the live /24", n)
	}
	clk.Advance(200 * time.Second)
	c.Sweep()
	if n := c.scopeKeys(); n != 0 {
		t.Fatalf("%d index keys left in an empty cache", n)
	}
}
