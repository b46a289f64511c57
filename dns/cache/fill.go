package cache

import (
	"time"

	"github.com/miekg/dns"

	"netsim/dns/rrset"
)

// rendering is an entry's records with TTLs counted down to one second
// (or set to the stale TTL), shared by every reply in that second.
type rendering struct {
	dec             uint32
	stale           bool
	staleTTL        uint32
	answer, ns, ext []dns.RR
}

// Fill puts the cached sections into reply with TTLs counted down to now.
// A stale hit gets staleTTL on every record (RFC 8767 §4 suggests 30 s).
// Records whose own TTL has run out show 0. Each RRset of more than one
// record in the answer comes out rotated (round-robin, as Unbound's
// rrset-roundrobin).
//
// The records are shared between replies of the same second and must be
// treated as read-only; the section slices are the reply's own.
func (h Hit) Fill(reply *dns.Msg, now time.Time, staleTTL uint32) {
	elapsed := now.Sub(h.Stored)
	if elapsed < 0 {
		elapsed = 0
	}
	dec := uint32(elapsed / time.Second)
	var r *rendering
	if h.e != nil {
		if cur := h.e.rendered.Load(); cur != nil && cur.dec == dec && cur.stale == h.Stale && (!h.Stale || cur.staleTTL == staleTTL) {
			r = cur
		}
	}
	if r == nil {
		r = &rendering{
			dec: dec, stale: h.Stale, staleTTL: staleTTL,
			answer: copyRRs(nil, h.Msg.Answer, dec, h.Stale, staleTTL),
			ns:     copyRRs(nil, h.Msg.Ns, dec, h.Stale, staleTTL),
			ext:    copyRRs(nil, h.Msg.Extra, dec, h.Stale, staleTTL),
		}
		if h.e != nil {
			h.e.rendered.Store(r)
		}
	}
	reply.Rcode = h.Msg.Rcode
	reply.Answer = append(reply.Answer[:0], r.answer...)
	rrset.RotateEach(reply.Answer, h.Hits)
	reply.Ns = append(reply.Ns[:0], r.ns...)
	reply.Extra = append(reply.Extra[:0], r.ext...)
	if len(reply.Answer) == 0 {
		reply.Answer = nil
	}
	if len(reply.Ns) == 0 {
		reply.Ns = nil
	}
	if len(reply.Extra) == 0 {
		reply.Extra = nil
	}
}

func copyRRs(dst, src []dns.RR, dec uint32, stale bool, staleTTL uint32) []dns.RR {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make([]dns.RR, 0, len(src))
	}
	for _, rr := range src {
		cp := dns.Copy(rr)
		hd := cp.Header()
		switch {
		case stale:
			hd.Ttl = staleTTL
		case hd.Ttl > dec:
			hd.Ttl -= dec
		default:
			hd.Ttl = 0
		}
		dst = append(dst, cp)
	}
	return dst
}
