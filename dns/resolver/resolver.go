// Package resolver is dnsd's recursive resolver: iterative resolution from
// root hints (RFC 1034 §5.3.3) or forwarding, over the message cache in
// netsim/dns/cache, with coalescing of identical in-flight queries,
// prefetch of popular entries and serve-stale (RFC 8767).
package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/dns/cache"
	"netsim/dns/ecs"
)

// Resolver answers recursive queries. Build it with New, call Start for
// background work and Close to stop it.
type Resolver struct {
	cfg   Config
	comp  compiled
	log   *zap.Logger
	cache *cache.Cache
	m     *metrics
	now   func() time.Time
	dial  func(ctx context.Context, network, address string) (net.Conn, error)

	servers *serverSet
	knobs   atomic.Pointer[Knobs] // run-time switches (knobs.go); nil: as configured

	mu      sync.Mutex
	flights map[flightKey]*flight
	failed  map[cache.Key]time.Time // when resolving a question last failed (RFC 9520, RFC 8767 failure recheck)

	ctx    context.Context // cancelled by Close; parent of every resolution
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// Option adjusts a Resolver at construction (tests inject the clock).
type Option func(*Resolver)

// WithClock replaces time.Now for TTL arithmetic.
func WithClock(now func() time.Time) Option { return func(r *Resolver) { r.now = now } }

// WithDialer replaces the dialer of upstream connections ("udp" and "tcp"
// to a server's ip:port); tests pass in-memory connections (net.Pipe) so
// that timeouts run on testing/synctest's clock.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return func(r *Resolver) { r.dial = dial }
}

// New validates cfg and builds a resolver. reg may be nil (no metrics
// registered); log may be nil.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Resolver, error) {
	comp, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	r := &Resolver{
		cfg:     cfg,
		comp:    comp,
		log:     log,
		now:     time.Now,
		dial:    (&net.Dialer{}).DialContext,
		flights: make(map[flightKey]*flight),
		failed:  make(map[cache.Key]time.Time),
	}
	for _, o := range opts {
		o(r)
	}
	r.cache, err = cache.New(cfg.Cache.cache(), r.now)
	if err != nil {
		return nil, err
	}
	r.servers = newServerSet(r.now)
	r.m, err = newMetrics(reg, r.cache)
	if err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Cache exposes the cache (admin listing, tests).
func (r *Resolver) Cache() *cache.Cache { return r.cache }

// Start runs the janitor that sweeps dead cache entries and old
// failure-recheck marks until ctx is cancelled or Close is called.
func (r *Resolver) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.ctx.Done():
				return
			case <-t.C:
				if n := r.cache.Sweep(); n > 0 {
					r.log.Debug("cache sweep", zap.Int("removed", n))
				}
				keep := max(r.cfg.StaleRecheck, r.cfg.FailureTTL)
				now := r.now()
				r.mu.Lock()
				for k, at := range r.failed {
					if now.Sub(at) > keep {
						delete(r.failed, k)
					}
				}
				r.mu.Unlock()
			}
		}
	}()
}

// Close cancels resolutions in flight and waits for every background
// goroutine to end.
func (r *Resolver) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// Allowed reports whether client may recurse.
func (r *Resolver) Allowed(client netip.Addr) bool {
	client = client.Unmap()
	for _, p := range r.comp.allow {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

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
	if !r.fromCache(req, resp, client) {
		r.resolveForClient(ctx, req, resp, client)
	}
	r.m.answered(resp.Rcode)
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
	r.m.answered(resp.Rcode)
	return true
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
		r.maybePrefetch(k, h)
		return true
	}
	if !req.RecursionDesired {
		r.m.cacheMisses.Inc()
		if hit && r.cfg.Cache.StaleWindow > 0 {
			r.staleReply(resp, h)
			return true
		}
		r.referralFromCache(resp, k.Name)
		return true
	}
	return false
}

