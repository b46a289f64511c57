package policy

import (
	"netsim/lb/backend"
)

// LeastConnections picks the backend with the fewest in-flight requests per
// unit of effective weight; ties are broken from a random starting point so
// equal backends share the load.
type LeastConnections struct{ Rand Rand }

// Pick implements Policy.
func (p *LeastConnections) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	return scanBest(bs, orDefault(p.Rand), lessLoaded)
}

// LeastResponseTime is peak-EWMA (Finagle, Linkerd): the cost of a backend
// is its decaying peak response time times its in-flight requests plus one,
// divided by its effective weight. Backends with no sample yet cost zero,
// so each is tried early; a backend that slows down is avoided at once
// (peak) and comes back gradually as fast samples decay the average.
type LeastResponseTime struct{ Rand Rand }

// Pick implements Policy.
func (p *LeastResponseTime) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	cost := func(b *backend.Backend) float64 {
		return float64(b.LatencyEWMA()) * float64(b.InFlight()+1) / float64(max(b.ScaledWeight(), 1))
	}
	return scanBest(bs, orDefault(p.Rand), func(a, b *backend.Backend) bool { return cost(a) < cost(b) })
}

// scanBest returns the available backend that no other is better than,
// scanning from a random start so that ties are shared.
func scanBest(bs []*backend.Backend, r Rand, better func(a, b *backend.Backend) bool) *backend.Backend {
	n := len(bs)
	if n == 0 {
		return nil
	}
	start := r(n)
	var best *backend.Backend
	for i := 0; i < n; i++ {
		b := bs[(start+i)%n]
		if b.Available() && (best == nil || better(b, best)) {
			best = b
		}
	}
	return best
}

// RandomTwoChoices draws two distinct available backends at random and
// keeps the less loaded (in-flight per weight): nearly as good as least
// connections, without a full scan and without herding.
type RandomTwoChoices struct{ Rand Rand }

// Pick implements Policy.
func (p *RandomTwoChoices) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	a, b := twoAvailable(bs, orDefault(p.Rand))
	if b == nil || a == nil {
		return a
	}
	if lessLoaded(b, a) {
		return b
	}
	return a
}

// twoAvailable returns two distinct available backends chosen at random
// (the second is nil when only one is available; both nil when none).
func twoAvailable(bs []*backend.Backend, r Rand) (*backend.Backend, *backend.Backend) {
	n := len(bs)
	if n == 0 {
		return nil, nil
	}
	// A few random draws find available ones fast in the common case; a
	// scan from a random point finishes the job when most are out.
	var a, b *backend.Backend
	take := func(c *backend.Backend) {
		switch {
		case !c.Available() || c == a:
		case a == nil:
			a = c
		default:
			b = c
		}
	}
	for tries := 0; tries < 4 && b == nil; tries++ {
		take(bs[r(n)])
	}
	if b == nil {
		start := r(n)
		for i := 0; i < n && b == nil; i++ {
			take(bs[(start+i)%n])
		}
	}
	return a, b
}

// BackendLoad balances on the load each backend reports through its agent
// check (HAProxy's agent-check): of two random available backends it keeps
// the one with the lower reported load, then fewer in-flight requests. Two
// choices rather than the global minimum, because reports are periodic and
// a minimum would send everything to one backend until the next report. A
// backend that has not reported counts as 50%.
type BackendLoad struct{ Rand Rand }

// Pick implements Policy.
func (p *BackendLoad) Pick(bs []*backend.Backend, _ Hint) *backend.Backend {
	a, b := twoAvailable(bs, orDefault(p.Rand))
	if b == nil || a == nil {
		return a
	}
	la, lb := reported(a), reported(b)
	switch {
	case lb < la:
		return b
	case la < lb:
		return a
	case lessLoaded(b, a):
		return b
	}
	return a
}

func reported(b *backend.Backend) int {
	if l := b.Load(); l >= 0 {
		return l
	}
	return 50
}
