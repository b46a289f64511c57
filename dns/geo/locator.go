package geo

import "net/netip"

// Location is where a GeoIP database places an address.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code ("GB"), "" when unknown.
	Country string `json:"country,omitempty"`
	// Continent is the two-letter continent code ("EU"), "" when unknown.
	Continent string `json:"continent,omitempty"`
	// Network is the database network that holds the address: every
	// address in it has the same record. It is set even when the address is
	// not in the database (then it is the empty network around it), so that
	// a reply's ECS scope can say how far a "no match" answer holds.
	Network netip.Prefix `json:"network"`
}

// Locator places an address. The bool is false when the database has no
// record for it; Location.Network is still meaningful then. Implementations
// must be safe for concurrent use and cheap: Locate is on the query path.
type Locator interface {
	Locate(netip.Addr) (Location, bool)
}

// LocatorFunc adapts a function to Locator (handy in tests).
type LocatorFunc func(netip.Addr) (Location, bool)

// Locate calls f.
func (f LocatorFunc) Locate(a netip.Addr) (Location, bool) { return f(a) }

// hostPrefix is the most specific network of a: used when nothing better is
// known, so that an ECS scope never claims more than it knows.
func hostPrefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, a.BitLen())
}
