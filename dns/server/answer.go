package server

import (
	"context"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/ecs"
	"netsim/dns/ede"
)

// The answer contract. Every source of answers — the zones (auth.Set),
// GeoDNS (Geo) and the recursor (Recursor) — fills the same reply the same
// way. The server has validated the query (one question, a well-formed
// EDNS record and options) and made resp a reply to it: ID, opcode, the
// question as asked, RD, CD, and RA when the client may recurse. The
// source sets Rcode, AA and the three sections, never an OPT record (the
// server adds its own), and may add EDNS options (Client Subnet) to ropt,
// the reply's OPT, nil when the query had none. Class, zone transfers and
// the recursion ACL are decided here, before any source is asked.

// Recursor answers queries for names outside the listener's zones. The
// resolver package implements it.
type Recursor interface {
	Allowed(client netip.Addr) bool
	// Resolve fills resp for a query of class IN from a client allowed to
	// recurse; it may wait on upstream servers until ctx is done.
	Resolve(ctx context.Context, req, resp *dns.Msg, client netip.Addr)
	// ResolveCached fills resp without waiting on upstreams (a cache hit,
	// a query without RD) and reports true, or leaves resp alone and
	// reports false when the query needs a resolution.
	ResolveCached(req, resp *dns.Msg, client netip.Addr) bool
}

// Geo answers names managed by GeoDNS before the zone data is consulted.
// It returns handled=false for names it does not manage. qname is the
// question name in lower case; opt is the reply's OPT record (nil when the
// query had none), to which it may add a Client Subnet option.
type Geo interface {
	Manages(qname string) bool
	Answer(req, resp *dns.Msg, qname string, client netip.Addr, opt *dns.OPT) (handled bool)
}

// answered says who filled a reply.
type answered uint8

const (
	bySelf     answered = iota // the server: refusals, CHAOS, zones, GeoDNS
	byRecursor                 // the recursor filled it
	notYet                     // the recursor has to wait on upstreams
)

