package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/dns/ede"
)

// Answering clients: the contract dns/server holds every answer source to,
// cache hits, misses, serve-stale and referrals from the cache.

// reply starts a complete reply to req, for Answer's callers that have no
// server in front.
func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	m.RecursionAvailable = true
	m.Rcode = rcode
	if len(req.Question) > 0 {
		m.Question = req.Question[:1:1]
	}
	return m
}

// Resolve is the answer contract dns/server holds every answer source to:
// resp is already a reply to req (ID, opcode, question, RD, CD, RA), and
// the server has validated req (one question of class IN, a type that can
// be asked, a well-formed Client Subnet option) and checked that client
// may recurse. Resolve sets Rcode and the three sections, never an OPT
// record: SERVFAIL when resolution fails within the limits (or a stale
// answer when one is cached and serve-stale is on). A query with RD=0 is
// answered from the cache only: the entry if fresh, else a referral to the
// closest cached zone cut.
//
// The records in the reply may be shared with the cache and with other
// replies: treat them as read-only (the section slices are the reply's own).
func (r *Resolver) Resolve(ctx context.Context, req, resp *dns.Msg, client netip.Addr) {
	r.ResolveExplained(ctx, req, resp, client)
}

// ResolveCached is Resolve without waiting on upstream servers: fresh
// cache hits and RD=0 queries. It returns false, resp untouched, when the
// query needs a resolution; the caller then calls Resolve (from a
// goroutine, as it may take up to the resolver's timeout). A server so
// answers cache hits inline on its read loop.
func (r *Resolver) ResolveCached(req, resp *dns.Msg, client netip.Addr) bool {
	if !r.fromCache(req, resp, client) {
		return false
	}
	r.dnssecView(req, resp)
	r.m.answered(resp.Rcode)
	return true
}

// AppendCached is ResolveCached for a fresh cache hit, in wire form: it
// appends to dst the reply to a query for name (lower case, fully
// qualified), qtype, class IN, with RD set and no EDNS option but DO
// (do), the AD flag as ad, from an allowed client, TTLs counted down to
// now (dns/cache Hit.AppendWire). It is what dnssecView makes of the
// full way's reply: RRSIG, NSEC and NSEC3 records only to a DO client,
// AD on a validated (secure) answer only when the query set DO or AD
// (RFC 6840 §5.7, §5.8). The caller sets the ID, the question's case, RD,
// CD and RA and adds its OPT record. ok is false for anything else: a
// miss, a stale entry, an answer that does not pack; then ResolveCached
// or Resolve answers. Bogus data is never cached, so never served here.
func (r *Resolver) AppendCached(dst []byte, name string, qtype uint16, client netip.Addr, do, ad bool) (reply []byte, rcode int, ok bool) {
	k := cache.Key{Name: name, Type: qtype, Class: dns.ClassINET}
	now := r.now()
	h, hit := r.cache.LookupAt(k, client, now)
	if !hit || h.Stale {
		return dst, 0, false
	}
	n := len(dst)
	if reply, ok = h.AppendWire(dst, now, !do); !ok {
		return dst, 0, false
	}
	if h.Msg.AuthenticatedData && r.val != nil && (do || ad) {
		reply[n+3] |= 0x20 // AD
	}
	r.m.cacheHits.Inc()
	r.maybePrefetch(k, h)
	r.m.answered(h.Msg.Rcode)
	return reply, h.Msg.Rcode, true
}

// Answer is Resolve for callers without dns/server in front (tools,
// tests): it checks req and the client itself and returns a complete
// reply, never nil, with RA set and the question echoed in the client's
// case. EDNS of the final reply (OPT, size, truncation) is left to the
// caller.
func (r *Resolver) Answer(ctx context.Context, req *dns.Msg, client netip.Addr) *dns.Msg {
	if resp := r.refuse(req, client); resp != nil {
		return resp
	}
	resp := reply(req, dns.RcodeSuccess)
	r.Resolve(ctx, req, resp, client)
	return resp
}

// AnswerCached is ResolveCached for callers without dns/server in front;
// ok is false when the query needs upstream work.
func (r *Resolver) AnswerCached(req *dns.Msg, client netip.Addr) (resp *dns.Msg, ok bool) {
	if resp := r.refuse(req, client); resp != nil {
		return resp, true
	}
	resp = reply(req, dns.RcodeSuccess)
	if !r.ResolveCached(req, resp, client) {
		return nil, false
	}
	return resp, true
}

