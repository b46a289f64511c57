// Package ecs implements the EDNS Client Subnet rules of RFC 7871 that both
// sides of GeoDNS need: validating a query's option (the authoritative side
// answers FORMERR when Parse fails), building the reply option with the
// right SCOPE PREFIX-LENGTH, truncating a client's address before a resolver
// sends it upstream, and checking an upstream reply before its scope is used
// as a cache key.
package ecs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Address families (RFC 7871 §6, IANA address family numbers).
const (
	FamilyIPv4 = 1
	FamilyIPv6 = 2
)

// Default source prefix lengths a resolver sends upstream (RFC 7871 §11.1
// recommends /24 and /56).
const (
	DefaultV4Bits = 24
	DefaultV6Bits = 56
)

// Errors returned by Parse and ParseWire. Every one of them means the query
// is malformed and the server answers FORMERR (RFC 7871 §7.1.2/§6).
var (
	ErrFamily        = errors.New("ecs: unknown address family")
	ErrSourcePrefix  = errors.New("ecs: source prefix length too long for family")
	ErrAddressBits   = errors.New("ecs: address has bits set beyond the source prefix length")
	ErrScopeInQuery  = errors.New("ecs: scope prefix length must be 0 in a query")
	ErrAddressLength = errors.New("ecs: address length does not match the source prefix length")
)

// Subnet is a validated client subnet from a query.
type Subnet struct {
	// Family is 1 (IPv4) or 2 (IPv6); 0 only for the lenient "0/0" some
	// clients send to opt out.
	Family uint16
	// Prefix is the client's network: the address masked to the source
	// prefix length. For an IPv4 family the address is a 4-byte address.
	// Prefix.Bits() is the SOURCE PREFIX-LENGTH.
	Prefix netip.Prefix
}

// OptOut reports whether the client asked that its address not be used
// (SOURCE PREFIX-LENGTH 0, RFC 7871 §7.1.2). The answer must then not be
// tailored to any address and carries SCOPE 0.
func (s Subnet) OptOut() bool { return s.Prefix.Bits() <= 0 }

// Source is the SOURCE PREFIX-LENGTH.
func (s Subnet) Source() int { return max(s.Prefix.Bits(), 0) }

// Addr is the address to locate: the network address of Prefix.
func (s Subnet) Addr() netip.Addr { return s.Prefix.Addr() }

func (s Subnet) String() string {
	if s.OptOut() {
		return fmt.Sprintf("family %d /0 (opt-out)", s.Family)
	}
	return s.Prefix.String()
}

// Parse validates a query's client-subnet option as RFC 7871 §6 requires:
// FAMILY 1 or 2, SOURCE PREFIX-LENGTH at most 32 or 128, SCOPE
// PREFIX-LENGTH 0, and no address bits set beyond the source prefix. Any
// error means the caller answers FORMERR.
//
// miekg/dns has already rejected some of these while unpacking; Parse
// repeats every check so that options built in code are held to the same
// rules. The octet count of ADDRESS is lost by miekg/dns's unpacking: a
// server that wants that check too calls ParseWire on the raw option.
func Parse(o *dns.EDNS0_SUBNET) (Subnet, error) {
	if o == nil {
		return Subnet{}, errors.New("ecs: nil option")
	}
	if o.SourceScope != 0 {
		return Subnet{}, fmt.Errorf("%w (got %d)", ErrScopeInQuery, o.SourceScope)
	}
	switch o.Family {
	case 0:
		// dig and others send FAMILY 0 with SOURCE 0 to mean "no address";
		// miekg/dns accepts it, and so do we, only with SOURCE 0.
		if o.SourceNetmask != 0 {
			return Subnet{}, fmt.Errorf("%w: family 0 with source prefix /%d", ErrFamily, o.SourceNetmask)
		}
		return Subnet{Family: 0, Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}, nil
	case FamilyIPv4:
		if o.SourceNetmask > 32 {
			return Subnet{}, fmt.Errorf("%w: /%d for IPv4", ErrSourcePrefix, o.SourceNetmask)
		}
		ip4 := o.Address.To4()
		if ip4 == nil {
			if len(o.Address) == 0 && o.SourceNetmask == 0 {
				ip4 = net.IPv4zero.To4()
			} else {
				return Subnet{}, fmt.Errorf("%w: %v is not an IPv4 address", ErrFamily, o.Address)
			}
		}
		a := netip.AddrFrom4([4]byte(ip4))
		return checkBits(FamilyIPv4, a, int(o.SourceNetmask))
	case FamilyIPv6:
		if o.SourceNetmask > 128 {
			return Subnet{}, fmt.Errorf("%w: /%d for IPv6", ErrSourcePrefix, o.SourceNetmask)
		}
		var a netip.Addr
		switch len(o.Address) {
		case net.IPv6len:
			a = netip.AddrFrom16([16]byte(o.Address))
		case 0:
			if o.SourceNetmask != 0 {
				return Subnet{}, fmt.Errorf("%w: empty address with /%d", ErrAddressLength, o.SourceNetmask)
			}
			a = netip.IPv6Unspecified()
		default:
			return Subnet{}, fmt.Errorf("%w: %d-byte IPv6 address", ErrAddressLength, len(o.Address))
		}
		return checkBits(FamilyIPv6, a, int(o.SourceNetmask))
	default:
		return Subnet{}, fmt.Errorf("%w %d", ErrFamily, o.Family)
	}
}

