// Package resolver is dnsd's recursive resolver: iterative resolution from
// root hints (RFC 1034 §5.3.3) or forwarding, over the message cache in
// netsim/dns/cache, with coalescing of identical in-flight queries,
// prefetch of popular entries and serve-stale (RFC 8767).
package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/dns/cache"
	"netsim/internal/events"
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
	val     *validator            // nil: no DNSSEC validation (validate.go)
	events  *events.Bus           // nil: no events (events.go)
	knobs   atomic.Pointer[Knobs] // run-time switches (knobs.go); nil: as configured

	resolutionSeq atomic.Uint64 // ids of resolutions in dns.upstream events
	unwanted      atomic.Int64  // unwanted replies since the last defensive flush (unwanted.go)
	clients       clientSlots   // resolutions each client waits for (clients.go)

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
	if ds, err := cfg.DNSSEC.anchor(); err != nil {
		return nil, err
	} else if len(ds) > 0 {
		r.val = newValidator(ds)
	}
	for _, o := range opts {
		o(r)
	}
	r.cache, err = cache.New(cfg.Cache, r.now)
	if err != nil {
		return nil, err
	}
	if r.events != nil {
		r.cache.SetObserver(r.cacheObserver)
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
