package policy

import (
	"sync/atomic"

	"netsim/lb/backend"
)

// RoundRobin takes the backends in turn with one atomic counter, skipping
// the unavailable ones. Weights are ignored.
type RoundRobin struct{ next atomic.Uint64 }

// Pick implements Policy.
func (p *RoundRobin) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	n := uint64(len(bs))
	if n == 0 {
		return nil
	}
	start := p.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		if b := bs[(start+i)%n]; b.Available() {
			if i > 0 {
				// Skip past the unavailable ones so the next pick does not
				// land on the same backend twice in a row.
				p.next.Add(i)
			}
			return b
		}
	}
	return nil
}

// First sends everything to the first available backend in order (one
// that is not at its MaxConns), like HAProxy's "balance first": the others
// take traffic only when it is full or out.
type First struct{}

// Pick implements Policy.
func (First) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	for _, b := range bs {
		if b.Available() {
			return b
		}
	}
	return nil
}
