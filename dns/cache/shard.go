package cache

import (
	"net/netip"
	"slices"
)

// link puts e at the head of s (the newest end) and into the scope index;
// s.mu is held and e.key is not in s.
func (c *Cache) link(s *shard, e *entry) {
	s.m[e.key] = e
	s.bytes += e.size
	c.entries.Add(1)
	c.bytes.Add(e.size)
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
	if e.key.Scope.IsValid() {
		s.indexAdd(e.key)
	}
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
	if e.key.Scope.IsValid() {
		s.indexRemove(e.key)
	}
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
	c.notify(OpEvict, e.key, 0)
}

// scopeRef is one prefix length stored under an unscoped key.
type scopeRef struct {
	base Key
	bits int
}

// scopeBits splits a scoped key into its unscoped key and the length the
// index keeps (v6 lengths offset by 1000 to keep them apart from v4).
func scopeBits(k Key) scopeRef {
	bits := k.Scope.Bits()
	if k.Scope.Addr().Is6() {
		bits += 1000
	}
	k.Scope = netip.Prefix{}
	return scopeRef{base: k, bits: bits}
}

// indexAdd counts a scoped entry in; s.mu is held.
func (s *shard) indexAdd(k Key) {
	ref := scopeBits(k)
	s.scopeN[ref]++
	if s.scopeN[ref] > 1 {
		return
	}
	lens := append(slices.Clone(s.scopes[ref.base]), ref.bits) // a new slice: readers may hold the old one
	slices.SortFunc(lens, func(a, b int) int { return b - a })
	s.scopes[ref.base] = lens
	s.scoped.Store(true)
}

// indexRemove counts a scoped entry out; the last entry of a length takes
// the length out of the index, the last length the key. s.mu is held.
func (s *shard) indexRemove(k Key) {
	ref := scopeBits(k)
	if s.scopeN[ref]--; s.scopeN[ref] > 0 {
		return
	}
	delete(s.scopeN, ref)
	lens := slices.DeleteFunc(slices.Clone(s.scopes[ref.base]), func(l int) bool { return l == ref.bits })
	if len(lens) == 0 {
		delete(s.scopes, ref.base)
	} else {
		s.scopes[ref.base] = lens
	}
	s.scoped.Store(len(s.scopes) > 0)
}

// indexReset empties the index; s.mu is held.
func (s *shard) indexReset() {
	s.scopes = make(map[Key][]int)
	s.scopeN = make(map[scopeRef]int)
	s.scoped.Store(false)
}
