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
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
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
	MaxEntries     int           // across all shards; > 0
	MaxBytes       int64         // approximate memory across all shards; > 0
	Shards         int           // power of two; 0 = 16
	MinTTL         time.Duration // floor for positive TTLs (Unbound cache-min-ttl)
	MaxTTL         time.Duration // cap for positive TTLs (cache-max-ttl)
	NegativeMaxTTL time.Duration // cap for NXDOMAIN/NODATA (cache-max-negative-ttl)
	StaleWindow    time.Duration // how long past expiry an entry is kept for serve-stale; 0 = not kept
	Jitter         float64       // 0..0.5: stored TTL shortened by a random fraction up to this, so entries do not expire together
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

// entryOverhead approximates the memory of an entry beyond the wire size of
// its message (structs, map slot, list pointers, RR headers).
const entryOverhead = 256

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
	// scopes records, per unscoped key, which ECS prefix lengths have been
	// stored, most specific first, so Lookup tries only those; scoped says
	// whether there are any (a lock-free check on the hot path).
	scopes map[Key][]int
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
}

// New builds a cache; now is the clock (time.Now when nil).
func New(cfg Config, now func() time.Time) (*Cache, error) {
	if cfg.Shards == 0 {
		cfg.Shards = 16
	}
	switch {
	case cfg.Shards < 1 || cfg.Shards&(cfg.Shards-1) != 0:
		return nil, fmt.Errorf("shards: %d is not a power of two", cfg.Shards)
	case cfg.MaxEntries < cfg.Shards:
		return nil, fmt.Errorf("max_entries: %d is below the shard count %d", cfg.MaxEntries, cfg.Shards)
	case cfg.MaxBytes < int64(cfg.Shards)*4096:
		return nil, fmt.Errorf("max_bytes: %d leaves under 4 KiB per shard (%d shards)", cfg.MaxBytes, cfg.Shards)
	case cfg.MinTTL < 0:
		return nil, fmt.Errorf("min_ttl: %s is negative", cfg.MinTTL)
	case cfg.MaxTTL < 0:
		return nil, fmt.Errorf("max_ttl: %s is negative", cfg.MaxTTL)
	case cfg.NegativeMaxTTL < 0:
		return nil, fmt.Errorf("negative_max_ttl: %s is negative", cfg.NegativeMaxTTL)
	case cfg.StaleWindow < 0:
		return nil, fmt.Errorf("stale_window: %s is negative", cfg.StaleWindow)
	case cfg.MaxTTL > 0 && cfg.MinTTL > cfg.MaxTTL:
		return nil, fmt.Errorf("min_ttl: %s is above max_ttl %s", cfg.MinTTL, cfg.MaxTTL)
	case cfg.Jitter < 0 || cfg.Jitter > 0.5:
		return nil, fmt.Errorf("jitter: %v is outside 0..0.5", cfg.Jitter)
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

// ErrNotCacheable is returned by Set for a response that must not be cached.
var ErrNotCacheable = errors.New("response is not cacheable")

// TTL computes how long msg may be cached under kind, after caps, and
// whether it is a negative answer. ok is false when it must not be cached:
// SERVFAIL and other errors, a negative answer without an SOA (RFC 2308 §5),
// or a TTL of zero.
func (c *Cache) TTL(kind Kind, msg *dns.Msg) (ttl uint32, negative, ok bool) {
	const unset = ^uint32(0)
	min := unset
	take := func(rrs []dns.RR, only uint16) {
		for _, rr := range rrs {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT || (only != 0 && h.Rrtype != only) {
				continue
			}
			if h.Ttl < min {
				min = h.Ttl
			}
		}
	}
	switch {
	case kind == Delegation:
		take(msg.Ns, dns.TypeNS)
		take(msg.Extra, 0)
	case msg.Rcode == dns.RcodeNameError || (msg.Rcode == dns.RcodeSuccess && len(msg.Answer) == 0):
		negative = true
		var soa *dns.SOA
		for _, rr := range msg.Ns {
			if s, isSOA := rr.(*dns.SOA); isSOA {
				soa = s
				break
			}
		}
		if soa == nil {
			return 0, true, false
		}
		min = soa.Hdr.Ttl
		if soa.Minttl < min {
			min = soa.Minttl
		}
		// A CNAME chain ahead of an NXDOMAIN bounds the entry too.
		take(msg.Answer, 0)
	case msg.Rcode == dns.RcodeSuccess:
		take(msg.Answer, 0)
	default:
		return 0, false, false
	}
	if min == unset {
		return 0, negative, false
	}
	ttl = min
	if negative {
		if c.cfg.NegativeMaxTTL > 0 && time.Duration(ttl)*time.Second > c.cfg.NegativeMaxTTL {
			ttl = uint32(c.cfg.NegativeMaxTTL / time.Second)
		}
	} else {
		if time.Duration(ttl)*time.Second < c.cfg.MinTTL {
			ttl = uint32(c.cfg.MinTTL / time.Second)
		}
		if c.cfg.MaxTTL > 0 && time.Duration(ttl)*time.Second > c.cfg.MaxTTL {
			ttl = uint32(c.cfg.MaxTTL / time.Second)
		}
	}
	return ttl, negative, ttl > 0
}

// clampRRs copies rrs with each TTL capped to the configured bounds.
func (c *Cache) clampRRs(rrs []dns.RR, negative bool) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		cp := dns.Copy(rr)
		h := cp.Header()
		if negative {
			if s, ok := cp.(*dns.SOA); ok && s.Minttl < h.Ttl {
				h.Ttl = s.Minttl
			}
			if c.cfg.NegativeMaxTTL > 0 && time.Duration(h.Ttl)*time.Second > c.cfg.NegativeMaxTTL {
				h.Ttl = uint32(c.cfg.NegativeMaxTTL / time.Second)
			}
		} else {
			if time.Duration(h.Ttl)*time.Second < c.cfg.MinTTL {
				h.Ttl = uint32(c.cfg.MinTTL / time.Second)
			}
			if c.cfg.MaxTTL > 0 && time.Duration(h.Ttl)*time.Second > c.cfg.MaxTTL {
				h.Ttl = uint32(c.cfg.MaxTTL / time.Second)
			}
		}
		out = append(out, cp)
	}
	return out
}

