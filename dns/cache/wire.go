package cache

import (
	"encoding/binary"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/rrset"
)

// wire is an entry's reply packed once per rotation of its answer
// section: the question (the key's name, type, class IN), QR and the
// rcode set, ID 0, no OPT. A hit copies one variant and writes each
// record's TTL counted down to the hit, so it unpacks and packs nothing.
type wire struct {
	variants []wireVariant // none: the entry is served by Fill only
	// dnssec: the reply holds records a client without DO does not see
	// (RRSIG, NSEC, NSEC3), so it has a plain form of its own
	dnssec bool
}

type wireVariant struct {
	b    []byte
	ttls []ttlAt
}

// ttlAt is where a record's TTL sits in a packed reply, and its value as
// stored.
type ttlAt struct {
	off int
	ttl uint32
}

// maxWireVariants bounds the rotations packed for one entry; an answer
// with more is served by Fill.
const maxWireVariants = 16

// AppendWire appends to dst the reply Fill would give at now, packed: the
// question is the key's (in lower case: the caller writes the client's
// case over it), and the ID, RD, CD, RA, AD and the OPT record are the
// caller's to set. The answer rotates with every hit as with Fill. With
// plain, the reply is the one a client that did not set DO sees (RFC 4035
// §3.2.1): no RRSIG, NSEC or NSEC3 record, but those of the question's
// type in the answer (as StripDNSSEC leaves them). ok is false for a
// stale hit and for an entry that does not pack (then Fill).
func (h Hit) AppendWire(dst []byte, now time.Time, plain bool) (reply []byte, ok bool) {
	if h.e == nil || h.Stale || h.Key.Class != dns.ClassINET || h.Key.Kind != Answer {
		return dst, false
	}
	w := h.e.wire.Load()
	if w == nil {
		w = packWire(h.Key, h.Msg, false)
		h.e.wire.Store(w)
	}
	if plain && w.dnssec {
		if w = h.e.plain.Load(); w == nil {
			w = packWire(h.Key, h.Msg, true)
			h.e.plain.Store(w)
		}
	}
	if len(w.variants) == 0 {
		return dst, false
	}
	v := &w.variants[h.Hits%uint32(len(w.variants))]
	elapsed := now.Sub(h.Stored)
	if elapsed < 0 {
		elapsed = 0
	}
	dec := uint32(elapsed / time.Second)
	n := len(dst)
	dst = append(dst, v.b...)
	for _, t := range v.ttls {
		ttl := uint32(0)
		if t.ttl > dec {
			ttl = t.ttl - dec
		}
		binary.BigEndian.PutUint32(dst[n+t.off:], ttl)
	}
	return dst, true
}

// packWire packs every rotation of msg's answer (Fill rotates each RRset
// by the hit count: variant i is what hit count i mod the variants gets),
// plain: without the records StripDNSSEC drops.
func packWire(k Key, msg *dns.Msg, plain bool) *wire {
	answer, ns, extra := msg.Answer, msg.Ns, msg.Extra
	if plain {
		answer, ns, extra = StripDNSSEC(answer, k.Type), StripDNSSEC(ns, 0), StripDNSSEC(extra, 0)
	}
	w := &wire{dnssec: !plain && (len(StripDNSSEC(answer, k.Type)) != len(answer) ||
		len(StripDNSSEC(ns, 0)) != len(ns) || len(StripDNSSEC(extra, 0)) != len(extra))}
	variants := wireVariants(answer)
	if variants == 0 {
		return w
	}
	for v := 0; v < variants; v++ {
		m := &dns.Msg{Compress: true}
		m.Response, m.Rcode = true, msg.Rcode
		m.Question = []dns.Question{{Name: k.Name, Qtype: k.Type, Qclass: dns.ClassINET}}
		m.Answer = append([]dns.RR(nil), answer...)
		rrset.RotateEach(m.Answer, uint32(v))
		m.Ns, m.Extra = ns, extra
		b, err := m.Pack()
		if err != nil {
			return &wire{dnssec: w.dnssec}
		}
		ttls, ok := ttlOffsets(b)
		if !ok {
			return &wire{dnssec: w.dnssec}
		}
		w.variants = append(w.variants, wireVariant{b: b, ttls: ttls})
	}
	return w
}

// wireVariants is how many packed replies an answer section needs (one
// per rotation of its RRsets); 0 when over maxWireVariants (not packed).
func wireVariants(answer []dns.RR) int {
	variants := 1
	for i := 0; i < len(answer); {
		j := i + 1
		for j < len(answer) && sameSet(answer[i], answer[j]) {
			j++
		}
		variants = lcm(variants, j-i)
		i = j
	}
	if variants > maxWireVariants {
		return 0
	}
	return variants
}

// IsDNSSECType reports whether records of type t are shown only to
// clients that set DO (RFC 4035 §3.2.1).
func IsDNSSECType(t uint16) bool {
	return t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3
}

// StripDNSSEC returns rrs without its RRSIG, NSEC and NSEC3 records but
// those of type keep (the question's, in the answer; 0 elsewhere). It
// returns rrs itself when there is nothing to drop, else a new slice (nil
// when empty).
func StripDNSSEC(rrs []dns.RR, keep uint16) []dns.RR {
	i := 0
	for i < len(rrs) {
		if t := rrs[i].Header().Rrtype; IsDNSSECType(t) && t != keep {
			break
		}
		i++
	}
	if i == len(rrs) {
		return rrs
	}
	out := append([]dns.RR(nil), rrs[:i]...)
	for _, rr := range rrs[i+1:] {
		if t := rr.Header().Rrtype; !IsDNSSECType(t) || t == keep {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func sameSet(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.Rrtype == hb.Rrtype && len(ha.Name) == len(hb.Name) && equalFold(ha.Name, hb.Name)
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// ttlOffsets walks a packed message and returns where each record's TTL
// is, with its value.
func ttlOffsets(b []byte) ([]ttlAt, bool) {
	if len(b) < 12 {
		return nil, false
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rrs := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	off := 12
	var ok bool
	for i := 0; i < qd; i++ {
		if off, ok = skipName(b, off); !ok || off+4 > len(b) {
			return nil, false
		}
		off += 4
	}
	ttls := make([]ttlAt, 0, rrs)
	for i := 0; i < rrs; i++ {
		if off, ok = skipName(b, off); !ok || off+10 > len(b) {
			return nil, false
		}
		ttls = append(ttls, ttlAt{off: off + 4, ttl: binary.BigEndian.Uint32(b[off+4:])})
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	return ttls, off == len(b)
}

// skipName returns the offset just past the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, bool) {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xC0 == 0xC0:
			return off + 2, off+2 <= len(b)
		case l&0xC0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}
