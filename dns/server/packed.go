package server

import (
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

type packedShard struct {
	mu    sync.RWMutex
	m     map[string]*packedAnswer
	bytes int
}

// packedAnswer is one answer, packed once per rotation variant with the
// question in lower case, ID 0, RD, CD and RA clear; when the query had
// EDNS the reply's OPT (no options) is the last record.
type packedAnswer struct {
	name     string   // the question name, lower case, presentation form
	cname    string   // the last CNAME target in the answer, lower case ("" none): GeoDNS may own it
	outside  bool     // the name is in none of the zones: no variants, the recursor may answer
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
	return &packedCache{set: set, maxBytes: packedCacheBytes / packedShards}
}

func (c *packedCache) shard(key []byte) *packedShard {
	// FNV-1a over the key: cheap, and the name's bytes spread well
	h := uint32(2166136261)
	for _, b := range key {
		h = (h ^ uint32(b)) * 16777619
	}
	return &c.shards[h%packedShards]
}

// get returns the answer for key, or nil.
func (c *packedCache) get(key []byte) *packedAnswer {
	s := c.shard(key)
	s.mu.RLock()
	a := s.m[string(key)]
	s.mu.RUnlock()
	return a
}

// put stores a under key (a copy is made of key).
func (c *packedCache) put(key []byte, a *packedAnswer) {
	size := len(key) + len(a.name) + len(a.cname) + entryOverhead
	for _, v := range a.variants {
		size += len(v) + 24
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || s.bytes+size > c.maxBytes {
		s.m, s.bytes = make(map[string]*packedAnswer), 0
	}
	if old, ok := s.m[string(key)]; ok && !old.signed {
		return // signed answers are replaced when they are signed anew
	}
	s.m[string(key)] = a
	s.bytes += size
}

// pick returns the variant to serve now: each in turn.
func (a *packedAnswer) pick() []byte {
	if len(a.variants) == 1 {
		return a.variants[0]
	}
	return a.variants[(a.next.Add(1)-1)%uint32(len(a.variants))]
}
