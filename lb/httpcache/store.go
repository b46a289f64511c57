package httpcache

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/maypok86/otter/v2"
)

// The store: one otter cache (W-TinyLFU admission and eviction, bounded
// by weight = bytes) from key to item. A response without Vary is an
// item under its primary key (target and host). A response with Vary
// puts a marker naming the Vary fields under the primary key, and the
// entry under the primary key extended with the request's values of
// those fields (Squid's and Varnish's scheme): a lookup reads the marker
// first, then the variant.

// item is what a key holds: an entry, or a Vary marker. A marker has a
// generation, part of its variants' keys: a new marker (after an
// invalidation, or another Vary) makes the old variants unreachable at
// once, without a walk over the keys; eviction then takes them.
type item struct {
	entry *Entry
	vary  []string // canonical field names, for a marker
	gen   uint64
}

func (it *item) weight() uint32 {
	if it.entry != nil {
		return uint32(min(it.entry.Size(), math.MaxUint32))
	}
	n := 64
	for _, v := range it.vary {
		n += len(v)
	}
	return uint32(n)
}

type store struct {
	c         *otter.Cache[string, *item]
	evictions atomic.Int64
	gen       atomic.Uint64
}

func newStore(maxBytes int64) (*store, error) {
	s := &store{}
	c, err := otter.New(&otter.Options[string, *item]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       func(_ string, it *item) uint32 { return it.weight() },
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *item]) {
			if e.WasEvicted() {
				s.evictions.Add(1)
			}
		},
		// Maintenance runs on the goroutine that reads or writes: the
		// cache starts none of its own (every goroutine has an owner).
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, err
	}
	s.c = c
	return s, nil
}

// primaryKey is the key of a request's target: the target (path and
// query) first, so that a purge by path prefix is a prefix match, then
// the host, lower case.
func primaryKey(target, host string) string {
	return target + "\x00" + strings.ToLower(host)
}

// targetOf is the target part of a key.
func targetOf(key string) string {
	t, _, _ := strings.Cut(key, "\x00")
	return t
}

// variantKey extends a primary key with the request's values of the
// Vary fields (normalized by norm when it has a function for a field).
func variantKey(primary string, gen uint64, vary []string, h Header, norm map[string]func(string) string) string {
	var b strings.Builder
	b.WriteString(primary)
	b.WriteString("\x01")
	b.WriteString(strconv.FormatUint(gen, 36))
	for _, name := range vary {
		v := h.Get(name)
		if f := norm[name]; f != nil {
			v = f(v)
		}
		b.WriteString("\x01")
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

// varyFields reads the Vary field names of a response header, canonical
// and in order; star reports "Vary: *" (never matches: not stored).
func varyFields(h http.Header) (names []string, star bool) {
	for _, v := range h.Values("Vary") {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			switch item {
			case "":
			case "*":
				return nil, true
			default:
				names = append(names, http.CanonicalHeaderKey(item))
			}
		}
	}
	return names, false
}

// find is the entry for a request's primary key, following a Vary marker.
func (s *store) find(primary string, h Header, norm map[string]func(string) string) (*Entry, string) {
	it, ok := s.c.GetIfPresent(primary)
	if !ok {
		return nil, primary
	}
	if it.entry != nil {
		return it.entry, primary
	}
	key := variantKey(primary, it.gen, it.vary, h, norm)
	v, ok := s.c.GetIfPresent(key)
	if !ok || v.entry == nil {
		return nil, key
	}
	return v.entry, key
}

// put stores e for its primary key, with its Vary marker when vary is
// not empty; h is the request's header, for the variant's key.
func (s *store) put(primary string, vary []string, h Header, norm map[string]func(string) string, e *Entry) {
	if len(vary) == 0 {
		e.key = primary
		s.c.Set(primary, &item{entry: e})
		return
	}
	it, ok := s.c.GetIfPresent(primary)
	if !ok || it.entry != nil || !equalNames(it.vary, vary) {
		it = &item{vary: vary, gen: s.gen.Add(1)}
		s.c.Set(primary, it)
	}
	e.key = variantKey(primary, it.gen, vary, h, norm)
	s.c.Set(e.key, &item{entry: e})
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// purge removes every key whose target matches: equal to target, or,
// with prefix, starting with it. It returns how many responses went.
func (s *store) purge(target string, prefix bool) int {
	var keys []string
	for k := range s.c.Keys() {
		t := targetOf(k)
		if t == target || (prefix && strings.HasPrefix(t, target)) {
			keys = append(keys, k)
		}
	}
	n := 0
	for _, k := range keys {
		if it, ok := s.c.Invalidate(k); ok && it.entry != nil {
			n++
		}
	}
	return n
}

// invalidate removes the responses stored for a primary key: after an
// unsafe request changed the resource (§4.4). Its variants become
// unreachable with their marker.
func (s *store) invalidate(primary string) { s.c.Invalidate(primary) }