func checkBits(family uint16, a netip.Addr, bits int) (Subnet, error) {
	p := netip.PrefixFrom(a, bits)
	masked := p.Masked()
	if masked.Addr() != a {
		return Subnet{}, fmt.Errorf("%w: %s has bits set beyond /%d", ErrAddressBits, a, bits)
	}
	return Subnet{Family: family, Prefix: masked}, nil
}

// ParseWire validates the raw OPTION-DATA of a client-subnet option (the
// bytes after OPTION-CODE and OPTION-LENGTH). It adds to Parse the check
// miekg/dns cannot make after unpacking: ADDRESS must be exactly
// ceil(SOURCE/8) octets (RFC 7871 §6).
func ParseWire(b []byte) (Subnet, error) {
	if len(b) < 4 {
		return Subnet{}, fmt.Errorf("%w: option is %d bytes, need at least 4", ErrAddressLength, len(b))
	}
	family := binary.BigEndian.Uint16(b)
	source, scope := b[2], b[3]
	addr := b[4:]
	if scope != 0 {
		return Subnet{}, fmt.Errorf("%w (got %d)", ErrScopeInQuery, scope)
	}
	var size int
	switch family {
	case 0:
		if source != 0 || len(addr) != 0 {
			return Subnet{}, fmt.Errorf("%w: family 0 with source prefix /%d", ErrFamily, source)
		}
		return Subnet{Family: 0, Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}, nil
	case FamilyIPv4:
		size = 4
	case FamilyIPv6:
		size = 16
	default:
		return Subnet{}, fmt.Errorf("%w %d", ErrFamily, family)
	}
	if int(source) > size*8 {
		return Subnet{}, fmt.Errorf("%w: /%d for family %d", ErrSourcePrefix, source, family)
	}
	if want := (int(source) + 7) / 8; len(addr) != want {
		return Subnet{}, fmt.Errorf("%w: %d octets for /%d, want %d", ErrAddressLength, len(addr), source, want)
	}
	var full [16]byte
	copy(full[:], addr)
	var a netip.Addr
	if family == FamilyIPv4 {
		a = netip.AddrFrom4([4]byte(full[:4]))
	} else {
		a = netip.AddrFrom16(full)
	}
	return checkBits(family, a, int(source))
}

// Find returns the client-subnet option of m's OPT record, or nil.
func Find(m *dns.Msg) *dns.EDNS0_SUBNET {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			return s
		}
	}
	return nil
}

// Scope is the SCOPE PREFIX-LENGTH for a reply whose answer holds for every
// address in network (the network the decision was made on: the GeoIP
// database's record, narrowed by any configured CIDR rule). It is the
// network's length — not the source length, and never a constant /32 (the
// PowerDNS bug #6091, which made every answer uncacheable beyond one
// address). It may be longer than the source prefix: RFC 7871 §7.2.1 says
// that tells the resolver the source was not specific enough, and a
// resolver caches such an answer for its source prefix only (§7.3.1).
// When the client opted out (source 0) the scope is 0.
func Scope(s Subnet, network netip.Prefix) uint8 {
	if s.OptOut() || !network.IsValid() {
		return 0
	}
	bits := network.Bits()
	limit := 32
	if s.Family == FamilyIPv6 {
		limit = 128
	}
	return uint8(min(max(bits, 0), limit))
}

// Reply builds the option for a response: FAMILY, SOURCE PREFIX-LENGTH and
// ADDRESS copied from the query (RFC 7871 §7.2.1 requires them unchanged)
// and the given scope. The address slice is shared with q; neither is
// modified.
//
// An option built in code with no address and SOURCE 0 gets the zero
// address of its family, so that the reply packs (zero octets on the wire
// either way).
func Reply(q *dns.EDNS0_SUBNET, scope uint8) *dns.EDNS0_SUBNET {
	addr := q.Address
	if len(addr) == 0 {
		if q.Family == FamilyIPv6 {
			addr = net.IPv6zero
		} else {
			addr = net.IPv4zero
		}
	}
	return &dns.EDNS0_SUBNET{
		Code:          dns.EDNS0SUBNET,
		Family:        q.Family,
		SourceNetmask: q.SourceNetmask,
		SourceScope:   scope,
		Address:       addr,
	}
}

