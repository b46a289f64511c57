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
// case over it), and the ID, RD, CD, RA and the OPT record are the
// caller's to set. The answer rotates with every hit as with Fill. ok is
// false for a stale hit and for an entry that does not pack (then Fill).
func (h Hit) AppendWire(dst []byte, now time.Time) (reply []byte, ok bool) {
	if h.e == nil || h.Stale || h.Key.Class != dns.ClassINET || h.Key.Kind != Answer {
		return dst, false
	}
	w := h.e.wire.Load()
	if w == nil {
		w = packWire(h.Key, h.Msg)
		h.e.wire.Store(w)
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
// by the hit count: variant i is what hit count i mod the variants gets).
func packWire(k Key, msg *dns.Msg) *wire {
	variants := 1
	for i := 0; i < len(msg.Answer); {
		j := i + 1
		for j < len(msg.Answer) && sameSet(msg.Answer[i], msg.Answer[j]) {
			j++
		}
		variants = lcm(variants, j-i)
		i = j
	}
	w := &wire{}
	if variants > maxWireVariants {
		return w
	}
	for v := 0; v < variants; v++ {
		m := &dns.Msg{Compress: true}
		m.Response, m.Rcode = true, msg.Rcode
		m.Question = []dns.Question{{Name: k.Name, Qtype: k.Type, Qclass: dns.ClassINET}}
		m.Answer = append([]dns.RR(nil), msg.Answer...)
		rrset.RotateEach(m.Answer, uint32(v))
		m.Ns, m.Extra = msg.Ns, msg.Extra
		b, err := m.Pack()
		if err != nil {
			return &wire{}
		}
		ttls, ok := ttlOffsets(b)
		if !ok {
			return &wire{}
		}
		w.variants = append(w.variants, wireVariant{b: b, ttls: ttls})
	}
	return w
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