// refuse checks what dns/server checks before it calls Resolve, for
// Answer's callers: it returns the error reply, or nil for a query to
// resolve.
func (r *Resolver) refuse(req *dns.Msg, client netip.Addr) *dns.Msg {
	rcode := dns.RcodeSuccess
	switch {
	case req.Response:
		rcode = dns.RcodeFormatError
	case req.Opcode != dns.OpcodeQuery:
		rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		rcode = dns.RcodeFormatError
	default:
		q := req.Question[0]
		_, nameOK := dns.IsDomainName(q.Name)
		switch {
		case q.Qclass != dns.ClassINET, q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
			rcode = dns.RcodeRefused
		case q.Qtype == dns.TypeOPT || q.Qtype == dns.TypeTSIG || q.Qtype == 0 || !nameOK:
			rcode = dns.RcodeFormatError
		case !r.Allowed(client):
			rcode = dns.RcodeRefused
		}
	}
	if rcode == dns.RcodeSuccess {
		return nil
	}
	r.m.answered(rcode)
	return reply(req, rcode)
}

// fill sets the outcome of a resolution in resp.
func fill(resp *dns.Msg, rcode int) {
	resp.Rcode = rcode
	resp.AuthenticatedData = false
	resp.Answer, resp.Ns, resp.Extra = nil, nil, nil
}

// fromCache answers what needs no waiting into resp; false means resolve.
func (r *Resolver) fromCache(req, resp *dns.Msg, client netip.Addr) bool {
	q := req.Question[0]
	at, bad := r.lookupAddr(req, client)
	if bad {
		fill(resp, dns.RcodeFormatError)
		return true
	}
	k := cache.Key{Name: strings.ToLower(dns.Fqdn(q.Name)), Type: q.Qtype, Class: dns.ClassINET}
	now := r.now()
	h, hit := r.cache.LookupAt(k, at, now)
	if hit && !h.Stale {
		r.m.cacheHits.Inc()
		fill(resp, dns.RcodeSuccess)
		h.Fill(resp, now, 0)
		resp.AuthenticatedData = h.Msg.AuthenticatedData
		r.maybePrefetch(k, h)
		return true
	}
	if !req.RecursionDesired {
		r.m.cacheMisses.Inc()
		if hit && r.cfg.Cache.StaleWindow > 0 {
			r.staleReply(resp, h, "expired; a query without RD is answered from the cache only")
			return true
		}
		r.referralFromCache(resp, k.Name)
		return true
	}
	return false
}

