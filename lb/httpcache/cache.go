// Package httpcache is a shared HTTP cache (RFC 9111) for a reverse
// proxy: what may be stored and for how long, Vary, revalidation with
// ETag and Last-Modified, 304s to clients' conditional requests,
// stale-while-revalidate and stale-if-error (RFC 5861), and request
// collapsing (concurrent misses for one key make one backend request).
// Responses live in a byte-bounded store with W-TinyLFU eviction
// (github.com/maypok86/otter/v2).
//
// It is engine-neutral: a request is described by a Request (method,
// target, host, a header getter), a hit is written from a Hit (fields
// as bytes for an engine of its own, or WriteTo an http.ResponseWriter),
// and a miss is filled by wrapping whatever http.ResponseWriter the
// engine's forwarding writes to (Fill).
package httpcache

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"netsim/internal/cfgerr"
)

// Config is a route's `cache:` block.
type Config struct {
	// MaxBytes bounds the store: bodies, fields and overhead. [64 MiB]
	MaxBytes int64 `mapstructure:"max_bytes" json:"max_bytes"`
	// MaxObjectBytes: a larger response is passed on, not stored. [1 MiB]
	MaxObjectBytes int64 `mapstructure:"max_object_bytes" json:"max_object_bytes"`
	// HeuristicMax caps a heuristic freshness lifetime (10% of the time
	// since Last-Modified, for a response without explicit expiry). [24h]
	HeuristicMax time.Duration `mapstructure:"heuristic_max" json:"heuristic_max"`
	// CollapseTimeout is how long a request waits for another's fetch of
	// the same key before going to the backend itself (nginx's
	// proxy_cache_lock_timeout). [5s]
	CollapseTimeout time.Duration `mapstructure:"collapse_timeout" json:"collapse_timeout"`
}

// Defaults of Config.
const (
	DefaultMaxBytes        = 64 << 20
	DefaultMaxObjectBytes  = 1 << 20
	DefaultHeuristicMax    = 24 * time.Hour
	DefaultCollapseTimeout = 5 * time.Second
)

// withDefaults fills the zero fields of cfg.
func (cfg Config) withDefaults() Config {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxObjectBytes == 0 {
		cfg.MaxObjectBytes = min(DefaultMaxObjectBytes, cfg.MaxBytes/4)
	}
	if cfg.HeuristicMax == 0 {
		cfg.HeuristicMax = DefaultHeuristicMax
	}
	if cfg.CollapseTimeout == 0 {
		cfg.CollapseTimeout = DefaultCollapseTimeout
	}
	return cfg
}

// Check refuses a bad value: the error (a *cfgerr.Error) names the key
// under key ("frontends[0].cache"), the value and what is expected.
func (cfg Config) Check(key string) error {
	cfg = cfg.withDefaults()
	switch {
	case cfg.MaxBytes < 4096:
		return cfgerr.New(key+".max_bytes", cfg.MaxBytes, "at least 4096 bytes")
	case cfg.MaxObjectBytes < 0 || cfg.MaxObjectBytes > cfg.MaxBytes:
		return cfgerr.New(key+".max_object_bytes", cfg.MaxObjectBytes, "between 0 and max_bytes (%d)", cfg.MaxBytes)
	case cfg.HeuristicMax < 0:
		return cfgerr.New(key+".heuristic_max", cfg.HeuristicMax, "a duration of 0 or more")
	case cfg.CollapseTimeout < 0:
		return cfgerr.New(key+".collapse_timeout", cfg.CollapseTimeout, "a duration of 0 or more")
	}
	return nil
}

// Options are the cache's seams.
type Options struct {
	// Now is the clock [time.Now].
	Now func() time.Time
	// Normalize maps a request field's value (by canonical name) before
	// it keys a variant: "Accept-Encoding" to compress's normal form, so
	// that "gzip, br" and "br,gzip" share a variant.
	Normalize map[string]func(string) string
	// Refresh fetches r from the backends into w, for a revalidation in
	// the background (stale-while-revalidate). It runs on a goroutine the
	// cache owns (Close waits for it). nil: a stale entry is revalidated
	// by the request that found it.
	Refresh func(r *http.Request, w http.ResponseWriter)
}

// Header is how the cache reads a request's fields: http.Header has
// it, and an engine with its own parser gives a small adapter.
type Header interface{ Get(name string) string }

// Request is what the cache reads of a client request.
type Request struct {
	Method string
	Host   string
	Target string // origin-form: path and query
	Header Header
}

// Kind is what to do with a request.
type Kind int

