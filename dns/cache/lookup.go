package cache

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Hit is a read-only view of an entry at the time of the lookup.
type Hit struct {
	Key       Key
	Msg       *dns.Msg // shared: do not modify; use Fill to build a reply
	Stored    time.Time
	TTL       time.Duration // as stored, after caps and jitter
	Remaining time.Duration // negative once expired
	Stale     bool          // expired, kept within the stale window
	Negative  bool
	Hits      uint32
	Size      int64
	e         *entry
}

func (c *Cache) hit(e *entry, now int64) Hit {
	return Hit{
		Key:       e.key,
		Msg:       e.msg,
		Stored:    time.Unix(0, e.stored),
		TTL:       time.Duration(e.ttl) * time.Second,
		Remaining: time.Duration(e.expire - now),
		Stale:     now >= e.expire,
		Negative:  e.negative,
		Hits:      e.hits.Load(),
		Size:      e.size,
		e:         e,
	}
}

// Get returns the entry under exactly k (Name must be lower case). An
// entry past expiry is returned flagged Stale while within the stale
// window; past it, the entry is removed and Get misses.
func (c *Cache) Get(k Key) (Hit, bool) { return c.get(k, c.now().UnixNano()) }

// GetAt is Get with the caller's reading of the clock (saves one).
func (c *Cache) GetAt(k Key, now time.Time) (Hit, bool) { return c.get(k, now.UnixNano()) }

func (c *Cache) get(k Key, now int64) (Hit, bool) {
	s := c.shard(k.Name)
	s.mu.RLock()
	e, ok := s.m[k]
	if !ok {
		s.mu.RUnlock()
		return Hit{}, false
	}
	if now >= e.expire+int64(c.cfg.StaleWindow) {
		s.mu.RUnlock()
		s.mu.Lock()
		if cur, ok := s.m[k]; ok && cur == e {
			c.unlink(s, e)
		}
		s.mu.Unlock()
		return Hit{}, false
	}
	if !e.visited.Load() {
		e.visited.Store(true)
	}
	e.hits.Add(1)
	h := c.hit(e, now)
	s.mu.RUnlock()
	return h, true
}

// Lookup finds the answer for k valid for client: the entry with the most
// specific scope containing client (RFC 7871 §7.3.1), else the unscoped
// one. k.Scope is ignored.
func (c *Cache) Lookup(k Key, client netip.Addr) (Hit, bool) {
	return c.LookupAt(k, client, c.now())
}

// LookupAt is Lookup with the caller's reading of the clock.
func (c *Cache) LookupAt(k Key, client netip.Addr, at time.Time) (Hit, bool) {
	now := at.UnixNano()
	k.Scope = netip.Prefix{}
	s := c.shard(k.Name)
	if client.IsValid() && s.scoped.Load() {
		s.mu.RLock()
		lens := s.scopes[k]
		s.mu.RUnlock()
		client = client.Unmap()
		for _, l := range lens {
			v6 := l >= 1000
			if v6 != client.Is6() {
				continue
			}
			if v6 {
				l -= 1000
			}
			p, err := client.Prefix(l)
			if err != nil {
				continue
			}
			sk := k
			sk.Scope = p
			if h, ok := c.get(sk, now); ok {
				return h, true
			}
		}
	}
	return c.get(k, now)
}

// ClaimPrefetch reports whether the caller is the first to ask to refresh
// this entry; later calls for the same stored entry return false.
func (h Hit) ClaimPrefetch() bool {
	return h.e != nil && h.e.prefetched.CompareAndSwap(false, true)
}