// Set stores a copy of msg under k and returns the TTL it will live for.
// The header fields kept are Rcode, Authoritative and the sections; the
// question is taken from k when answering. An entry already under k is
// replaced.
func (c *Cache) Set(k Key, msg *dns.Msg) (time.Duration, error) {
	ttl, negative, ok := c.TTL(k.Kind, msg)
	if !ok {
		return 0, ErrNotCacheable
	}
	if c.cfg.Jitter > 0 && ttl > 1 {
		cut := uint32(float64(ttl) * c.cfg.Jitter * rand.Float64())
		ttl -= cut
	}
	k.Name = strings.ToLower(k.Name)
	if k.Scope.IsValid() {
		k.Scope = k.Scope.Masked()
	}
	stored := &dns.Msg{}
	stored.Rcode = msg.Rcode
	stored.Authoritative = msg.Authoritative
	stored.Answer = c.clampRRs(msg.Answer, false)
	stored.Ns = c.clampRRs(msg.Ns, negative)
	stored.Extra = c.clampRRs(msg.Extra, false)
	now := c.now().UnixNano()
	e := &entry{
		key:      k,
		msg:      stored,
		stored:   now,
		expire:   now + int64(ttl)*int64(time.Second),
		ttl:      ttl,
		negative: negative,
		size:     int64(stored.Len()+len(k.Name)) + entryOverhead,
	}
	s := c.shard(k.Name)
	if e.size > s.maxBytes/4 {
		return 0, fmt.Errorf("%w: %d bytes is over a quarter of a shard's %d", ErrNotCacheable, e.size, s.maxBytes)
	}
	s.mu.Lock()
	if old, ok := s.m[k]; ok {
		c.unlink(s, old)
	}
	for len(s.m) >= s.maxEntries || (s.bytes+e.size > s.maxBytes && len(s.m) > 0) {
		c.evict(s)
	}
	s.m[k] = e
	s.bytes += e.size
	c.entries.Add(1)
	c.bytes.Add(e.size)
	// insert at head
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
	if k.Scope.IsValid() {
		base := k
		base.Scope = netip.Prefix{}
		bits := k.Scope.Bits()
		if k.Scope.Addr().Is6() {
			bits += 1000 // keep v4 and v6 lengths apart
		}
		lens := s.scopes[base]
		found := false
		for _, l := range lens {
			if l == bits {
				found = true
				break
			}
		}
		if !found {
			lens = append(lens, bits)
			sort.Sort(sort.Reverse(sort.IntSlice(lens)))
			s.scopes[base] = lens
			s.scoped.Store(true)
		}
	}
	s.mu.Unlock()
	return time.Duration(ttl) * time.Second, nil
}