const (
	// Pass: forward it; nothing is stored. A Fill may still be given (an
	// unsafe method invalidates what it changed).
	Pass Kind = iota
	// Cached: answer with Result.Hit; no backend request.
	Cached
	// Miss: forward it through Result.Fill, which stores the response
	// when it may.
	Miss
	// Revalidate: forward it through Result.Fill with the stored
	// response's validators (Fill.Conditionals).
	Revalidate
	// GatewayTimeout: only-if-cached and nothing usable: answer 504.
	GatewayTimeout
)

// Result is Lookup's answer.
type Result struct {
	Kind Kind
	Hit  Hit
	Fill *Fill
}

// Stats are the cache's counters since it was built.
type Stats struct {
	Hits        int64 `json:"hits"`
	Misses      int64 `json:"misses"`
	Collapsed   int64 `json:"collapsed"` // requests that waited for another's fetch
	Stale       int64 `json:"stale"`
	Revalidated int64 `json:"revalidated"`
	Stores      int64 `json:"stores"`
	Evictions   int64 `json:"evictions"`
	Purged      int64 `json:"purged"`
	Bytes       int64 `json:"bytes"`
	Objects     int64 `json:"objects"`
}

// Cache is one route's cache.
type Cache struct {
	cfg  Config
	opt  Options
	st   *store
	now  func() time.Time
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	flights map[string]*flight

	hits, misses, collapsed, stale, revalidated, stores, purged atomic.Int64
}

// flight is one backend fetch that requests for the same key wait for.
type flight struct{ done chan struct{} }

// New builds a cache; errors name the key, the value and what is expected.
func New(cfg Config, opt Options) (*Cache, error) {
	if err := cfg.Check("cache"); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st, err := newStore(cfg.MaxBytes)
	if err != nil {
		return nil, cfgerr.New("cache.max_bytes", cfg.MaxBytes, "a size the store takes (%v)", err)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Cache{cfg: cfg, opt: opt, st: st, now: opt.Now, ctx: ctx, stop: stop, flights: map[string]*flight{}}, nil
}

// Config is the configuration in force, defaults filled in.
func (c *Cache) Config() Config { return c.cfg }

// Close stops background revalidations and waits for them.
func (c *Cache) Close() {
	c.stop()
	c.wg.Wait()
}

// Stats reads the counters.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Collapsed: c.collapsed.Load(), Stale: c.stale.Load(),
		Revalidated: c.revalidated.Load(), Stores: c.stores.Load(), Evictions: c.st.evictions.Load(), Purged: c.purged.Load(),
		Bytes: int64(c.st.c.WeightedSize()), Objects: int64(c.st.c.EstimatedSize())}
}

// Purge removes the stored responses for target (path and query, any
// host), or with prefix for every target that starts with it. It
// returns how many went.
func (c *Cache) Purge(target string, prefix bool) int {
	n := c.st.purge(target, prefix)
	c.purged.Add(int64(n))
	return n
}

// Invalidate forgets what is stored for req's target: for an engine
// that forwards an unsafe request itself, once it succeeded (§4.4).
func (c *Cache) Invalidate(req Request) { c.st.invalidate(primaryKey(req.Target, req.Host)) }

// requestControl reads a request's Cache-Control (Pragma: no-cache when
// there is none, RFC 9111 §5.4).
func requestControl(h Header) control {
	cc := h.Get("Cache-Control")
	if cc == "" {
		rc := parseControl(nil)
		rc.noCache = h.Get("Pragma") == "no-cache"
		return rc
	}
	return parseControl([]string{cc})
}

// Lookup decides how to answer req. For Miss and Revalidate the caller
// must forward through Result.Fill and call its Finish; a Miss may first
// wait, up to CollapseTimeout or until ctx ends, for another request's
// fetch of the same key (request collapsing).
func (c *Cache) Lookup(ctx context.Context, req Request) Result {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return Result{Kind: Pass, Fill: &Fill{c: c, req: req, primary: primaryKey(req.Target, req.Host), invalidate: true}}
	default:
		return Result{Kind: Pass}
	}
	if req.Header.Get("Range") != "" || req.Header.Get("Upgrade") != "" {
		return Result{Kind: Pass}
	}
	rc := requestControl(req.Header)
	primary := primaryKey(req.Target, req.Host)
	for waited := false; ; waited = true {
		now := c.now()
		e, key := c.st.find(primary, req.Header, c.opt.Normalize)
		if e != nil {
			if hit, ok := c.usable(e, req, rc, now); ok {
				c.hits.Add(1)
				return Result{Kind: Cached, Hit: hit}
			}
		}
		if rc.onlyIfCached {
			return Result{Kind: GatewayTimeout}
		}
		if req.Method == http.MethodHead {
			return Result{Kind: Pass} // a HEAD is answered from a GET's entry, never fills one
		}
		c.mu.Lock()
		fl := c.flights[key]
		if fl != nil && !waited {
			c.mu.Unlock()
			c.collapsed.Add(1)
			if !c.wait(ctx, fl) {
				return Result{Kind: Pass}
			}
			continue
		}
		f := &Fill{c: c, req: req, primary: primary, rc: rc, stale: e, reqTime: now,
			inm: req.Header.Get("If-None-Match"), ims: req.Header.Get("If-Modified-Since")}
		if fl == nil {
			f.flight, f.key = &flight{done: make(chan struct{})}, key
			c.flights[key] = f.flight
		}
		c.mu.Unlock()
		c.misses.Add(1)
		if e != nil && e.hasValidator() {
			return Result{Kind: Revalidate, Fill: f}
		}
		return Result{Kind: Miss, Fill: f}
	}
}