// answer decides who answers: GeoDNS, our zones, the recursor, or nobody.
// With block false it returns notYet instead of waiting on the recursor.
// qi, when it asks (qi.explain), is told where the answer came from.
func (h *Handler) answer(ctx context.Context, req, resp *dns.Msg, client netip.Addr, ropt *dns.OPT, block bool, qi *queryInfo) answered {
	q := req.Question[0]
	rec := h.rec.Load()
	allowed := rec != nil && rec.Allowed(client)
	resp.RecursionAvailable = allowed
	switch q.Qclass {
	case dns.ClassINET, dns.ClassANY:
	case dns.ClassCHAOS:
		qi.source = srcAuth
		h.chaos(q, resp)
		return bySelf
	default:
		qi.source = srcRefused
		resp.Rcode = dns.RcodeRefused // we serve class IN only
		ede.Set(resp, ede.NotSupported, "only class IN is served")
		return bySelf
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB:
		qi.source = srcRefused
		resp.Rcode = dns.RcodeRefused // zone transfer is not offered
		ede.Set(resp, ede.Prohibited, "zone transfers are not offered by "+h.Name)
		return bySelf
	case dns.TypeOPT:
		resp.Rcode = dns.RcodeFormatError
		return bySelf
	}
	qname := strings.ToLower(q.Name)
	set := h.Zones()
	if z := set.Find(qname); z != nil {
		qi.source = srcAuth
		if z.Down != "" { // a secondary's zone that expired or was never transferred (dns/xfr)
			resp.Rcode = dns.RcodeServerFailure
			ede.Set(resp, ede.InvalidData, z.Down)
			return bySelf
		}
		// a geo name answers only where its zone is authoritative for it,
		// not from a parent that holds a delegation above it
		if g := h.geo.Load(); g != nil && g.Manages(qname) && !z.Delegated(qname) {
			if g.Answer(req, resp, qname, client, ropt) {
				qi.geoAnswered(g.Geo, req, qname, q.Qtype, client)
				signIfAsked(set, req, resp)
				return bySelf
			}
		}
		set.Answer(resp, q, qname, z)
		if g := h.geo.Load(); g != nil {
			if t := h.geoAfterCNAME(g.Geo, set, req, resp, client, ropt); t != "" {
				qi.geoAnswered(g.Geo, req, t, q.Qtype, client)
			}
		}
		signIfAsked(set, req, resp)
		return bySelf
	}
	switch {
	case !allowed, q.Qclass != dns.ClassINET:
		qi.source = srcRefused
		resp.Rcode = dns.RcodeRefused // recursion is for allowed clients, class IN
		refusalEDE(resp, h.Name, qname, rec != nil, allowed, client)
		return bySelf
	case q.Qtype == 0, q.Qtype == dns.TypeTSIG:
		resp.Rcode = dns.RcodeFormatError // not a type to ask upstream for
		return bySelf
	}
	qi.source = srcResolver
	if !block {
		if !rec.ResolveCached(req, resp, client) {
			return notYet
		}
		qi.cache = "hit"
		return byRecursor
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	if ex, ok := rec.Recursor.(CacheExplainer); ok && qi.explain {
		qi.cache = ex.ResolveExplained(ctx, req, resp, client)
		return byRecursor
	}
	rec.Resolve(ctx, req, resp, client)
	return byRecursor
}

// refusalEDE says why a query for a name outside our zones is REFUSED
// (RFC 8914 §4.19, §4.21): this listener does not recurse (Not
// Authoritative), the client may not recurse (Prohibited), or recursion
// is for class IN only (Not Supported).
func refusalEDE(resp *dns.Msg, listener, qname string, recurses, allowed bool, client netip.Addr) {
	switch {
	case !recurses:
		ede.Set(resp, ede.NotAuthoritative, listener+" is not authoritative for "+qname+" and does not recurse")
	case !allowed:
		ede.Set(resp, ede.Prohibited, "recursion is not allowed for "+client.String()+" (resolver.allow)")
	default:
		ede.Set(resp, ede.NotSupported, "recursion is for class IN only")
	}
}

// geoAfterCNAME: when a CNAME chain chased inside our zones ends at a geo
// name (shop → www), the final addresses come from GeoDNS, as a query for
// that name would get, not from the zone's static records. It returns the
// geo name (lower case) when GeoDNS gave the final addresses, else "".
func (h *Handler) geoAfterCNAME(g Geo, set *auth.Set, req, resp *dns.Msg, client netip.Addr, ropt *dns.OPT) string {
	q := req.Question[0]
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA {
		return ""
	}
	var target string
	last := -1
	for i, rr := range resp.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			target, last = c.Target, i
		}
	}
	if last < 0 {
		return ""
	}
	t := strings.ToLower(target)
	z := set.Find(t)
	if z == nil || !g.Manages(t) || z.Delegated(t) {
		return ""
	}
	sub := new(dns.Msg)
	sub.SetQuestion(target, q.Qtype)
	sub.Extra = req.Extra // the client's EDNS options, ECS included
	subResp := new(dns.Msg)
	subResp.SetReply(sub)
	if !g.Answer(sub, subResp, t, client, ropt) || subResp.Rcode != dns.RcodeSuccess {
		return ""
	}
	resp.Answer = append(resp.Answer[:last+1], subResp.Answer...)
	resp.Ns = nil
	return t
}

// chaos answers the CH-class identity queries operators use to tell
// servers apart (RFC 4892): id.server and hostname.bind give this host and
// listener, version.server and version.bind the software. Anything else in
// class CH is REFUSED.
func (h *Handler) chaos(q dns.Question, resp *dns.Msg) {
	var txt string
	switch strings.ToLower(q.Name) {
	case "id.server.", "hostname.bind.":
		txt = h.Identity
	case "version.server.", "version.bind.":
		txt = "netsim dnsd"
	default:
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	if q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeANY {
		return // NODATA
	}
	resp.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{txt}}}
}

// echoSubnet: a query that carried a Client Subnet option gets one back
// from an authoritative answer (RFC 7871 §7.2.1); when nothing tailored
// the answer (GeoDNS set no scope), the scope is 0: it holds for every
// client. (Recursive answers carry no option back: the resolver's cached
// scope is not passed through.)
func echoSubnet(req *dns.Msg, ropt *dns.OPT) {
	q := ecs.Find(req)
	if q == nil {
		return
	}
	for _, o := range ropt.Option {
		if _, ok := o.(*dns.EDNS0_SUBNET); ok {
			return
		}
	}
	ropt.Option = append(ropt.Option, ecs.Reply(q, 0))
}

// signIfAsked adds the DNSSEC records to an answer from our zones (or
// GeoDNS) when the query set DO (RFC 3225, RFC 4035 §3.1) and the zone is
// signed. The signatures come from the signer's cache.
func signIfAsked(set *auth.Set, req, resp *dns.Msg) {
	if opt := req.IsEdns0(); opt != nil && opt.Do() && set.Signed() {
		set.Sign(resp, req.Question[0])
	}
}
