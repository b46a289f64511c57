package policy

import (
	"slices"
	"sync"
	"sync/atomic"

	"netsim/lb/backend"
)

// DefaultReplicas is the number of virtual nodes per unit of weight.
const DefaultReplicas = 160

// Hash places backends on a consistent-hash ring with virtual nodes
// (Replicas per unit of weight) and sends a key to the first backend
// clockwise from its hash that is available. Adding an nth backend moves
// about 1/n of the keys; taking one out moves only its own keys. The key is
// Hint.Key when set (header_hash, cookie_hash), else the client address
// (source_ip_hash); with neither, it falls back to round robin, as HAProxy
// does for a missing header.
type Hash struct {
	Replicas int

	ring     atomic.Pointer[ring]
	mu       sync.Mutex // serialises rebuilds
	fallback RoundRobin
}

// NewHash returns a ring with replicas virtual nodes per unit of weight.
func NewHash(replicas int) *Hash { return &Hash{Replicas: replicas} }

type vnode struct {
	hash uint64
	b    *backend.Backend
}

type ring struct {
	first   *backend.Backend // identity of the slice the ring was built from
	n       int
	weights []int
	nodes   []vnode
}

func (r *ring) matches(bs []*backend.Backend) bool {
	if r == nil || r.n != len(bs) || len(bs) == 0 || r.first != bs[0] {
		return false
	}
	for i, b := range bs {
		if r.weights[i] != b.Weight() {
			return false
		}
	}
	return true
}

// Pick implements Policy.
func (p *Hash) Pick(bs []*backend.Backend, h Hint) *backend.Backend {
	if len(bs) == 0 {
		return nil
	}
	var key uint64
	switch {
	case h.Key != "":
		key = hashString(h.Key)
	case h.Client.IsValid():
		a := h.Client.Unmap().As16()
		key = hashBytes(a[:])
	default:
		return p.fallback.Pick(bs, h)
	}
	r := p.ring.Load()
	if !r.matches(bs) {
		r = p.build(bs)
	}
	if len(r.nodes) == 0 {
		return nil
	}
	i, _ := slices.BinarySearchFunc(r.nodes, key, func(v vnode, k uint64) int {
		switch {
		case v.hash < k:
			return -1
		case v.hash > k:
			return 1
		}
		return 0
	})
	for j := 0; j < len(r.nodes); j++ {
		b := r.nodes[(i+j)%len(r.nodes)].b
		if b.Available() {
			return b
		}
	}
	return nil
}

func (p *Hash) build(bs []*backend.Backend) *ring {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.ring.Load(); r.matches(bs) {
		return r
	}
	reps := p.Replicas
	if reps <= 0 {
		reps = DefaultReplicas
	}
	r := &ring{first: bs[0], n: len(bs), weights: make([]int, len(bs))}
	for i, b := range bs {
		w := b.Weight()
		r.weights[i] = w
		// Virtual nodes are named by backend id, not position, so a
		// backend keeps its points when others come and go.
		for v := 0; v < reps*min(max(w, 0), 64); v++ {
			r.nodes = append(r.nodes, vnode{hash: hashVnode(b.ID(), v), b: b})
		}
	}
	slices.SortFunc(r.nodes, func(a, b vnode) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	p.ring.Store(r)
	return r
}

// FNV-1a, finished with the splitmix64 mixer for better spread of short,
// similar keys.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}

func hashVnode(id string, v int) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime
	}
	h ^= '#'
	h *= fnvPrime
	for x := uint64(v) + 1; x > 0; x >>= 8 {
		h ^= x & 0xff
		h *= fnvPrime
	}
	return mix(h)
}
