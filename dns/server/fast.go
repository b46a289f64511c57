package server

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// serveCached answers a query for our zones from its packed answer,
// packing it on the first query for the key: the ID, the question's case,
// RD, CD and RA are patched in and the client's cookie appended to the
// OPT, so a hit unpacks and packs nothing and allocates nothing. It
// reports false when the query must go the full way (handler.go): a shape
// parseQuery does not serve, a name outside our zones, a name GeoDNS
// answers, a reply that would not fit the client's UDP size, an answer
// with too many rotations to keep.
func (h *Handler) serveCached(pkt []byte, client netip.Addr, proto Protocol, out []byte) (reply []byte, rcode int, ok bool) {
	var q wireQuery
	if !parseQuery(pkt, &q) || q.qclass != dns.ClassINET {
		return nil, 0, false
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeOPT:
		return nil, 0, false
	}
	c := h.packed.Load()
	key := q.key[:q.keyN]
	a := c.get(key)
	if a == nil {
		a = c.build(&q)
		c.put(key, a)
	}
	if a.variants == nil {
		return nil, 0, false
	}
	if g := h.geo.Load(); g != nil && (g.Manages(a.name) || a.cname != "" && g.Manages(a.cname)) {
		return nil, 0, false
	}
	v := a.pick()
	need := len(v)
	var cc []byte
	if q.cookie != nil {
		verdict, got := h.cookies.checkRaw(q.cookie, client)
		if verdict == cookieMalformed {
			return nil, 0, false
		}
		cc = got
		need += 4 + clientCookieLen + serverCookieLen
	}
	limit := dns.MaxMsgSize
	if proto == UDP {
		limit = dns.MinMsgSize
		if q.edns {
			limit = min(max(int(q.udpSize), dns.MinMsgSize), maxUDPSize)
		}
	}
	if need > limit {
		return nil, 0, false // truncation is decided the full way
	}
	rec := h.rec.Load()
	out = append(out[:0], v...)
	binary.BigEndian.PutUint16(out, q.id)
	out[2] |= byte(q.flags>>8) & 0x01 // RD
	out[3] |= byte(q.flags) & 0x10    // CD
	if rec != nil && rec.Allowed(client) {
		out[3] |= 0x80 // RA
	}
	copy(out[headerLen:q.qnameEnd], pkt[headerLen:q.qnameEnd]) // the question as asked (0x20)
	if cc != nil {
		// the OPT ends the reply with no options: give it the COOKIE
		n := len(out)
		out = append(out, 0, dns.EDNS0COOKIE, 0, clientCookieLen+serverCookieLen)
		out = h.cookies.appendCookie(out, cc, client)
		binary.BigEndian.PutUint16(out[n-2:], uint16(len(out)-n))
	}
	return out, a.rcode, true
}

// build packs the answer to q from the cache's zone set, each rotation
// variant once. An answer the packed path does not serve (a name outside
// the zones, too many variants) is kept with no variants, so that the
// next query for it goes the full way at once.
func (c *packedCache) build(q *wireQuery) *packedAnswer {
	name := presentation(q.key[:q.keyN-5])
	a := &packedAnswer{name: name}
	z := c.set.Find(name)
	if z == nil {
		return a
	}
	question := dns.Question{Name: name, Qtype: q.qtype, Qclass: q.qclass}
	variants := 1
	for v := 0; v < variants; v++ {
		resp := &dns.Msg{Compress: true}
		resp.Response = true
		resp.Question = []dns.Question{question}
		n := c.set.Variant(resp, question, name, z, uint32(v))
		if v == 0 {
			if n > maxVariants {
				return a
			}
			variants, a.rcode, a.answers = n, resp.Rcode, len(resp.Answer)
			a.cname = lastCNAME(resp.Answer)
		}
		if q.edns {
			opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			opt.SetUDPSize(advertisedUDPSize)
			opt.SetDo(q.do)
			resp.Extra = append(resp.Extra, opt)
		}
		b, err := resp.Pack()
		if err != nil {
			a.variants = nil
			return a
		}
		a.variants = append(a.variants, b)
	}
	return a
}

// presentation turns a lower-case wire-form name (parseQuery admits no
// byte that needs escaping) into its text form.
func presentation(wire []byte) string {
	if len(wire) <= 1 {
		return "."
	}
	var b strings.Builder
	b.Grow(len(wire))
	for off := 0; wire[off] != 0; off += 1 + int(wire[off]) {
		b.Write(wire[off+1 : off+1+int(wire[off])])
		b.WriteByte('.')
	}
	return b.String()
}

// lastCNAME is the target of the last CNAME in rrs, lower case, or "".
func lastCNAME(rrs []dns.RR) string {
	t := ""
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok {
			t = strings.ToLower(c.Target)
		}
	}
	return t
}
