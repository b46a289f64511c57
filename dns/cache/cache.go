// Package cache is the resolver's message cache: whole upstream responses
// keyed by question (and, for EDNS Client Subnet answers, by the scope the
// authoritative server returned), positive and negative (RFC 2308), with TTLs
// that count down on an injected clock, min/max caps, optional jitter,
// serve-stale (RFC 8767) within a bounded window, and a bound on both entries
// and bytes enforced per shard with SIEVE eviction.
//
// The cache is split into shards chosen by a hash of the owner name, so all
// types of one name live in one shard (flushing a name touches one lock) and
// two cores reading different names rarely meet on the same lock. Reads take
// a shard's read lock only; the eviction policy's "visited" bit is an atomic.
package cache

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/cfgerr"
)

// Kind separates what an entry is for: an answer to a question, or a
// delegation point (the parent-side NS set and glue for a zone cut) that the
// resolver starts from. A delegation is never served as an answer.
type Kind uint8

// Entry kinds. An NXDomainCut entry (stored under Type 0) records that a
// name does not exist, so neither does anything below it (RFC 8020).
const (
	Answer Kind = iota
	Delegation
	NXDomainCut
)

func (k Kind) String() string {
	switch k {
	case Delegation:
		return "delegation"
	case NXDomainCut:
		return "nxdomain-cut"
	}
	return "answer"
}

// Key identifies an entry. Name is a lower-case fully qualified name. Scope
// is the EDNS Client Subnet scope the answer applies to (RFC 7871 §7.3.1: the
// source address masked to the returned SCOPE PREFIX-LENGTH); the zero Prefix
// means "valid for every client". Lookup finds a scoped entry only for a
// client inside its scope, so one subnet's answer is never served to another.
type Key struct {
	Name  string
	Type  uint16
	Class uint16
	Kind  Kind
	Scope netip.Prefix
}

func (k Key) String() string {
	s := fmt.Sprintf("%s %s %s", k.Name, dns.ClassToString[k.Class], dns.TypeToString[k.Type])
	if k.Kind != Answer {
		s += " (" + k.Kind.String() + ")"
	}
	if k.Scope.IsValid() {
		s += " scope " + k.Scope.String()
	}
	return s
}

// Config bounds the cache and shapes TTLs.
type Config struct {
	MaxEntries     int           `mapstructure:"max_entries"`      // across all shards; > 0
	MaxBytes       int64         `mapstructure:"max_bytes"`        // approximate memory across all shards; > 0
	Shards         int           `mapstructure:"shards"`           // power of two; 0 = 16
	MinTTL         time.Duration `mapstructure:"min_ttl"`          // floor for positive TTLs (Unbound cache-min-ttl)
	MaxTTL         time.Duration `mapstructure:"max_ttl"`          // cap for positive TTLs (cache-max-ttl)
	NegativeMaxTTL time.Duration `mapstructure:"negative_max_ttl"` // cap for NXDOMAIN/NODATA (cache-max-negative-ttl)
	// StaleWindow bounds serve-stale: how long past expiry an entry is
	// kept and may still be served when upstreams fail; 0 = not kept.
	StaleWindow time.Duration `mapstructure:"stale_window"`
	// Jitter 0..0.5: stored TTL shortened by a random fraction up to this,
	// so entries do not expire together.
	Jitter float64 `mapstructure:"jitter"`
}

// DefaultConfig is a cache of 100k entries / 64 MiB with Unbound-like caps.
func DefaultConfig() Config {
	return Config{
		MaxEntries:     100_000,
		MaxBytes:       64 << 20,
		Shards:         16,
		MinTTL:         0,
		MaxTTL:         24 * time.Hour,
		NegativeMaxTTL: time.Hour,
		StaleWindow:    time.Hour,
	}
}

// What an entry costs in memory beside its records, and each record
// beside its uncompressed wire form (the RR struct, its slot in a section,
// the owner name's string header), measured with 1,000,000 names
// (TestByteBoundMillionNames): the byte bound is a bound on the heap.
const (
	entryOverhead = 500 // entry, Key, map slot and its growth slack, dns.Msg
	rrOverhead    = 80
)

// What a packed reply (wire.go) costs beside its bytes: the variant's
// slices and, per record, its TTL's place.
const (
	wireOverhead   = 96
	wireRROverhead = 16
)

// memory estimates the heap an entry holds: its message, and the packed
// replies AppendWire makes of it at its first hits, charged when it is
// stored (a bound that counted them only once made would let a cache
// whose every entry is served packed hold 1.7 times its bound).
func memory(k Key, m *dns.Msg) int64 {
	n := len(k.Name) + entryOverhead
	reply := 12 + len(k.Name) + 4 + wireOverhead // header, question
	signed := false
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			l := dns.Len(rr) // uncompressed: the packed form is no longer
			n += l + rrOverhead
			reply += l + wireRROverhead
			signed = signed || IsDNSSECType(rr.Header().Rrtype)
		}
	}
	packed := wireVariants(m.Answer) * reply
	if signed { // and the plain form, for clients without DO
		packed *= 2
	}
	return int64(n + packed)
}

