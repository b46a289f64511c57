// Package policy chooses a backend for a request or connection. Each policy
// is a small type behind the one-method Policy interface, shared by the L7
// and L4 proxies: the Hint carries what a policy may hash on.
package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"

	"netsim/lb/backend"
)

// Hint is what a policy may use besides the backends: the client address
// and a hash key (a header or cookie value at L7; empty at L4).
type Hint struct {
	Client netip.Addr
	Key    string
}

// Policy picks one available backend from backends, or nil when none is
// available. backends is owned by the caller and must not be modified. A
// policy must not cache anything derived from the slice's identity or
// contents: the caller may pass a different set on every call (a backend
// added or removed through the admin API), and a cache keyed on part of
// the set goes stale.
type Policy interface {
	Pick(backends []*backend.Backend, h Hint) *backend.Backend
}

// Rand is the random source: IntN returns a value in [0, n). The top-level
// functions of math/rand/v2 are safe for concurrent use and are the default.
type Rand func(n int) int

func orDefault(r Rand) Rand {
	if r == nil {
		return rand.IntN
	}
	return r
}

// Proof that every policy fits.
var (
	_ Policy = (*RoundRobin)(nil)
	_ Policy = (*WeightedRoundRobin)(nil)
	_ Policy = (*LeastConnections)(nil)
	_ Policy = (*LeastResponseTime)(nil)
	_ Policy = (*RandomTwoChoices)(nil)
	_ Policy = (*BackendLoad)(nil)
	_ Policy = (*Hash)(nil)
	_ Policy = (*First)(nil)
)

// Names lists the policy names accepted by New.
var names = []string{"round_robin", "weighted_round_robin", "least_connections",
	"least_response_time", "random_two_choices", "backend_load",
	"source_ip_hash", "header_hash", "cookie_hash", "first"}

// Names returns the policy names New accepts, sorted.
func Names() []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	return out
}

// New returns the policy called name; r may be nil.
func New(name string, r Rand) (Policy, error) {
	switch name {
	case "round_robin":
		return &RoundRobin{}, nil
	case "weighted_round_robin":
		return &WeightedRoundRobin{}, nil
	case "least_connections":
		return &LeastConnections{Rand: r}, nil
	case "least_response_time":
		return &LeastResponseTime{Rand: r}, nil
	case "random_two_choices":
		return &RandomTwoChoices{Rand: r}, nil
	case "backend_load":
		return &BackendLoad{Rand: r}, nil
	case "source_ip_hash", "header_hash", "cookie_hash":
		return &Hash{}, nil
	case "first":
		return &First{}, nil
	}
	return nil, fmt.Errorf("%q is not one of %s", name, strings.Join(Names(), ", "))
}

// lessLoaded reports whether a carries less in-flight work per unit of
// effective weight than b: a.inflight/a.w < b.inflight/b.w without division.
func lessLoaded(a, b *backend.Backend) bool {
	wa, wb := int64(max(a.ScaledWeight(), 1)), int64(max(b.ScaledWeight(), 1))
	return (a.InFlight()+1)*wb < (b.InFlight()+1)*wa
}
