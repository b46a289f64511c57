package resolver

import (
	"net/netip"
	"sync"
)

// clientSlots counts the resolutions each client waits for, so that one
// client flooding names that resolve slowly (or never) cannot take every
// slot of the listener in front and starve the others. A client is an
// IPv4 address or an IPv6 /64 (one host's usual allocation).
type clientSlots struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

func clientID(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// acquire takes a slot for client unless it already holds limit (limit
// 0: no cap). The caller releases a slot it got.
func (c *clientSlots) acquire(client netip.Addr, limit int) bool {
	if limit <= 0 {
		return true
	}
	id := clientID(client)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[id] >= limit {
		return false
	}
	if c.n == nil {
		c.n = make(map[netip.Addr]int)
	}
	c.n[id]++
	return true
}

func (c *clientSlots) release(client netip.Addr, limit int) {
	if limit <= 0 {
		return
	}
	id := clientID(client)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[id] <= 1 {
		delete(c.n, id)
		return
	}
	c.n[id]--
}
