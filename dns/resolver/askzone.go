package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/cache"
)

// maxRetryRounds is how many more times servers that timed out are asked.
const maxRetryRounds = 2

// askZone tries the servers of d until one gives a usable reply: an
// answer or a referral. Timeouts, SERVFAIL, REFUSED and lame replies move
// on to the next server. NS names without glue are resolved when the
// servers with addresses are exhausted.
func (r *Resolver) askZone(ctx context.Context, st *state, d *delegation, qname string, qtype uint16) (*dns.Msg, verdict, string, error) {
	tried := map[netip.AddrPort]bool{}
	var lastErr error
	var timedOut []netip.AddrPort // asked again if every server failed: one lost packet is no reason to give up
	patient := false              // the last rounds wait the whole upstream_timeout
	try := func(addrs []netip.AddrPort) (*dns.Msg, verdict, string, bool, error) {
		ordered := r.servers.order(addrs)
		r.probeSuspects(ordered, d.zone)
		for _, a := range ordered {
			if tried[a] {
				continue
			}
			tried[a] = true
			if err := ctx.Err(); err != nil {
				return nil, 0, "", false, err
			}
			res, err := r.exchange(ctx, st, a, qname, qtype, d.forward, patient)
			hop := st.hop(a, d, qname, qtype, res)
			if err != nil {
				r.upstreamEvent(st, a, d.zone, qname, qtype, res, 0, "", err)
				hop.fail(err)
				if errors.Is(err, ErrQueryLimit) || ctx.Err() != nil {
					return nil, 0, "", false, err
				}
				lastErr = fmt.Errorf("%s: %w", a, err)
				if errors.Is(err, errTimeout) {
					timedOut = append(timedOut, a)
				}
				continue
			}
			v, why := classify(d, qname, res.msg)
			r.upstreamEvent(st, a, d.zone, qname, qtype, res, v, why, nil)
			hop.result(res.msg, v, why)
			switch v {
			case vFail, vLame:
				lastErr = fmt.Errorf("%s: %s", a, why)
				continue
			case vLoop:
				lastErr = fmt.Errorf("%s: %w: %s", a, ErrReferralLoop, why)
				continue
			}
			return res.msg, v, why, true, nil
		}
		return nil, 0, "", false, nil
	}
	m, v, cut, ok, err := try(d.addrs())
	if err != nil || ok {
		return m, v, cut, err
	}
	// Glueless (or every glued server failed): look up NS addresses, a
	// bounded number of them (NXNSAttack).
	lookups := 0
	for _, ns := range d.ns {
		if len(d.glue[ns]) > 0 {
			continue
		}
		if st.active[ns] {
			if lastErr == nil {
				lastErr = fmt.Errorf("%w: finding the address of %s needs that address", ErrReferralLoop, ns)
			}
			continue
		}
		if isSub(ns, d.zone) {
			continue // in-bailiwick without glue: asking would loop back here
		}
		if lookups == r.cfg.MaxNSLookupsPerReferral {
			r.m.nsCapped.Inc()
			st.note("%s: %d name servers without glue looked up, the rest left alone (max_ns_lookups_per_referral)", d.zone, lookups)
			break
		}
		lookups++
		addrs, err := r.nsAddrs(ctx, st, ns)
		if err != nil {
			if errors.Is(err, ErrQueryLimit) || ctx.Err() != nil {
				return nil, 0, "", err
			}
			lastErr = fmt.Errorf("address of %s: %w", ns, err)
			continue
		}
		m, v, cut, ok, err := try(addrs)
		if err != nil || ok {
			return m, v, cut, err
		}
	}
	// Servers that timed out get up to two more tries, like Unbound's
	// outbound-msg-retry, as long as the resolution's time lasts, each
	// waited for the whole upstream_timeout (not the RTO: a server slower
	// than it was is still an answer).
	patient = true
	for round := 0; round < maxRetryRounds && len(timedOut) > 0 && ctx.Err() == nil; round++ {
		again := timedOut
		timedOut = nil
		for _, a := range again {
			tried[a] = false
		}
		m, v, cut, ok, err := try(again)
		if err != nil || ok {
			return m, v, cut, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, "", err
	}
	if lastErr == nil {
		lastErr = errors.New("no addresses")
	}
	return nil, 0, "", fmt.Errorf("%w %s: %w", ErrNoServers, d.zone, lastErr) // both wrapped: EDE tells a timeout from a network error
}

// nsAddrs resolves a name server's addresses (A, then AAAA when there is
// no A) as a nested lookup sharing the client's budget.
func (r *Resolver) nsAddrs(ctx context.Context, st *state, ns string) ([]netip.AddrPort, error) {
	if st.depth >= r.cfg.MaxNSLookupDepth {
		return nil, ErrNSLookupDepth
	}
	st.active[ns] = true
	st.depth++
	defer func() { st.depth--; delete(st.active, ns) }()
	var out []netip.AddrPort
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		var msg *dns.Msg
		if !st.noCache {
			if h, ok := r.cache.Get(cache.Key{Name: ns, Type: qt, Class: dns.ClassINET}); ok && !h.Stale {
				msg = h.Msg
			}
		}
		if msg == nil {
			st.note("looking up the address of %s (%s)", ns, dns.TypeToString[qt])
			m, err := r.resolve(ctx, st, ns, qt)
			if err != nil {
				if qt == dns.TypeA {
					continue
				}
				if len(out) == 0 {
					return nil, err
				}
				break
			}
			msg = m
			r.store(st, cache.Key{Name: ns, Type: qt, Class: dns.ClassINET}, m)
		}
		for _, rr := range msg.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					out = append(out, netip.AddrPortFrom(a, uint16(r.cfg.Port)))
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(r.cfg.Port)))
				}
			}
		}
		if len(out) > 0 {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address", ns)
	}
	return out, nil
}