// Option builds a query option for prefix (used by resolvers and tests).
func Option(p netip.Prefix) *dns.EDNS0_SUBNET {
	p = p.Masked()
	o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, SourceNetmask: uint8(p.Bits())}
	if p.Addr().Is4() {
		o.Family = FamilyIPv4
		a := p.Addr().As4()
		o.Address = net.IP(a[:])
	} else {
		o.Family = FamilyIPv6
		a := p.Addr().As16()
		o.Address = net.IP(a[:])
	}
	return o
}

// Policy is what a resolver sends upstream. The zero value uses the
// defaults (/24 for IPv4, /56 for IPv6).
type Policy struct {
	V4Bits int `mapstructure:"ipv4_prefix"`
	V6Bits int `mapstructure:"ipv6_prefix"`
}

// Validate checks the prefix lengths; key is the config path prefix used in
// messages (e.g. "resolver.ecs").
func (p Policy) Validate(key string) error {
	if p.V4Bits < 0 || p.V4Bits > 32 {
		return fmt.Errorf("%s.ipv4_prefix: %d is not in 0..32", key, p.V4Bits)
	}
	if p.V6Bits < 0 || p.V6Bits > 128 {
		return fmt.Errorf("%s.ipv6_prefix: %d is not in 0..128", key, p.V6Bits)
	}
	return nil
}

func (p Policy) bits(a netip.Addr) int {
	if a.Is4() {
		if p.V4Bits == 0 {
			return DefaultV4Bits
		}
		return p.V4Bits
	}
	if p.V6Bits == 0 {
		return DefaultV6Bits
	}
	return p.V6Bits
}

// Upstream returns the option a resolver adds to its query on behalf of a
// client at addr whose own query carried clientOpt (nil if none). Following
// RFC 7871 §7.1.2: a client option is validated (an error means FORMERR to
// the client), its SOURCE 0 is passed on as SOURCE 0 (no address), and
// otherwise the source sent is the shorter of the client's and the policy's;
// with no client option the client's address is truncated to the policy
// length. IPv4-mapped IPv6 addresses are sent as IPv4.
func (p Policy) Upstream(addr netip.Addr, clientOpt *dns.EDNS0_SUBNET) (*dns.EDNS0_SUBNET, error) {
	if clientOpt != nil {
		s, err := Parse(clientOpt)
		if err != nil {
			return nil, err
		}
		if s.OptOut() {
			fam := s.Family
			if fam == 0 {
				fam = FamilyIPv4
			}
			// miekg/dns packs no address bytes for a /0, but wants an
			// address of the family to check it against
			zero := net.IPv4zero.To4()
			if fam == FamilyIPv6 {
				zero = net.IPv6zero
			}
			return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, Address: zero}, nil
		}
		a := s.Addr()
		return Option(netip.PrefixFrom(a, min(s.Source(), p.bits(a)))), nil
	}
	if !addr.IsValid() {
		return nil, errors.New("ecs: no client address")
	}
	addr = addr.Unmap()
	return Option(netip.PrefixFrom(addr, p.bits(addr))), nil
}

// CachePrefix checks an upstream reply's option against the one sent and
// returns the network the answer may be cached for (RFC 7871 §7.3): the
// reply must echo FAMILY, SOURCE PREFIX-LENGTH and ADDRESS (otherwise the
// reply must be discarded: error); the cache prefix is the sent address at
// min(SCOPE, SOURCE) bits. A reply without the option (reply == nil) is
// valid for everyone: /0.
func CachePrefix(sent, reply *dns.EDNS0_SUBNET) (netip.Prefix, error) {
	s, err := Parse(sent)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("sent option: %w", err)
	}
	if reply == nil {
		return netip.PrefixFrom(s.Addr(), 0).Masked(), nil
	}
	if reply.Family != sent.Family || reply.SourceNetmask != sent.SourceNetmask {
		return netip.Prefix{}, fmt.Errorf("ecs: reply family/source %d/%d does not match query %d/%d",
			reply.Family, reply.SourceNetmask, sent.Family, sent.SourceNetmask)
	}
	echo := *reply
	echo.SourceScope = 0
	r, err := Parse(&echo)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("reply option: %w", err)
	}
	if r.Prefix != s.Prefix {
		return netip.Prefix{}, fmt.Errorf("ecs: reply address %s does not match query %s", r.Prefix, s.Prefix)
	}
	bits := min(int(reply.SourceScope), s.Source())
	return netip.PrefixFrom(s.Addr(), bits).Masked(), nil
}
