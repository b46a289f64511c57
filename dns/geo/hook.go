package geo

import (
	"net/netip"
	"sync/atomic"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
)

// Hook plugs an Engine into a DNS server and makes reloads a swap. Its
// Answer method has the shape of dns/server's Geo interface:
//
//	h := geo.NewHook(engine)
//	handler.SetGeo(h)
//	geo.RegisterRoutesFunc(adminMux, h.Load)
//	// on reload: next, err := geo.New(...); next.Start(ctx); h.Swap(next).Close()
//
// Answer fills resp for A and AAAA queries of geo-managed names and
// returns true; for anything it does not answer (other names, other
// types, a pool without addresses of the asked family) it returns false
// and the zone answers — so keep each geo name in its zone too (with, say,
// the default pool's addresses) for NODATA/SOA and other types to come out
// right.
type Hook struct {
	cur atomic.Pointer[Engine]
}

// NewHook returns a hook serving e (which may be nil: no geo names).
func NewHook(e *Engine) *Hook {
	h := &Hook{}
	h.cur.Store(e)
	return h
}

// Load returns the engine in use.
func (h *Hook) Load() *Engine { return h.cur.Load() }

// Swap installs e and returns the previous engine, which the caller
// closes once it is out of use (Close stops its probes; queries already
// inside it finish normally).
func (h *Hook) Swap(e *Engine) *Engine { return h.cur.Swap(e) }

// Manages reports whether qname is a geo name of the engine in use.
func (h *Hook) Manages(qname string) bool {
	e := h.cur.Load()
	return e != nil && e.Manages(qname)
}

// Answer answers req into resp. qname is the question name (any case);
// client the query's source address; opt the reply's OPT record (nil when
// the query had no EDNS), to which the client-subnet reply option is
// added.
func (h *Hook) Answer(req, resp *dns.Msg, qname string, client netip.Addr, opt *dns.OPT) bool {
	e := h.cur.Load()
	if e == nil || len(req.Question) != 1 {
		return false
	}
	q := req.Question[0]
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA {
		return false
	}
	n := e.lookup(qname)
	if n == nil {
		return false
	}
	var sub *dns.EDNS0_SUBNET
	if opt != nil { // the query had EDNS
		sub = ecs.Find(req)
	}
	r := e.answer(n, q.Qtype, client, sub, true)
	switch r.Rcode {
	case dns.RcodeFormatError, dns.RcodeServerFailure:
		resp.Rcode = r.Rcode
		resp.Answer = nil
		return true
	}
	if len(r.Answer) == 0 {
		return false
	}
	resp.Authoritative = true
	resp.Rcode = dns.RcodeSuccess
	if q.Name == n.name {
		resp.Answer = append(resp.Answer, r.Answer...)
	} else {
		// Keep the question's case in the answer (RFC 1034 §3.1 / 4.3.2
		// "0x20"); the shared records are not modified.
		for _, rr := range r.Answer {
			c := dns.Copy(rr)
			c.Header().Name = q.Name
			resp.Answer = append(resp.Answer, c)
		}
	}
	if opt != nil && r.ECS != nil {
		opt.Option = append(opt.Option, r.ECS)
	}
	return true
}