// wait waits for fl; false when ctx ended first (the client went away).
func (c *Cache) wait(ctx context.Context, fl *flight) bool {
	t := time.NewTimer(c.cfg.CollapseTimeout)
	defer t.Stop()
	select {
	case <-fl.done:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// usable reports whether e may answer req without the backend (RFC 9111
// §4.2, §5.2.1; RFC 5861 §3), and how.
func (c *Cache) usable(e *Entry, req Request, rc control, now time.Time) (Hit, bool) {
	if rc.noCache || e.cc.noCache || (rc.maxAge >= 0 && e.age(now) > rc.maxAge) {
		return Hit{}, false
	}
	age := e.age(now)
	left := e.lifetime - age
	state := "HIT"
	switch {
	case left > 0:
		if rc.minFresh >= 0 && left < rc.minFresh {
			return Hit{}, false
		}
	case !e.mayServeStale():
		return Hit{}, false
	case rc.maxStale >= 0 && -left <= rc.maxStale:
		state = "STALE"
	case e.cc.staleWhileRevalidate >= 0 && -left <= e.cc.staleWhileRevalidate && c.opt.Refresh != nil:
		state = "STALE"
		c.refresh(e, req, now)
	default:
		return Hit{}, false
	}
	if state == "STALE" {
		c.stale.Add(1)
	}
	return c.hit(e, req.Header.Get("If-None-Match"), req.Header.Get("If-Modified-Since"), age, state), true
}

// hit answers a request with e: a 304 when the client's conditions
// (If-None-Match, If-Modified-Since) match.
func (c *Cache) hit(e *Entry, inm, ims string, age time.Duration, state string) Hit {
	status := e.Status
	if e.notModified(inm, ims) {
		status = http.StatusNotModified
	}
	return Hit{Entry: e, Status: status, Age: int64(age / time.Second), State: state}
}

// refresh revalidates e in the background, unless a fetch of its key is
// under way.
func (c *Cache) refresh(e *Entry, req Request, now time.Time) {
	c.mu.Lock()
	if c.flights[e.key] != nil || c.ctx.Err() != nil {
		c.mu.Unlock()
		return
	}
	fl := &flight{done: make(chan struct{})}
	c.flights[e.key] = fl
	c.wg.Add(1)
	c.mu.Unlock()
	r, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://"+req.Host+req.Target, nil)
	if err != nil { // a target that was served cannot fail to parse; the entry just stays stale
		c.endFlight(e.key, fl)
		c.wg.Done()
		return
	}
	r.Host = req.Host
	r.RequestURI = req.Target
	names, _ := varyFields(e.Header)
	for _, name := range names {
		if v := req.Header.Get(name); v != "" {
			r.Header.Set(name, v)
		}
	}
	f := &Fill{c: c, req: Request{Method: http.MethodGet, Host: req.Host, Target: req.Target, Header: r.Header},
		primary: primaryKey(req.Target, req.Host), rc: parseControl(nil), stale: e, reqTime: now, flight: fl, key: e.key}
	f.SetConditionals(r.Header)
	w := f.Wrap(discard{h: http.Header{}})
	go func() {
		defer c.wg.Done()
		defer f.Finish()
		c.opt.Refresh(r, w)
	}()
}

func (c *Cache) endFlight(key string, fl *flight) {
	c.mu.Lock()
	if c.flights[key] == fl {
		delete(c.flights, key)
	}
	c.mu.Unlock()
	close(fl.done)
}

// discard is the client of a background revalidation: nobody.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) WriteHeader(int)             {}
func (discard) Write(p []byte) (int, error) { return len(p), nil }
