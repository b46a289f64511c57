package resolver

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// probeSuspects checks, in the background, the suspects among a zone's
// servers (ordered: the healthy ones first) whose backoff has run out:
// one question for the zone's SOA each, so that a server that came back
// is used again and one still dead costs no client a wait. Nothing is
// probed when no healthy server leads the list: then the suspects are
// asked the client's own question.
func (r *Resolver) probeSuspects(ordered []netip.AddrPort, zone string) {
	if len(ordered) < 2 || r.servers.get(ordered[0]).suspect() {
		return
	}
	now := r.now()
	for _, a := range ordered[1:] {
		if st := r.servers.get(a); st.suspect() && !st.down(now) {
			r.probe(st, zone, now)
		}
	}
}

// probe asks st's server for zone's SOA, once at a time per server; any
// reply (even REFUSED: the server is up) makes it healthy, a timeout or
// an error backs it off further. The goroutine is the resolver's: it ends
// within the server's timeout or when the resolver closes.
func (r *Resolver) probe(st *serverStat, zone string, now time.Time) {
	if !st.probing.CompareAndSwap(false, true) {
		return
	}
	st.downUntil.Store(now.Add(backoff(st.fails.Load())).UnixNano()) // the next one, if this one gets no answer
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		st.probing.Store(false)
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer st.probing.Store(false)
		q := new(dns.Msg)
		q.SetQuestion(zone, dns.TypeSOA)
		q.Id, q.RecursionDesired = uint16(rand.Uint32()), false
		start := time.Now()
		_, err := r.exchangeUDP(r.ctx, st.addr, q, st.timeout(r.cfg.UpstreamTimeout))
		if r.ctx.Err() != nil {
			return
		}
		st.queries.Add(1)
		if err != nil {
			r.m.upstream.WithLabelValues("udp", "probe_failed").Inc()
			st.failure(r.now(), err)
			return
		}
		r.m.upstream.WithLabelValues("udp", "probe_ok").Inc()
		st.success(time.Since(start))
	}()
}
