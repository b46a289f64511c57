// Package peraddr counts open connections per client address, for caps
// such as lbd's max_connections_per_client (HTTP) and
// max_conns_per_client (TCP).
package peraddr

import (
	"net/netip"
	"sync"
)

// Count is the number of open connections of each address. The zero
// value is ready; it is safe for concurrent use.
type Count struct {
	mu   sync.Mutex
	open map[netip.Addr]int
}

// Take counts one more connection from a unless a has limit open
// already; it reports whether it did (then Release is due).
func (c *Count) Take(a netip.Addr, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[a] >= limit {
		return false
	}
	if c.open == nil {
		c.open = map[netip.Addr]int{}
	}
	c.open[a]++
	return true
}

// Release counts one connection of a as closed.
func (c *Count) Release(a netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[a] <= 1 {
		delete(c.open, a)
	} else {
		c.open[a]--
	}
}

// Len is the number of addresses with open connections.
func (c *Count) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}
