package policy

import (
	"sync"

	"netsim/lb/backend"
)

// WeightedRoundRobin is nginx's smooth weighted round robin: every pick adds
// each backend's effective weight to its current weight, takes the highest
// and subtracts the total from it. Weights 5,1,1 give a a b a c a a, not
// a a a a a b c.
type WeightedRoundRobin struct {
	mu      sync.Mutex
	current map[*backend.Backend]int
}

// Pick implements Policy.
func (p *WeightedRoundRobin) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == nil || len(p.current) > 2*len(bs)+8 {
		p.current = make(map[*backend.Backend]int, len(bs))
	}
	var best *backend.Backend
	bestW, total := 0, 0
	for _, b := range bs {
		if !b.Available() {
			continue
		}
		w := b.ScaledWeight()
		total += w
		c := p.current[b] + w
		p.current[b] = c
		if best == nil || c > bestW {
			best, bestW = b, c
		}
	}
	if best != nil {
		p.current[best] -= total
	}
	return best
}