type entry struct {
	key      Key
	msg      *dns.Msg // read-only once stored
	stored   int64    // unix nanoseconds
	expire   int64    // unix nanoseconds
	ttl      uint32   // seconds, after caps and jitter
	negative bool
	size     int64

	visited    atomic.Bool
	hits       atomic.Uint32
	prefetched atomic.Bool
	rendered   atomic.Pointer[rendering]
	wire       atomic.Pointer[wire] // packed on the first AppendWire (wire.go)
	plain      atomic.Pointer[wire] // without DNSSEC records, on the first plain AppendWire of a signed reply

	prev, next *entry // toward head (newer) / toward tail (older)
}

type shard struct {
	mu         sync.RWMutex
	m          map[Key]*entry
	head, tail *entry
	hand       *entry
	bytes      int64
	maxEntries int
	maxBytes   int64
	// scopes records, per unscoped key, the ECS prefix lengths of the
	// entries held, most specific first, so Lookup tries only those. A
	// slice is never changed once stored (Lookup reads it after unlocking).
	// scopeN counts the entries of each length, so the index follows the
	// entries through eviction, expiry and deletion; scoped says whether
	// there are any (a lock-free check on the hot path).
	scopes map[Key][]int
	scopeN map[scopeRef]int
	scoped atomic.Bool
}

// Cache is safe for concurrent use.
type Cache struct {
	cfg       Config
	now       func() time.Time
	seed      maphash.Seed
	shards    []*shard
	mask      uint64
	evictions atomic.Uint64
	entries   atomic.Int64
	bytes     atomic.Int64
	observer  atomic.Pointer[Observer]
}

// New builds a cache; now is the clock (time.Now when nil).
func New(cfg Config, now func() time.Time) (*Cache, error) {
	if cfg.Shards == 0 {
		cfg.Shards = 16
	}
	switch {
	case cfg.Shards < 1 || cfg.Shards&(cfg.Shards-1) != 0:
		return nil, cfgerr.New("shards", cfg.Shards, "must be a power of two")
	case cfg.MaxEntries < cfg.Shards:
		return nil, cfgerr.New("max_entries", cfg.MaxEntries, "must be at least the shard count %d", cfg.Shards)
	case cfg.MaxBytes < int64(cfg.Shards)*4096:
		return nil, cfgerr.New("max_bytes", cfg.MaxBytes, "must leave at least 4 KiB per shard (%d shards)", cfg.Shards)
	case cfg.MinTTL < 0:
		return nil, cfgerr.New("min_ttl", cfg.MinTTL, "must not be negative")
	case cfg.MaxTTL < 0:
		return nil, cfgerr.New("max_ttl", cfg.MaxTTL, "must not be negative")
	case cfg.NegativeMaxTTL < 0:
		return nil, cfgerr.New("negative_max_ttl", cfg.NegativeMaxTTL, "must not be negative")
	case cfg.StaleWindow < 0:
		return nil, cfgerr.New("stale_window", cfg.StaleWindow, "must not be negative")
	case cfg.MaxTTL > 0 && cfg.MinTTL > cfg.MaxTTL:
		return nil, cfgerr.New("min_ttl", cfg.MinTTL, "must be at most max_ttl (%s)", cfg.MaxTTL)
	case cfg.Jitter < 0 || cfg.Jitter > 0.5:
		return nil, cfgerr.New("jitter", cfg.Jitter, "must be from 0 to 0.5")
	}
	if now == nil {
		now = time.Now
	}
	c := &Cache{cfg: cfg, now: now, seed: maphash.MakeSeed(), mask: uint64(cfg.Shards - 1)}
	for i := 0; i < cfg.Shards; i++ {
		c.shards = append(c.shards, &shard{
			m:          make(map[Key]*entry),
			maxEntries: cfg.MaxEntries / cfg.Shards,
			maxBytes:   cfg.MaxBytes / int64(cfg.Shards),
			scopes:     make(map[Key][]int),
			scopeN:     make(map[scopeRef]int),
		})
	}
	return c, nil
}

// Config returns the configuration in use.
func (c *Cache) Config() Config { return c.cfg }

func (c *Cache) shard(name string) *shard {
	return c.shards[maphash.String(c.seed, name)&c.mask]
}

// Len is the number of entries (fresh and stale).
func (c *Cache) Len() int { return int(c.entries.Load()) }

// Bytes is the approximate memory held by entries.
func (c *Cache) Bytes() int64 { return c.bytes.Load() }

// Evictions counts entries removed to respect the bounds.
func (c *Cache) Evictions() uint64 { return c.evictions.Load() }
