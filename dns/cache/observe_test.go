package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The observer sees every change with the right op: set (with the TTL),
// evict, expire, flush of one entry, of a name and of everything.
func TestObserver(t *testing.T) {
	c, clk := newCache(t, func(cfg *Config) { cfg.Shards, cfg.MaxEntries, cfg.StaleWindow = 1, 2, 0 })
	var got []string
	c.SetObserver(func(op Op, k Key, ttl uint32) { got = append(got, fmt.Sprintf("%s %s %d", op, k.Name, ttl)) })
	set := func(name string, ttl int) {
		c.Set(key(name, dns.TypeA), answer(t, 0, []string{fmt.Sprintf("%s %d IN A 192.0.2.1", name, ttl)}, nil))
	}
	set("a.test.", 60)
	set("b.test.", 300)
	set("c.test.", 300) // evicts a (unvisited, oldest)
	clk.Advance(61 * time.Second)
	c.Delete(key("b.test.", dns.TypeA))
	set("d.test.", 10)
	clk.Advance(11 * time.Second)
	c.Sweep() // d expired
	c.DeleteName("c.test.")
	c.Flush()
	want := []string{"set a.test. 60", "set b.test. 300", "evict a.test. 0", "set c.test. 300",
		"flush b.test. 0", "set d.test. 10", "expire d.test. 0", "flush c.test. 0", "flush  0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observed\n%v\nwant\n%v", got, want)
	}
	c.SetObserver(nil)
	set("e.test.", 1)
	if len(got) != len(want) {
		t.Fatal("observer still called after removal")
	}
}
