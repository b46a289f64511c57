package dnssec

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// sigCacheEntries bounds a zone's cached signatures; past it the cache
// starts again empty (a flood of NXDOMAIN names, each with its own white
// lie, cannot grow it without bound).
const sigCacheEntries = 200_000

// sigEntry is the signatures of one RRset and when to make them anew.
type sigEntry struct {
	sigs    []*dns.RRSIG // owner as signed (lower case, the wildcard for synthesised data)
	refresh time.Time
}

// rrsigs returns copies of the signatures with the answer's owner and TTL.
func (e *sigEntry) rrsigs(owner string, ttl uint32) []dns.RR {
	out := make([]dns.RR, len(e.sigs))
	for i, s := range e.sigs {
		c := *s
		c.Hdr.Name = owner
		c.Hdr.Ttl = ttl
		out[i] = &c
	}
	return out
}

type sigCache struct {
	mu  sync.RWMutex
	m   map[string]*sigEntry
	max int
}

func newSigCache(max int) *sigCache { return &sigCache{m: map[string]*sigEntry{}, max: max} }

func (c *sigCache) get(key string) *sigEntry {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	return e
}

func (c *sigCache) put(key string, e *sigEntry) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = map[string]*sigEntry{}
	}
	c.m[key] = e
	c.mu.Unlock()
}

func (c *sigCache) reset() {
	c.mu.Lock()
	c.m = map[string]*sigEntry{}
	c.mu.Unlock()
}
