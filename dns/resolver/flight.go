package resolver

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/cache"
	"netsim/dns/ecs"
)

// Coalescing of identical resolutions in flight, and prefetch.

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
	r.join(k, false, sub, false)
}

// flightKey identifies one resolution in flight. Scope is the client
// subnet sent upstream (ECS): clients of different subnets do not share
// a resolution, as they may get different answers.
type flightKey struct {
	name  string
	qtype uint16
	scope netip.Prefix
	cd    bool // checking disabled: bogus data answered, never cached
}

type flight struct {
	done chan struct{}
	msg  *dns.Msg
	err  error
	// cached: no resolution was started, because the cache held a fresh
	// answer when join looked under r.mu (msg is that answer).
	cached bool
}

// join attaches to the resolution of k in flight (joined) or starts one.
// counted says whether a joining client counts as coalesced (prefetch
// does not).
func (r *Resolver) join(k cache.Key, counted bool, sub subnet, cd bool) (f *flight, joined bool) {
	fk := flightKey{name: k.Name, qtype: k.Type, scope: sub.scope, cd: cd && r.val != nil}
	coalesce := r.Knobs().Coalesce // off: every client asks upstream itself (the thundering herd)
	r.mu.Lock()
	if f, ok := r.flights[fk]; ok && coalesce {
		r.mu.Unlock()
		if counted {
			r.m.coalesced.Inc()
		}
		return f, true
	}
	f = &flight{done: make(chan struct{})}
	if counted && coalesce {
		// A flight stores its answer before it leaves r.flights, so a
		// client that found neither the answer (resolveForClient's look)
		// nor the flight (just now) may have looked in between: look
		// again, or the name is resolved twice for one burst of clients.
		if h, ok := r.cache.Lookup(k, sub.at); ok && !h.Stale {
			r.mu.Unlock()
			f.msg, f.cached = h.Msg, true
			close(f.done)
			return f, false
		}
	}
	if r.closed {
		r.mu.Unlock()
		f.err = errClosed
		close(f.done)
		return f, false
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
		st.ecs, st.client, st.cd = sub.opt, sub.at, fk.cd
		msg, err := r.resolve(ctx, st, k.Name, k.Type)
		cancel()
		err = timeoutErr(err, r.cfg.Timeout)
		result := "ok"
		if err == nil && st.bogus != nil {
			msg.AuthenticatedData = false // CD: bogus data for this client alone
		} else if err == nil {
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
	return f, false
}

var errClosed = errors.New("resolver closed")
