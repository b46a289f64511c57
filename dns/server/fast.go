package server

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/rrl"
)

// serveCached answers a query for our zones from its packed answer,
// packing it on the first query for the key, and a recursive query from
// the recursor's packed cache hit (PackedRecursor): the ID, the
// question's case, RD, CD and RA are patched in and the client's cookie
// appended to the OPT, so a hit unpacks and packs nothing and allocates
// nothing. It reports false when the query must go the full way
// (handler.go): a shape parseQuery does not serve, a name GeoDNS answers,
// a reply that would not fit the client's UDP size, an answer with too
// many rotations to keep, a recursive query that is not a fresh hit, a
// GeoDNS answer when explain asks for its choice. src says whose answer it
// is: the zones' (srcAuth) or the recursor's cache (srcResolver).
func (h *Handler) serveCached(pkt []byte, client netip.Addr, proto Protocol, out []byte, explain bool) (reply []byte, rcode int, src source, ok bool) {
	var q wireQuery
	if !parseQuery(pkt, &q) || q.qclass != dns.ClassINET {
		return nil, 0, srcAuth, false
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeOPT:
		return nil, 0, srcAuth, false
	}
	cc, cookieOK, ok := h.queryCookie(&q, client)
	if !ok {
		return nil, 0, srcAuth, false // malformed: FORMERR, the full way
	}
	c := h.packed.Load()
	key := q.key[:q.keyN]
	hash := c.hash(key)
	a := c.get(key, hash)
	if a == nil || a.signed && !time.Now().Before(a.until) {
		a = c.build(&q, h.geo.Load())
		c.put(key, hash, a)
	}
	rec := h.rec.Load()
	allowed := rec != nil && rec.Allowed(client)
	lim := h.rrl.Load()
	if proto != UDP {
		lim = nil
	}
	switch {
	case a.outside:
		if lim != nil || q.subnet != nil { // the recursor's answer to a Client Subnet: the full way
			return nil, 0, srcResolver, false // counted the full way, by the kind of its answer
		}
		reply, rcode, ok = h.serveCachedHit(pkt, &q, a.name, rec, allowed, client, proto, out, cc)
		return reply, rcode, srcResolver, ok
	case a.geo:
		if explain { // the event says why GeoDNS chose: the full way asks it
			return nil, 0, srcGeo, false
		}
		reply, rcode, ok = h.serveGeo(c, pkt, &q, a.name, allowed, client, proto, out, cc, cookieOK, lim)
		return reply, rcode, srcGeo, ok
	case a.variants == nil:
		return nil, 0, srcAuth, false
	}
	if g := h.geo.Load(); g != nil && (g.Manages(a.name) || a.cname != "" && g.Manages(a.cname)) {
		return nil, 0, srcAuth, false
	}
	// an answer from the zones holds for every client: a Client Subnet
	// comes back with scope 0 (RFC 7871 §7.2.1, answer.go's echoSubnet)
	if out = h.finish(append(out[:0], a.pick()...), pkt, &q, allowed, client, proto, cc, 0); out == nil {
		return nil, 0, srcAuth, false
	}
	reply, rcode, ok = h.limit(out, pkt, &q, a, allowed, client, cc, cookieOK, lim)
	return reply, rcode, srcAuth, ok
}

// limit applies the rate limiter lim (nil: none) to the reply out of the
// packed answer a.
func (h *Handler) limit(out, pkt []byte, q *wireQuery, a *packedAnswer, allowed bool, client netip.Addr, cc []byte, cookieOK bool, lim *rrl.Limiter) ([]byte, int, bool) {
	if lim != nil {
		switch act, _ := lim.Check(client, a.kind, a.owner, a.ownerHash, q.qtype, cookieOK); act {
		case rrl.Drop:
			return nil, a.rcode, true
		case rrl.Slip:
			return h.slipWire(out, pkt, q, allowed, cc, client), a.rcode, true
		}
	}
	return out, a.rcode, true
}

// queryCookie checks the query's COOKIE option: cc is the client cookie
// (nil when there is none), valid says it came with a fresh server cookie
// of ours, ok is false when the option is malformed.
func (h *Handler) queryCookie(q *wireQuery, client netip.Addr) (cc []byte, valid, ok bool) {
	if q.cookie == nil {
		return nil, false, true
	}
	v, cc := h.cookies.checkRaw(q.cookie, client)
	return cc, v == cookieValid, v != cookieMalformed
}

// PackedRecursor is a Recursor that answers a fresh cache hit in wire
// form (resolver.AppendCached): the reply to name (lower case), qtype,
// class IN, RD set, no EDNS option but DO (do), the query's AD flag (ad),
// appended to dst with the question in lower case, ID 0 and no OPT
// record; ok false when it is not such a hit.
type PackedRecursor interface {
	AppendCached(dst []byte, name string, qtype uint16, client netip.Addr, do, ad bool) (reply []byte, rcode int, ok bool)
}