// resolveForClient handles a miss (or a stale entry) for an RD=1 query
// that fromCache could not answer. It says how the answer was found: hit,
// miss, stale or coalesced (ResolveExplained).
func (r *Resolver) resolveForClient(ctx context.Context, req, resp *dns.Msg, client netip.Addr) string {
	r.m.cacheMisses.Inc()
	q := req.Question[0]
	k := cache.Key{Name: strings.ToLower(dns.Fqdn(q.Name)), Type: q.Qtype, Class: dns.ClassINET}
	sub, err := r.subnet(req, client)
	if err != nil {
		fill(resp, dns.RcodeFormatError)
		return "miss"
	}
	h, hit := r.cache.Lookup(k, sub.at)
	if hit && !h.Stale {
		// filled in by a resolution that finished since fromCache looked
		fill(resp, dns.RcodeSuccess)
		h.Fill(resp, r.now(), 0)
		resp.AuthenticatedData = h.Msg.AuthenticatedData
		return "hit"
	}
	r.mu.Lock()
	failedAt, failed := r.failed[k]
	r.mu.Unlock()
	now := r.now()
	if !hit && failed && now.Sub(failedAt) < r.cfg.FailureTTL && !(req.CheckingDisabled && r.val != nil) {
		// RFC 9520: a resolution that just failed is not retried for every
		// client that asks again
		r.m.failureHits.Inc()
		fill(resp, dns.RcodeServerFailure)
		ede.Set(resp, ede.CachedError, "resolving "+k.Name+" "+dns.TypeToString[k.Type]+" failed "+now.Sub(failedAt).Round(time.Millisecond).String()+
			" ago; not retried for failure_ttl "+r.cfg.FailureTTL.String()+" (RFC 9520)")
		return "miss"
	}
	var staleWait <-chan time.Time
	if hit {
		// expired but within the stale window
		if failed && now.Sub(failedAt) < r.cfg.StaleRecheck {
			r.staleReply(resp, h, "the last refresh failed "+now.Sub(failedAt).Round(time.Millisecond).String()+" ago (stale_recheck "+r.cfg.StaleRecheck.String()+")")
			return "stale"
		}
		if r.cfg.StaleClientTimeout <= 0 {
			r.join(k, false, sub, false) // refresh behind the stale answer
			r.staleReply(resp, h, "expired; refreshing behind this answer")
			return "stale"
		}
		t := time.NewTimer(r.cfg.StaleClientTimeout)
		defer t.Stop()
		staleWait = t.C
	}
	limit := r.cfg.MaxResolutionsPerClient
	if !r.clients.acquire(client, limit) {
		// this client already waits for its share: it does not get more
		// resolutions, but what the cache still holds (RFC 8767)
		r.m.clientLimited.Inc()
		if hit {
			r.staleReply(resp, h, fmt.Sprintf("this client has %d resolutions in flight (max_resolutions_per_client)", limit))
			return "stale"
		}
		fill(resp, dns.RcodeServerFailure)
		ede.Set(resp, dns.ExtendedErrorCodeOther, fmt.Sprintf("this client has %d resolutions in flight (max_resolutions_per_client)", limit))
		return "miss"
	}
	defer r.clients.release(client, limit)
	f, joined := r.join(k, true, sub, req.CheckingDisabled)
	how := "miss"
	switch {
	case joined:
		how = "coalesced"
	case f.cached:
		how = "hit"
	}
	select {
	case <-f.done:
	case <-staleWait:
		r.staleReply(resp, h, "no fresh answer within stale_client_timeout "+r.cfg.StaleClientTimeout.String())
		return "stale"
	case <-ctx.Done():
		if hit {
			r.staleReply(resp, h, "no fresh answer within the time limit")
			return "stale"
		}
		fill(resp, dns.RcodeServerFailure)
		failureEDE(resp, timeoutErr(ctx.Err(), r.cfg.Timeout))
		return how
	}
	if f.err != nil {
		if hit {
			r.staleReply(resp, h, "refresh failed: "+f.err.Error())
			return "stale"
		}
		fill(resp, dns.RcodeServerFailure)
		failureEDE(resp, f.err)
		return how
	}
	// Answer from the entry just stored, so the first clients see the same
	// capped TTLs and rotation as later ones; copy when it was not cacheable.
	if h, ok := r.cache.Lookup(k, sub.at); ok && !h.Stale {
		fill(resp, dns.RcodeSuccess)
		h.Fill(resp, r.now(), 0)
		resp.AuthenticatedData = h.Msg.AuthenticatedData
		return how
	}
	fill(resp, f.msg.Rcode)
	resp.Answer = copyRRs(f.msg.Answer)
	resp.Ns = copyRRs(f.msg.Ns)
	resp.AuthenticatedData = f.msg.AuthenticatedData
	return how
}

func copyRRs(in []dns.RR) []dns.RR {
	if len(in) == 0 {
		return nil
	}
	out := make([]dns.RR, len(in))
	for i, rr := range in {
		out[i] = dns.Copy(rr)
	}
	return out
}

// staleReply answers from an expired entry (RFC 8767), with an Extended
// DNS Error saying why.
func (r *Resolver) staleReply(resp *dns.Msg, h cache.Hit, why string) {
	r.m.stale.Inc()
	fill(resp, dns.RcodeSuccess)
	h.Stale = true
	h.Fill(resp, r.now(), uint32(r.cfg.StaleAnswerTTL/time.Second))
	staleEDE(resp, why)
}

// referralFromCache answers an RD=0 miss the way Unbound does: with the
// closest zone cut known to the cache, or REFUSED when none is cached.
func (r *Resolver) referralFromCache(resp *dns.Msg, name string) {
	for z := name; ; {
		if h, ok := r.cache.Get(cache.Key{Name: z, Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation}); ok && !h.Stale {
			fill(resp, dns.RcodeSuccess)
			h.Fill(resp, r.now(), 0)
			resp.Rcode = dns.RcodeSuccess
			return
		}
		if z == "." {
			break
		}
		z = parent(z)
	}
	fill(resp, dns.RcodeRefused)
}
