package geo

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
)

// Variant is a geo answer decided but not built, for a server that caches
// the packed form of each variant (dns/server): the key names the records
// the answer holds — the pool's member view (rebuilt on every health
// change, and new with every Engine, so a health change or a reload makes
// new keys) and the draw from it (the members' places, or the turn of a
// round-robin) — and Records builds them when the server has not packed
// that variant yet. The ECS scope is not in the key: the server patches it.
type Variant struct {
	d draw
	// Scope is the SCOPE PREFIX-LENGTH of the Client Subnet option the
	// reply echoes: the network the answer holds for when the subnet was
	// used, 0 when it was not (ignore_ecs, untrusted, no subnet).
	Scope uint8
}

// AppendKey appends the variant's key to dst. The key holds the address
// of the member view: it names the view only while Keep is held, so a
// cache keeps Keep with every entry keyed by it.
func (v *Variant) AppendKey(dst []byte) []byte {
	var flags byte
	if v.d.open {
		flags |= 1
	}
	if v.d.rotate {
		flags |= 2
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(uintptr(unsafe.Pointer(v.d.view))))
	dst = append(dst, flags, v.d.n)
	if v.d.rotate {
		return binary.BigEndian.AppendUint32(dst, v.d.rot)
	}
	return append(dst, v.d.idx[:v.d.n]...)
}

// Count counts the answer in dnsd_geo_answers_total, as Answer does.
func (v *Variant) Count() { v.d.count() }

// Keep is what a cache entry keyed by AppendKey holds on to.
func (v *Variant) Keep() any { return v.d.view }

// Records are the answer's records, owned by the Engine (do not modify
// them); the owner is the name in lower case.
func (v *Variant) Records() []dns.RR { return v.d.records() }

// Variant decides the answer to an A or AAAA query for qname (lower case)
// from client with the Client Subnet option's data subnet (nil: none), as
// Answer would; the caller counts it (Count) once it is sent. It reports
// false for
// what Answer does not answer with records of the pool (a name not
// managed, another type, a malformed subnet, a pool without the family,
// SERVFAIL when every member is down and the name fails closed, a pool
// too large to name its members by place): the caller then goes the full
// way (Answer).
func (h *Hook) Variant(qname string, qtype uint16, client netip.Addr, subnet []byte) (Variant, bool) {
	e := h.cur.Load()
	if e == nil || qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return Variant{}, false
	}
	n := e.names[qname]
	if n == nil {
		return Variant{}, false
	}
	var sub *ecs.Subnet
	var s ecs.Subnet
	if subnet != nil {
		var err error
		if s, err = ecs.ParseWire(subnet); err != nil {
			return Variant{}, false
		}
		sub = &s
	}
	var x Explanation
	d := e.decide(n, qtype, client, sub, &x)
	if d.rcode != dns.RcodeSuccess || d.wide != nil || d.n == 0 && !d.rotate {
		return Variant{}, false
	}
	v := Variant{d: d}
	if d.useECS {
		v.Scope = d.scope
	}
	return v, true
}