// serveCachedHit answers a recursive query from the recursor's packed
// cache, when the full way would ask ResolveCached and find a fresh hit.
func (h *Handler) serveCachedHit(pkt []byte, q *wireQuery, name string, rec *recursorBox, allowed bool, client netip.Addr, proto Protocol, out, cc []byte) ([]byte, int, bool) {
	if !allowed { // also when rec is nil
		return nil, 0, false
	}
	pr, ok := rec.Recursor.(PackedRecursor)
	if !ok || q.flags&0x0100 == 0 || q.qtype == 0 || q.qtype == dns.TypeTSIG {
		return nil, 0, false
	}
	out, rcode, ok := pr.AppendCached(out[:0], name, q.qtype, client, q.do, q.flags&0x0020 != 0)
	if !ok || rcode > 0xF {
		return nil, 0, false
	}
	if q.edns { // the server's OPT ends the reply, as on the full way
		out = append(out, 0, 0, byte(dns.TypeOPT), advertisedUDPSize>>8, advertisedUDPSize&0xFF, 0, 0, 0, 0, 0, 0)
		if q.do {
			out[len(out)-4] = 0x80
		}
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	if out = h.finish(out, pkt, q, true, client, proto, cc, noSubnet); out == nil {
		return nil, 0, false
	}
	return out, rcode, true
}

// noSubnet: finish echoes no Client Subnet option.
const noSubnet = -1

// finish patches a packed reply for the query at hand: the ID, RD, CD and
// RA, the question as asked (0x20), the client's cookie cc (nil: none) and
// the query's Client Subnet with the given scope (noSubnet: none) in the
// OPT that ends the reply, in the order the full way adds them. It returns
// nil when the reply would not fit the client's UDP size: truncation is
// decided the full way.
func (h *Handler) finish(out, pkt []byte, q *wireQuery, ra bool, client netip.Addr, proto Protocol, cc []byte, scope int) []byte {
	binary.BigEndian.PutUint16(out, q.id)
	out[2] |= byte(q.flags>>8) & 0x01 // RD
	out[3] |= byte(q.flags) & 0x10    // CD
	if ra {
		out[3] |= 0x80
	}
	copy(out[headerLen:q.qnameEnd], pkt[headerLen:q.qnameEnd])
	rdlen := len(out) - 2 // the OPT's, when the query had EDNS: the packed reply ends with it, empty
	out = h.appendCookieOption(out, cc, client)
	if scope != noSubnet {
		out = appendSubnetOption(out, rdlen, q.subnet, uint8(scope))
	}
	limit := dns.MaxMsgSize
	if proto == UDP {
		limit = dns.MinMsgSize
		if q.edns {
			limit = min(max(int(q.udpSize), dns.MinMsgSize), maxUDPSize)
		}
	}
	if len(out) > limit {
		return nil
	}
	return out
}

// appendSubnetOption adds the reply's Client Subnet option to the OPT
// record that ends out, whose RDLENGTH is at rdlen: the query's FAMILY,
// SOURCE PREFIX-LENGTH and ADDRESS (data, as parseOPT checked it) with
// scope; nothing when data is nil.
func appendSubnetOption(out []byte, rdlen int, data []byte, scope uint8) []byte {
	if data == nil {
		return out
	}
	n := len(out)
	out = append(out, 0, dns.EDNS0SUBNET, byte(len(data)>>8), byte(len(data)))
	out = append(out, data...)
	out[n+4+3] = scope
	binary.BigEndian.PutUint16(out[rdlen:], binary.BigEndian.Uint16(out[rdlen:])+uint16(len(out)-n))
	return out
}

// build packs the answer to q from the cache's zone set, each rotation
// variant once (signed when the query set DO and the zone is signed). An answer the packed path does not serve (a name outside
// the zones, too many variants) is kept with no variants, so that the
// next query for it goes the full way at once.
func (c *packedCache) build(q *wireQuery, g *geoBox) *packedAnswer {
	name := presentation(q.key[:q.keyN-5])
	a := &packedAnswer{name: name}
	z := c.set.Find(name)
	if z == nil {
		a.outside = true // the recursor's, or REFUSED
		return a
	}
	if z.Down != "" {
		return a // SERVFAIL with its EDE, the full way (answer.go)
	}
	if g != nil && g.Manages(name) {
		// GeoDNS answers it: packed per variant (serveGeo) when it can
		// name its variants, where the zone is authoritative for the name
		_, variants := g.Geo.(GeoVariants)
		a.geo = variants && !z.Delegated(name) && (q.qtype == dns.TypeA || q.qtype == dns.TypeAAAA)
		return a
	}
	question := dns.Question{Name: name, Qtype: q.qtype, Qclass: q.qclass}
	variants := 1
	for v := 0; v < variants; v++ {
		resp := &dns.Msg{Compress: true}
		resp.Response = true
		resp.Question = []dns.Question{question}
		n := c.set.Variant(resp, question, name, z, uint32(v))
		if q.do && c.set.Signed() {
			a.sign(c.set.Sign(resp, question))
		}
		if v == 0 {
			if n > maxVariants {
				return a
			}
			variants, a.rcode, a.answers = n, resp.Rcode, len(resp.Answer)
			a.cname = lastCNAME(resp.Answer)
			a.kind, a.owner = classify(resp)
			a.ownerHash = rrl.Hash(a.owner)
		}
		b, err := packWithOPT(resp, q)
		if err != nil {
			a.variants = nil
			return a
		}
		a.variants = append(a.variants, b)
	}
	return a
}

// packWithOPT packs resp, ending with the server's OPT (no options) when
// the query had EDNS.
func packWithOPT(resp *dns.Msg, q *wireQuery) ([]byte, error) {
	if q.edns {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(advertisedUDPSize)
		opt.SetDo(q.do)
		resp.Extra = append(resp.Extra, opt)
	}
	return resp.Pack()
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
