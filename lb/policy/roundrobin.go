package policy

import (
	"sync/atomic"

	"netsim/lb/backend"
)

// RoundRobin takes the backends in turn, each according to its weight, as
// HAProxy's roundrobin does: while every available backend has the same
// (slow-start scaled) weight it is one atomic counter, skipping the
// unavailable ones; once weights differ (set through the admin API, or a
// backend in slow start) it picks as the smooth weighted round robin does,
// so weights 19, 19, 2 give the last backend 5 % of the requests.
type RoundRobin struct {
	next     atomic.Uint64
	weighted WeightedRoundRobin
}

// Pick implements Policy.
func (p *RoundRobin) Pick(bs []*backend.Backend, h Hint) *backend.Backend {
	n := uint64(len(bs))
	if n == 0 {
		return nil
	}
	if !sameWeights(bs) {
		return p.weighted.Pick(bs, h)
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

// sameWeights reports whether every available backend has the same
// scaled weight.
func sameWeights(bs []*backend.Backend) bool {
	w := -1
	for _, b := range bs {
		if !b.Available() {
			continue
		}
		switch sw := b.ScaledWeight(); {
		case w < 0:
			w = sw
		case sw != w:
			return false
		}
	}
	return true
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
