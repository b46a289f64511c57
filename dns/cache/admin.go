package cache

import (
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// Delete removes the entry under exactly k and reports whether it existed.
func (c *Cache) Delete(k Key) bool {
	s := c.shard(k.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if ok {
		c.unlink(s, e)
		c.notify(OpFlush, k, 0)
	}
	return ok
}

// DeleteName removes every entry owned by name (any type, kind or scope)
// and returns how many there were.
func (c *Cache) DeleteName(name string) int {
	name = strings.ToLower(dns.Fqdn(name))
	s := c.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.m {
		if k.Name == name {
			c.unlink(s, e)
			c.notify(OpFlush, k, 0)
			n++
		}
	}
	return n
}

// Flush empties the cache and returns how many entries it held.
func (c *Cache) Flush() int {
	n := 0
	for _, s := range c.shards {
		s.mu.Lock()
		n += len(s.m)
		for _, e := range s.m {
			c.entries.Add(-1)
			c.bytes.Add(-e.size)
		}
		s.m = make(map[Key]*entry)
		s.indexReset()
		s.head, s.tail, s.hand, s.bytes = nil, nil, nil, 0
		s.mu.Unlock()
	}
	c.notify(OpFlush, Key{}, 0)
	return n
}

// Sweep removes entries past expiry plus the stale window and returns how
// many. The resolver runs it periodically so dead entries do not wait for
// eviction.
func (c *Cache) Sweep() int {
	now := c.now().UnixNano()
	n := 0
	for _, s := range c.shards {
		s.mu.Lock()
		for _, e := range s.m {
			if now >= e.expire+int64(c.cfg.StaleWindow) {
				c.unlink(s, e)
				c.notify(OpExpire, e.key, 0)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Entries returns a snapshot of the entries that match (all when match is
// nil), sorted by name, type, kind and scope. It does not count as a hit.
func (c *Cache) Entries(match func(Key) bool) []Hit {
	now := c.now().UnixNano()
	var out []Hit
	for _, s := range c.shards {
		s.mu.RLock()
		for k, e := range s.m {
			if now >= e.expire+int64(c.cfg.StaleWindow) {
				continue
			}
			if match == nil || match(k) {
				out = append(out, c.hit(e, now))
			}
		}
		s.mu.RUnlock()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Scope.String() < b.Scope.String()
	})
	return out
}
