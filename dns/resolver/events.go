package resolver

import (
	"context"
	"errors"
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/internal/events"
)

// WithEvents makes the resolver publish dns.upstream (each upstream
// exchange) and dns.cache (each cache change) events on b.
func WithEvents(b *events.Bus) Option { return func(r *Resolver) { r.events = b } }

// UpstreamEvent is "dns.upstream": one exchange with an upstream server.
type UpstreamEvent struct {
	ID        uint64 `json:"id"` // the resolution's id, shared by all its steps
	Name      string `json:"name"`
	QType     string `json:"qtype"`
	Server    string `json:"server"`
	Zone      string `json:"zone"` // the zone the server was asked as
	Outcome   string `json:"outcome"`
	RCode     string `json:"rcode,omitempty"`
	Transport string `json:"transport,omitempty"`
	RTTus     int64  `json:"rtt_us"`
	Detail    string `json:"detail,omitempty"`
}

// EventType names the event.
func (*UpstreamEvent) EventType() string { return "dns.upstream" }

// CacheEvent is "dns.cache": an entry set, expired, evicted or flushed.
type CacheEvent struct {
	Op    string `json:"op"`
	Name  string `json:"name,omitempty"` // empty: the whole cache (flush)
	QType string `json:"qtype,omitempty"`
	Kind  string `json:"kind,omitempty"` // delegation, nxdomain-cut; empty for answers
	Scope string `json:"scope,omitempty"`
	TTL   uint32 `json:"ttl,omitempty"`
}

// EventType names the event.
func (*CacheEvent) EventType() string { return "dns.cache" }

// cacheObserver turns cache changes into events when someone wants them.
func (r *Resolver) cacheObserver(op cache.Op, k cache.Key, ttl uint32) {
	if !r.events.Wants("dns.cache") {
		return
	}
	e := &CacheEvent{Op: op.String(), Name: k.Name, TTL: ttl}
	if k.Name != "" {
		e.QType = dns.TypeToString[k.Type]
	}
	if k.Kind != cache.Answer {
		e.Kind = k.Kind.String()
	}
	if k.Scope.IsValid() {
		e.Scope = k.Scope.String()
	}
	r.events.Publish(e)
}

// upstreamEvent publishes one exchange of askZone.
func (r *Resolver) upstreamEvent(st *state, server netip.AddrPort, zone, qname string, qtype uint16, res exchangeResult, v verdict, why string, err error) {
	if !r.events.Wants("dns.upstream") {
		return
	}
	if st.id == 0 {
		st.id = r.resolutionSeq.Add(1)
	}
	e := &UpstreamEvent{
		ID: st.id, Name: qname, QType: dns.TypeToString[qtype], Server: server.String(), Zone: zone,
		Transport: res.transport, RTTus: res.rtt.Microseconds(),
	}
	switch {
	case err != nil && errors.Is(err, errTimeout):
		e.Outcome, e.Detail = "timeout", err.Error()
	case err != nil:
		e.Outcome, e.Detail = "error", err.Error()
	default:
		e.RCode = dns.RcodeToString[res.msg.Rcode]
		switch v {
		case vReferral:
			e.Outcome, e.Detail = "referral", why
		case vLame, vLoop:
			e.Outcome, e.Detail = "lame", why
		case vFail:
			e.Outcome = "error"
		default:
			switch {
			case res.msg.Rcode == dns.RcodeNameError:
				e.Outcome = "nxdomain"
			case len(res.msg.Answer) == 0:
				e.Outcome = "nodata"
			default:
				e.Outcome = "answer"
			}
		}
	}
	r.events.Publish(e)
}

// ResolveExplained is Resolve that also says how the answer was found:
// "hit" (fresh in the cache), "miss" (resolved upstream), "stale"
// (served past its TTL, RFC 8767) or "coalesced" (joined a resolution of
// the same question already in flight). dns/server calls it instead of
// Resolve when someone listens to its events.
func (r *Resolver) ResolveExplained(ctx context.Context, req, resp *dns.Msg, client netip.Addr) string {
	how := "hit"
	if !r.fromCache(req, resp, client) {
		how = r.resolveForClient(ctx, req, resp, client)
	}
	r.dnssecView(req, resp)
	r.m.answered(resp.Rcode)
	return how
}
