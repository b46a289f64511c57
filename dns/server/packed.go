package server

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"netsim/dns/auth"
	"netsim/dns/rrl"
)

// packedCache holds the packed wire form of authoritative answers for one
// zone snapshot (an auth.Set): the handler swaps in a new, empty one with
// every new set, so a reload or a record change can never serve a stale
// answer. Entries are keyed by wireQuery.key (name, type, class, EDNS and
// DO); the ID, the question's case, RD, CD, RA and the client's cookie
// are patched per query.
type packedCache struct {
	set    *auth.Set
	shards [packedShards]packedShard
	// maxBytes bounds each shard: past it the shard starts again empty,
	// so a flood of distinct names (NXDOMAIN floods) cannot grow it.
	maxBytes int
	// seed keys the hash of the cache keys: names chosen to collide in
	// one table cannot be computed from outside.
	seed maphash.Seed
}

const (
	packedShards = 16
	// packedCacheBytes bounds one listener's packed answers.
	packedCacheBytes = 8 << 20
	// maxVariants bounds the rotations kept of one answer; an answer with
	// more goes the full way each time.
	maxVariants = 16
	// entryOverhead is what an entry costs beside its bytes (the map slot,
	// the struct, the slice headers), for the byte bound.
	entryOverhead = 160
)

// packedShard is an open-addressed table (linear probing, at most half
// full) that readers search without a lock: the table and each slot are
// atomic pointers, and an answer, once in a slot, is never changed (a
// signed one is replaced by a new answer). Writers hold mu. A Go map
// behind a RWMutex cost two atomic read-modify-writes and a second hash
// of the key on every answer.
type packedShard struct {
	mu    sync.Mutex
	tab   atomic.Pointer[packedTable]
	bytes int
}

type packedTable struct {
	slots []atomic.Pointer[packedAnswer] // len a power of two
	n     int                            // answers in slots (under mu)
}

// minSlots is a shard table's first size.
const minSlots = 64

// packedAnswer is one answer, packed once per rotation variant with the
// question in lower case, ID 0, RD, CD and RA clear; when the query had
// EDNS the reply's OPT (no options) is the last record.
type packedAnswer struct {
	key      string // the cache key (wireQuery.key) and its hash
	hash     uint64
	name     string   // the question name, lower case, presentation form
	cname    string   // the last CNAME target in the answer, lower case ("" none): GeoDNS may own it
	outside  bool     // the name is in none of the zones: no variants, the recursor may answer
	geo      bool     // GeoDNS answers it: no variants here, an answer per geo variant (serveGeo)
	keep     any      // what the key names (geo.Variant.Keep), held as long as the answer
	variants [][]byte // by rotation; served in turn
	next     atomic.Uint32
	rcode    int
	answers  int // records in the answer section (for nothing but tests)
	// the rate limiter's account (rrl.go): kind, the name it is keyed by, its hash
	kind      rrl.Kind
	owner     string
	ownerHash uint64
	// signed: the answer carries signatures (DO), to be packed anew from
	// until on, before they near their expiry
	signed bool
	until  time.Time
}

// sign notes that a variant was signed, to be signed again from until.
func (a *packedAnswer) sign(until time.Time) {
	if until.IsZero() {
		return
	}
	if !a.signed || until.Before(a.until) {
		a.signed, a.until = true, until
	}
}

func newPackedCache(set *auth.Set) *packedCache {
	return &packedCache{set: set, maxBytes: packedCacheBytes / packedShards, seed: maphash.MakeSeed()}
}

// hash is the key's hash: the shard from its top bits, the slot from the
// low ones.
func (c *packedCache) hash(key []byte) uint64 { return maphash.Bytes(c.seed, key) }

func (c *packedCache) shard(h uint64) *packedShard { return &c.shards[h>>60%packedShards] }

// get returns the answer for key, of hash h, or nil.
func (c *packedCache) get(key []byte, h uint64) *packedAnswer {
	t := c.shard(h).tab.Load()
	if t == nil {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		a := t.slots[i].Load()
		if a == nil || a.hash == h && a.key == string(key) {
			return a
		}
	}
}

// put stores a under key, of hash h.
func (c *packedCache) put(key []byte, h uint64, a *packedAnswer) {
	a.key, a.hash = string(key), h
	size := len(key) + len(a.name) + len(a.cname) + entryOverhead
	for _, v := range a.variants {
		size += len(v) + 24
	}
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tab.Load()
	if t == nil || s.bytes+size > c.maxBytes {
		t, s.bytes = &packedTable{slots: make([]atomic.Pointer[packedAnswer], minSlots)}, 0
		s.tab.Store(t)
	}
	if 2*(t.n+1) > len(t.slots) { // grown in a copy: readers go on in the old one
		t = t.grown()
		s.tab.Store(t)
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		old := t.slots[i].Load()
		if old == nil {
			t.slots[i].Store(a)
			t.n++
			s.bytes += size
			return
		}
		if old.hash == h && old.key == a.key {
			if old.signed { // signed answers are replaced when they are signed anew
				t.slots[i].Store(a)
			}
			return
		}
	}
}

// grown is a copy of t with twice the slots.
func (t *packedTable) grown() *packedTable {
	g := &packedTable{slots: make([]atomic.Pointer[packedAnswer], 2*len(t.slots)), n: t.n}
	mask := uint64(len(g.slots) - 1)
	for j := range t.slots {
		a := t.slots[j].Load()
		if a == nil {
			continue
		}
		i := a.hash & mask
		for g.slots[i].Load() != nil {
			i = (i + 1) & mask
		}
		g.slots[i].Store(a)
	}
	return g
}

// pick returns the variant to serve now: each in turn.
func (a *packedAnswer) pick() []byte {
	if len(a.variants) == 1 {
		return a.variants[0]
	}
	return a.variants[(a.next.Add(1)-1)%uint32(len(a.variants))]
}