// resolveForClient handles a miss (or a stale entry) for an RD=1 query
// that fromCache could not answer.
func (r *Resolver) resolveForClient(ctx context.Context, req, resp *dns.Msg, client netip.Addr) {
	r.m.cacheMisses.Inc()
	q := req.Question[0]
	k := cache.Key{Name: strings.ToLower(dns.Fqdn(q.Name)), Type: q.Qtype, Class: dns.ClassINET}
	sub, err := r.subnet(req, client)
	if err != nil {
		fill(resp, dns.RcodeFormatError)
		return
	}
	h, hit := r.cache.Lookup(k, sub.at)
	if hit && !h.Stale {
		// filled in by a resolution that finished since fromCache looked
		fill(resp, dns.RcodeSuccess)
		h.Fill(resp, r.now(), 0)
		return
	}
	r.mu.Lock()
	failedAt, failed := r.failed[k]
	r.mu.Unlock()
	now := r.now()
	if !hit && failed && now.Sub(failedAt) < r.cfg.FailureTTL {
		// RFC 9520: a resolution that just failed is not retried for every
		// client that asks again
		r.m.failureHits.Inc()
		fill(resp, dns.RcodeServerFailure)
		return
	}
	var staleWait <-chan time.Time
	if hit {
		// expired but within the stale window
		if failed && now.Sub(failedAt) < r.cfg.StaleRecheck {
			r.staleReply(resp, h)
			return
		}
		if r.cfg.StaleClientTimeout <= 0 {
			r.join(k, false, sub) // refresh behind the stale answer
			r.staleReply(resp, h)
			return
		}
		t := time.NewTimer(r.cfg.StaleClientTimeout)
		defer t.Stop()
		staleWait = t.C
	}
	f := r.join(k, true, sub)
	select {
	case <-f.done:
	case <-staleWait:
		r.staleReply(resp, h)
		return
	case <-ctx.Done():
		if hit {
			r.staleReply(resp, h)
		} else {
			fill(resp, dns.RcodeServerFailure)
		}
		return
	}
	if f.err != nil {
		if hit {
			r.staleReply(resp, h)
		} else {
			fill(resp, dns.RcodeServerFailure)
		}
		return
	}
	// Answer from the entry just stored, so the first clients see the same
	// capped TTLs and rotation as later ones; copy when it was not cacheable.
	if h, ok := r.cache.Lookup(k, sub.at); ok && !h.Stale {
		fill(resp, dns.RcodeSuccess)
		h.Fill(resp, r.now(), 0)
		return
	}
	fill(resp, f.msg.Rcode)
	resp.Answer = copyRRs(f.msg.Answer)
	resp.Ns = copyRRs(f.msg.Ns)
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

func (r *Resolver) staleReply(resp *dns.Msg, h cache.Hit) {
	r.m.stale.Inc()
	fill(resp, dns.RcodeSuccess)
	h.Stale = true
	h.Fill(resp, r.now(), uint32(r.cfg.StaleAnswerTTL/time.Second))
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

func (r *Resolver) maybePrefetch(k cache.Key, h cache.Hit) {
	if !r.Knobs().Prefetch || h.TTL < 10*time.Second || h.Negative {
		return
	}
	if h.Remaining > time.Duration(float64(h.TTL)*r.cfg.PrefetchThreshold) {
		return
	}
	if int(h.Hits) < r.cfg.PrefetchMinHits || !h.ClaimPrefetch() {
		return
	}
	r.m.prefetches.Inc()
	var sub subnet
	if h.Key.Scope.IsValid() {
		// refresh the entry for the network it holds for
		sub = subnet{opt: ecs.Option(h.Key.Scope), at: h.Key.Scope.Addr(), scope: h.Key.Scope}
	}
	r.join(k, false, sub)
}

// flightKey identifies one resolution in flight. Scope is the client
// subnet sent upstream (ECS): clients of different subnets do not share
// a resolution, as they may get different answers.
type flightKey struct {
	name  string
	qtype uint16
	scope netip.Prefix
}

// subnet is what a resolution sends as EDNS Client Subnet and where its
// answer is looked up: opt is nil when ECS is off; at is the address that
// locates the client (invalid when it opted out with SOURCE 0).
type subnet struct {
	opt   *dns.EDNS0_SUBNET
	at    netip.Addr
	scope netip.Prefix
}

// lookupAddr is the address a cached answer must hold for: the client's,
// or the one in its own ECS option. bad when that option is malformed
// (RFC 7871 §7.1.2: FORMERR). Allocation-free for a query without ECS.
func (r *Resolver) lookupAddr(req *dns.Msg, client netip.Addr) (netip.Addr, bool) {
	if !r.cfg.ECS.Enabled || len(req.Extra) == 0 {
		return client, false
	}
	o := ecs.Find(req)
	if o == nil {
		return client, false
	}
	s, err := ecs.Parse(o)
	if err != nil {
		return netip.Addr{}, true
	}
	if s.OptOut() {
		return netip.Addr{}, false
	}
	return s.Addr(), false
}

// subnet builds the option to send upstream for this client (the policy's
// /24 or /56 of its address, or a shorter prefix it sent itself).
func (r *Resolver) subnet(req *dns.Msg, client netip.Addr) (subnet, error) {
	if !r.cfg.ECS.Enabled {
		return subnet{at: client}, nil
	}
	opt, err := r.comp.ecsPolicy.Upstream(client, ecs.Find(req))
	if err != nil {
		return subnet{}, err
	}
	if opt.SourceNetmask == 0 {
		return subnet{opt: opt}, nil
	}
	s, err := ecs.Parse(opt)
	if err != nil {
		return subnet{}, err
	}
	return subnet{opt: opt, at: s.Addr(), scope: s.Prefix}, nil
}

type flight struct {
	done chan struct{}
	msg  *dns.Msg
	err  error
}

// join attaches to the resolution of k in flight or starts one. counted
// says whether a joining client counts as coalesced (prefetch does not).
func (r *Resolver) join(k cache.Key, counted bool, sub subnet) *flight {
	fk := flightKey{name: k.Name, qtype: k.Type, scope: sub.scope}
	coalesce := r.Knobs().Coalesce // off: every client asks upstream itself (the thundering herd)
	r.mu.Lock()
	if f, ok := r.flights[fk]; ok && coalesce {
		r.mu.Unlock()
		if counted {
			r.m.coalesced.Inc()
		}
		return f
	}
	f := &flight{done: make(chan struct{})}
	if r.closed {
		r.mu.Unlock()
		f.err = errClosed
		close(f.done)
		return f
	}
	if coalesce {
		r.flights[fk] = f
	}
	r.wg.Add(1)
	r.mu.Unlock()
	r.m.inflight.Inc()
	go func() {
		defer r.wg.Done()
		defer r.m.inflight.Dec()
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
		start := time.Now()
		st := r.newState(nil)
		st.ecs, st.client = sub.opt, sub.at
		msg, err := r.resolve(ctx, st, k.Name, k.Type)
		cancel()
		err = timeoutErr(err, r.cfg.Timeout)
		result := "ok"
		if err == nil {
			k := k
			if st.scope.IsValid() && st.scope.Bits() > 0 {
				k.Scope = st.scope // answer tailored to the client's network
			}
			if _, serr := r.cache.Set(k, msg); serr != nil && !errors.Is(serr, cache.ErrNotCacheable) {
				r.log.Warn("cache set", zap.Stringer("key", k), zap.Error(serr))
			}
			r.mu.Lock()
			delete(r.failed, k)
			r.mu.Unlock()
		} else {
			result = "fail"
			if !errors.Is(err, context.Canceled) {
				r.mu.Lock()
				r.failed[k] = r.now()
				r.mu.Unlock()
			}
			if ce := r.log.Check(zap.DebugLevel, "resolution failed"); ce != nil {
				ce.Write(zap.String("name", k.Name), zap.String("type", dns.TypeToString[k.Type]), zap.Int("upstream_queries", st.queries), zap.Error(err))
			}
		}
		r.m.resolutions.WithLabelValues(result).Observe(time.Since(start).Seconds())
		f.msg, f.err = msg, err
		r.mu.Lock()
		if r.flights[fk] == f {
			delete(r.flights, fk)
		}
		r.mu.Unlock()
		close(f.done)
	}()
	return f
}

var errClosed = errors.New("resolver closed")

// forgetFailures drops the failure marks of name ("" = all), so that a
// flush through the admin API makes the next query try upstream again.
func (r *Resolver) forgetFailures(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.failed {
		if name == "" || k.Name == name {
			delete(r.failed, k)
		}
	}
}