// unlink removes e from s; s.mu is held.
func (c *Cache) unlink(s *shard, e *entry) {
	if s.hand == e {
		s.hand = e.prev
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
	delete(s.m, e.key)
	s.bytes -= e.size
	c.entries.Add(-1)
	c.bytes.Add(-e.size)
}

// evict removes one entry by SIEVE: the hand walks from the oldest entry
// toward the newest, clearing visited bits, and removes the first entry not
// visited since the hand last passed. s.mu is held.
func (c *Cache) evict(s *shard) {
	e := s.hand
	if e == nil {
		e = s.tail
	}
	for e != nil && e.visited.Load() {
		e.visited.Store(false)
		e = e.prev
		if e == nil {
			e = s.tail
		}
	}
	if e == nil {
		return
	}
	s.hand = e.prev
	c.unlink(s, e)
	c.evictions.Add(1)
}

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

// rendering is an entry's records with TTLs counted down to one second
// (or set to the stale TTL), shared by every reply in that second.
type rendering struct {
	dec             uint32
	stale           bool
	staleTTL        uint32
	answer, ns, ext []dns.RR
}

// Fill puts the cached sections into reply with TTLs counted down to now.
// A stale hit gets staleTTL on every record (RFC 8767 §4 suggests 30 s).
// Records whose own TTL has run out show 0. Each RRset of more than one
// record in the answer comes out rotated (round-robin, as Unbound's
// rrset-roundrobin).
//
// The records are shared between replies of the same second and must be
// treated as read-only; the section slices are the reply's own.
func (h Hit) Fill(reply *dns.Msg, now time.Time, staleTTL uint32) {
	elapsed := now.Sub(h.Stored)
	if elapsed < 0 {
		elapsed = 0
	}
	dec := uint32(elapsed / time.Second)
	var r *rendering
	if h.e != nil {
		if cur := h.e.rendered.Load(); cur != nil && cur.dec == dec && cur.stale == h.Stale && (!h.Stale || cur.staleTTL == staleTTL) {
			r = cur
		}
	}
	if r == nil {
		r = &rendering{
			dec: dec, stale: h.Stale, staleTTL: staleTTL,
			answer: copyRRs(nil, h.Msg.Answer, dec, h.Stale, staleTTL),
			ns:     copyRRs(nil, h.Msg.Ns, dec, h.Stale, staleTTL),
			ext:    copyRRs(nil, h.Msg.Extra, dec, h.Stale, staleTTL),
		}
		if h.e != nil {
			h.e.rendered.Store(r)
		}
	}
	reply.Rcode = h.Msg.Rcode
	reply.Answer = append(reply.Answer[:0], r.answer...)
	rotate(reply.Answer, h.Hits)
	reply.Ns = append(reply.Ns[:0], r.ns...)
	reply.Extra = append(reply.Extra[:0], r.ext...)
	if len(reply.Answer) == 0 {
		reply.Answer = nil
	}
	if len(reply.Ns) == 0 {
		reply.Ns = nil
	}
	if len(reply.Extra) == 0 {
		reply.Extra = nil
	}
}

// rotate turns each run of records of one RRset (same owner and type) left
// by off, in place.
func rotate(rrs []dns.RR, off uint32) {
	for i := 0; i < len(rrs); {
		hi := rrs[i].Header()
		j := i + 1
		for j < len(rrs) {
			hj := rrs[j].Header()
			if hj.Rrtype != hi.Rrtype || !strings.EqualFold(hj.Name, hi.Name) {
				break
			}
			j++
		}
		if n := j - i; n > 1 {
			if k := int(off % uint32(n)); k > 0 {
				run := rrs[i:j]
				reverse(run[:k])
				reverse(run[k:])
				reverse(run)
			}
		}
		i = j
	}
}

func reverse(s []dns.RR) {
	for a, b := 0, len(s)-1; a < b; a, b = a+1, b-1 {
		s[a], s[b] = s[b], s[a]
	}
}

func copyRRs(dst, src []dns.RR, dec uint32, stale bool, staleTTL uint32) []dns.RR {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make([]dns.RR, 0, len(src))
	}
	for _, rr := range src {
		cp := dns.Copy(rr)
		hd := cp.Header()
		switch {
		case stale:
			hd.Ttl = staleTTL
		case hd.Ttl > dec:
			hd.Ttl -= dec
		default:
			hd.Ttl = 0
		}
		dst = append(dst, cp)
	}
	return dst
}

// Delete removes the entry under exactly k and reports whether it existed.
func (c *Cache) Delete(k Key) bool {
	s := c.shard(k.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if ok {
		c.unlink(s, e)
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
			n++
		}
	}
	for k := range s.scopes {
		if k.Name == name {
			delete(s.scopes, k)
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
		s.scopes = make(map[Key][]int)
		s.head, s.tail, s.hand, s.bytes = nil, nil, nil, 0
		s.mu.Unlock()
	}
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
