package server

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/geo"
	"netsim/dns/rrl"
)

// GeoVariants is a Geo whose answers the packed path keeps per variant
// (geo.Hook implements it): the decision (where the client is, which
// pool, which members) is made per query, the records are packed — and
// signed — once per variant, and the ECS scope is patched in.
type GeoVariants interface {
	// Variant decides the answer to an A or AAAA query for qname (lower
	// case) from client, with the Client Subnet option's data subnet
	// (nil: none); false: the full way answers it (Geo.Answer).
	Variant(qname string, qtype uint16, client netip.Addr, subnet []byte) (geo.Variant, bool)
}

var _ GeoVariants = (*geo.Hook)(nil)

// maxGeoKey is room for a geo variant's part of a packed-cache key
// (geo.Variant.AppendKey: a view, two bytes, at most 16 places).
const maxGeoKey = 8 + 2 + 16

// serveGeo answers a query for a geo name from the packed answer of its
// variant, packing it on the variant's first query. It reports false when
// the full way must answer (the geo hook names no variant for it, or the
// reply would not fit).
func (h *Handler) serveGeo(c *packedCache, pkt []byte, q *wireQuery, name string, allowed bool, client netip.Addr, proto Protocol, out, cc []byte, cookieOK bool, lim *rrl.Limiter) ([]byte, int, bool) {
	g := h.geo.Load()
	if g == nil {
		return nil, 0, false
	}
	gv, ok := g.Geo.(GeoVariants)
	if !ok {
		return nil, 0, false
	}
	v, ok := gv.Variant(name, q.qtype, client, q.subnet)
	if !ok {
		return nil, 0, false
	}
	var kb [maxNameWire + 5 + maxGeoKey]byte
	key := v.AppendKey(append(kb[:0], q.key[:q.keyN]...))
	hash := c.hash(key)
	a := c.get(key, hash)
	if a == nil || a.signed && !time.Now().Before(a.until) {
		if a = c.buildGeo(q, name, &v); a == nil {
			return nil, 0, false
		}
		c.put(key, hash, a)
	}
	scope := noSubnet
	if q.subnet != nil {
		scope = int(v.Scope)
	}
	if out = h.finish(append(out[:0], a.variants[0]...), pkt, q, allowed, client, proto, cc, scope); out == nil {
		return nil, 0, false
	}
	v.Count()
	return h.limit(out, pkt, q, a, allowed, client, cc, cookieOK, lim)
}

// buildGeo packs the answer of the geo variant v as the full way gives it
// (answer.go: the hook's records, AA, signed when the query set DO and
// the zone is signed); nil when it does not pack.
func (c *packedCache) buildGeo(q *wireQuery, name string, v *geo.Variant) *packedAnswer {
	a := &packedAnswer{name: name, keep: v.Keep()}
	question := dns.Question{Name: name, Qtype: q.qtype, Qclass: q.qclass}
	resp := &dns.Msg{Compress: true}
	resp.Response, resp.Authoritative = true, true
	resp.Question = []dns.Question{question}
	resp.Answer = append([]dns.RR(nil), v.Records()...) // the records are shared: signing appends
	if q.do && c.set.Signed() {
		a.sign(c.set.Sign(resp, question))
	}
	a.rcode, a.answers = resp.Rcode, len(resp.Answer)
	a.kind, a.owner = classify(resp)
	a.ownerHash = rrl.Hash(a.owner)
	b, err := packWithOPT(resp, q)
	if err != nil {
		return nil
	}
	a.variants = [][]byte{b}
	return a
}
