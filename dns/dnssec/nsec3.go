package dnssec

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"netsim/zones"
)

// NSEC3 (RFC 5155) with the parameters RFC 9276 asks for: SHA-1, no
// extra iterations, no salt, no opt-out. Online answers carry minimally
// covering NSEC3 records ("white lies", RFC 7129 appendix B): one whose
// owner is the hash of the name just before the hash being denied and
// whose next hash is the one just after, so nothing can be enumerated;
// a matching NSEC3 has the name's own hash as owner and that hash plus
// one as next. Transfers get the real chain (chain.go).

// MaxNSEC3Iterations is the most iterations a zone may be signed with
// (BIND's and Knot's cap) and a validator here accepts (RFC 9276 §3.2
// lets validators give up on more).
const MaxNSEC3Iterations = 50

// NSEC3Params are a zone's NSEC3 parameters.
type NSEC3Params struct {
	Iterations uint16
	Salt       string // hex, "" for none
}

// ParseNSEC3Params checks configured parameters: iterations at most
// MaxNSEC3Iterations, the salt hex ("" or "-" for none) of at most 255
// bytes. The errors name what is wrong and what is expected.
func ParseNSEC3Params(iterations int, salt string) (NSEC3Params, error) {
	if iterations < 0 || iterations > MaxNSEC3Iterations {
		return NSEC3Params{}, fmt.Errorf("%d iterations: want 0 (RFC 9276), at most %d", iterations, MaxNSEC3Iterations)
	}
	if salt == "-" {
		salt = ""
	}
	b, err := hex.DecodeString(salt)
	if err != nil {
		return NSEC3Params{}, fmt.Errorf("salt %q: want hex digits, or \"\" for none (RFC 9276)", salt)
	}
	if len(b) > 255 {
		return NSEC3Params{}, fmt.Errorf("salt of %d bytes: want at most 255, best none (RFC 9276)", len(b))
	}
	return NSEC3Params{Iterations: uint16(iterations), Salt: strings.ToUpper(salt)}, nil
}

// Hash is the NSEC3 hash of name (base32hex, upper case).
func (p NSEC3Params) Hash(name string) string {
	return dns.HashName(dns.CanonicalName(name), dns.SHA1, p.Iterations, p.Salt)
}

// PARAM is the NSEC3PARAM record of zone (TTL 0, as BIND publishes it).
func (p NSEC3Params) PARAM(zone string) *dns.NSEC3PARAM {
	return &dns.NSEC3PARAM{
		Hdr:  dns.RR_Header{Name: zone, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET},
		Hash: dns.SHA1, Iterations: p.Iterations, SaltLength: uint8(len(p.Salt) / 2), Salt: p.Salt,
	}
}

func (p NSEC3Params) record(zone, ownerHash, nextHash string, types []uint16, ttl uint32) *dns.NSEC3 {
	owner := strings.ToLower(ownerHash) + "."
	if zone != "." {
		owner += zone
	}
	return &dns.NSEC3{
		Hdr:  dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
		Hash: dns.SHA1, Iterations: p.Iterations, SaltLength: uint8(len(p.Salt) / 2), Salt: p.Salt,
		HashLength: 20, NextDomain: nextHash, TypeBitMap: types,
	}
}

// MatchNSEC3 is the NSEC3 of name, an existing name of zone: its types
// (sorted, without NSEC3) and as next hash its own plus one.
func (p NSEC3Params) MatchNSEC3(zone, name string, types []uint16, ttl uint32) *dns.NSEC3 {
	h := p.Hash(name)
	bm := slices.DeleteFunc(slices.Clone(types), func(t uint16) bool { return t == dns.TypeNSEC3 || t == dns.TypeNSEC })
	slices.Sort(bm)
	return p.record(zone, h, hashStep(h, 1), slices.Compact(bm), ttl)
}

// CoverNSEC3 is an NSEC3 of zone covering the hash of name and nothing
// else: owner the hash minus one, next hash the hash plus one.
func (p NSEC3Params) CoverNSEC3(zone, name string, ttl uint32) *dns.NSEC3 {
	h := p.Hash(name)
	return p.record(zone, hashStep(h, -1), hashStep(h, 1), nil, ttl)
}

var b32 = base32.HexEncoding.WithPadding(base32.NoPadding)

// hashStep adds d (±1) to a base32hex hash read as a big-endian number,
// wrapping around.
func hashStep(h string, d int) string {
	b, err := b32.DecodeString(strings.ToUpper(h))
	if err != nil || len(b) == 0 {
		return h
	}
	for i := len(b) - 1; i >= 0; i-- {
		if d > 0 {
			b[i]++
			if b[i] != 0 {
				break
			}
		} else {
			b[i]--
			if b[i] != 0xFF {
				break
			}
		}
	}
	return b32.EncodeToString(b)
}

// NSEC3Types is what the NSEC3 of node n lists: its types (NS and DS at
// a delegation), and RRSIG where it holds a signed RRset — not at an
// empty non-terminal, nor at an unsigned delegation.
func NSEC3Types(n *zones.Node) []uint16 {
	if n.Empty() {
		return nil
	}
	if n.Cut && n.RRsets[dns.TypeDS] == nil {
		return bitmap(n)
	}
	return bitmap(n, dns.TypeRRSIG)
}

// nsec3Chain: every owner name of the zone — empty non-terminals
// included, glue not — gets an NSEC3 at its hash, the chain in hash
// order, each naming the next hash and the name's types (RRSIG where
// the name holds a signed RRset).
func (b *zoneBuild) nsec3Chain(p NSEC3Params) error {
	z := b.z
	type link struct {
		hash  string
		types []uint16
	}
	var chain []link
	for _, name := range z.Names() {
		n := z.Node(name)
		occluded := z.Occluded(name)
		if err := b.node(n, occluded); err != nil {
			return err
		}
		if occluded {
			continue
		}
		chain = append(chain, link{hash: p.Hash(name), types: NSEC3Types(n)})
	}
	slices.SortFunc(chain, func(a, b link) int { return strings.Compare(a.hash, b.hash) })
	b.names = len(chain)
	ttl := z.NegSOA.Hdr.Ttl
	for i, l := range chain {
		next := chain[(i+1)%len(chain)].hash
		if err := b.sign([]dns.RR{p.record(z.Origin, l.hash, next, l.types, ttl)}); err != nil {
			return err
		}
	}
	return nil
}
