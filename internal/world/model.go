package world

import (
	"net/netip"
	"time"
)

// Place is a named part of the world and the address prefixes in it.
type Place struct {
	Name     string
	Prefixes []netip.Prefix
}

// Link is the distance between two places, the same both ways.
type Link struct {
	Latency   time.Duration // one way
	Jitter    time.Duration // each packet's one-way delay is Latency ± Jitter, uniform
	Loss      float64       // fraction of packets lost, each way (0–1)
	Bandwidth Bandwidth     // per connection; 0 is unlimited
}

type placePrefix struct {
	pfx   netip.Prefix
	place int
}

// model is one immutable state of the world: its places and the matrix.
// A change builds a new model and swaps it in; readers never lock.
type model struct {
	places   []Place
	index    map[string]int
	prefixes []placePrefix
	links    []Link // n×n, symmetric
}

// place returns the index of the place holding a, or -1.
func (m *model) place(a netip.Addr) int {
	a = a.Unmap()
	for i := range m.prefixes {
		if m.prefixes[i].pfx.Contains(a) {
			return m.prefixes[i].place
		}
	}
	return -1
}

// link returns the link between the places of a and b; ok is false when
// either address is in no place (such traffic is at no distance).
func (m *model) link(a, b netip.Addr) (l Link, ok bool) {
	i, j := m.place(a), m.place(b)
	if i < 0 || j < 0 {
		return Link{}, false
	}
	return m.links[i*len(m.places)+j], true
}

func (m *model) at(i, j int) Link { return m.links[i*len(m.places)+j] }

func (m *model) set(i, j int, l Link) {
	n := len(m.places)
	m.links[i*n+j] = l
	m.links[j*n+i] = l
}

func (m *model) names() []string {
	out := make([]string, len(m.places))
	for i, p := range m.places {
		out[i] = p.Name
	}
	return out
}

// with returns a copy of m whose link i–j is l (places are shared: they
// never change after compile).
func (m *model) with(i, j int, l Link) *model {
	c := *m
	c.links = append([]Link(nil), m.links...)
	c.set(i, j, l)
	return &c
}
