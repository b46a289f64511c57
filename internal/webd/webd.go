// Package webd is the sample web server that stands behind the load
// balancer in demos and tests. Each Server answers with its id and version,
// has a health endpoint, reports its load, and has knobs to rehearse the
// failures a balancer must survive: added latency, injected errors, failing
// health and hanging requests.
package webd

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"netsim/internal/listen"
	"netsim/internal/tick"
)

// Options configure a Server. Only ID and Version are needed; the zero value
// of every other field works.
type Options struct {
	ID      string
	Version string
	Log     *zap.Logger // nil: no logs

	// Rand is the source for latency jitter and injected errors. Seed it
	// (rand.NewPCG(1, 2)) for reproducible runs; nil: seeded at random.
	Rand rand.Source

	// Capacity is the number of in-flight requests that counts as 100% load
	// in the load report. Default 100.
	Capacity int64

	// Initial knobs.
	Latency   time.Duration
	Jitter    time.Duration
	ErrorRate float64
	Unhealthy bool
	Hang      bool

	// AdminToken, when set, is required as a bearer token by POST/PATCH
	// /admin/config. Empty: the admin endpoint is open (loopback demos).
	AdminToken string

	// DrainTimeout bounds the graceful shutdown in ListenAndServe/Serve:
	// in-flight requests get this long to finish. Default 30s.
	DrainTimeout time.Duration

	// H2C also serves HTTP/2 without TLS (prior knowledge or Upgrade).
	H2C bool

	// Hostname reported in the JSON answer; default os.Hostname().
	Hostname string

	// Now is the clock of the health flap knob; nil: time.Now.
	Now func() time.Time
}

// Server is one sample web server. It is an http.Handler; ListenAndServe
// or Serve run it on a listener with graceful shutdown.
type Server struct {
	id       string
	log      *zap.Logger
	hostname string
	capacity int64
	token    string
	drain    time.Duration
	h2c      bool
	now      func() time.Time

	mu    sync.Mutex // serialises knob changes and guards rng
	rng   *rand.Rand
	state atomic.Pointer[knobs]

	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	requests    atomic.Int64
	errors      atomic.Int64
	hung        atomic.Int64

	mux *http.ServeMux

	static map[string]*staticFile // the demo's files (content.go)
	orders []Order                // the demo API's orders
}

// New returns a Server with the given options.
func New(o Options) *Server {
	s := &Server{
		id:       o.ID,
		log:      o.Log,
		hostname: o.Hostname,
		capacity: o.Capacity,
		token:    o.AdminToken,
		drain:    o.DrainTimeout,
		h2c:      o.H2C,
		now:      o.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.With(zap.String("backend", o.ID))
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	if s.capacity <= 0 {
		s.capacity = 100
	}
	if s.drain <= 0 {
		s.drain = 30 * time.Second
	}
	src := o.Rand
	if src == nil {
		var seed [16]byte
		_, _ = crand.Read(seed[:])
		src = rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	}
	s.rng = rand.New(src)
	k := &knobs{
		version:   o.Version,
		latency:   clampDelay(o.Latency),
		jitter:    clampDelay(o.Jitter),
		errorRate: min(max(o.ErrorRate, 0), 1),
		healthy:   !o.Unhealthy,
		hang:      o.Hang,
		load:      -1,
		release:   make(chan struct{}),
	}
	if !k.hang {
		close(k.release)
	}
	s.state.Store(k)
	s.static, s.orders = loadStatic(), demoOrders()
	s.routes()
	return s
}

func clampDelay(d time.Duration) time.Duration { return min(max(d, 0), MaxDelay) }

// ID returns the server's id.
func (s *Server) ID() string { return s.id }

// Version returns the version the server currently reports.
func (s *Server) Version() string { return s.state.Load().version }

// InFlight is the number of content requests being served now (health,
// load and admin requests are not counted).
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// Requests is the number of content requests started since New.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Errors is the number of content requests answered with an error (injected
// 500s and hung requests released with 503).
func (s *Server) Errors() int64 { return s.errors.Load() }

// Healthy reports whether /healthz answers 200 now (the healthy knob, and
// the flap knob's current half-period).
func (s *Server) Healthy() bool { return s.state.Load().passing(s.now()) }

// SetFlap makes health flip every period, passing first (0: steady).
// Negative values count as 0; values over MaxDelay are clamped.
func (s *Server) SetFlap(period time.Duration) {
	now := s.now()
	s.update(func(k *knobs) { k.flap, k.flapSince = clampDelay(period), now })
	s.log.Info("health flap set", zap.Duration("flap", period))
}

// update applies f to a copy of the knobs and swaps it in.
func (s *Server) update(f func(k *knobs)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.state.Load()
	k := *old
	f(&k)
	switch {
	case old.hang && !k.hang:
		close(old.release) // wake every hung request
	case !old.hang && k.hang:
		k.release = make(chan struct{})
	}
	s.state.Store(&k)
}

// SetHealthy makes /healthz answer 200 (true) or 503 (false).
func (s *Server) SetHealthy(ok bool) {
	s.update(func(k *knobs) { k.healthy = ok })
	s.log.Info("health set", zap.Bool("healthy", ok))
}

// SetVersion changes the version reported from now on.
func (s *Server) SetVersion(v string) {
	s.update(func(k *knobs) { k.version = v })
	s.log.Info("version set", zap.String("version", v))
}

// SetLatency adds fixed plus a uniformly random delay in [0, jitter) before
// each content answer. Negative values count as 0; values over MaxDelay are
// clamped.
func (s *Server) SetLatency(fixed, jitter time.Duration) {
	s.update(func(k *knobs) { k.latency, k.jitter = clampDelay(fixed), clampDelay(jitter) })
	s.log.Info("latency set", zap.Duration("latency", fixed), zap.Duration("jitter", jitter))
}

// SetErrorRate makes this fraction (0..1) of content requests answer 500.
func (s *Server) SetErrorRate(r float64) {
	if r != r { // NaN
		r = 0
	}
	s.update(func(k *knobs) { k.errorRate = min(max(r, 0), 1) })
	s.log.Info("error rate set", zap.Float64("error_rate", r))
}

// SetHang makes content and health requests block (true) until hang is
// switched off, the client goes away or the server shuts down.
func (s *Server) SetHang(on bool) {
	s.update(func(k *knobs) { k.hang = on })
	s.log.Info("hang set", zap.Bool("hang", on))
}

// SetLoad forces the load percentage of the load report (0..100); a negative
// value goes back to the measured load.
func (s *Server) SetLoad(pct float64) {
	if pct != pct {
		pct = -1
	}
	s.update(func(k *knobs) { k.load = min(pct, 100) })
}

// Config returns the current knobs.
func (s *Server) Config() Config {
	k := s.state.Load()
	c := Config{
		ID:        s.id,
		Version:   k.version,
		Latency:   k.latency.String(),
		Jitter:    k.jitter.String(),
		ErrorRate: k.errorRate,
		Healthy:   k.healthy,
		Hang:      k.hang,
		Flap:      k.flap.String(),
		Capacity:  s.capacity,
	}
	if k.load >= 0 {
		l := k.load
		c.Load = &l
	}
	return c
}

// Apply validates p and applies it as one change; on error nothing changes
// and the error names the field.
func (s *Server) Apply(p ConfigPatch) error {
	if err := p.validate(); err != nil {
		return err
	}
	now := s.now()
	s.update(func(k *knobs) {
		if p.Flap != nil {
			k.flap, k.flapSince = time.Duration(*p.Flap), now
		}
		if p.Version != nil {
			k.version = *p.Version
		}
		if p.Latency != nil {
			k.latency = time.Duration(*p.Latency)
		}
		if p.Jitter != nil {
			k.jitter = time.Duration(*p.Jitter)
		}
		if p.ErrorRate != nil {
			k.errorRate = *p.ErrorRate
		}
		if p.Healthy != nil {
			k.healthy = *p.Healthy
		}
		if p.Hang != nil {
			k.hang = *p.Hang
		}
		if p.Load != nil {
			k.load = max(*p.Load, -1)
		}
	})
	c := s.Config()
	s.log.Info("config changed", zap.String("version", c.Version), zap.String("latency", c.Latency),
		zap.String("jitter", c.Jitter), zap.Float64("error_rate", c.ErrorRate),
		zap.Bool("healthy", c.Healthy), zap.Bool("hang", c.Hang), zap.String("flap", c.Flap))
	return nil
}

// delay draws this request's added latency.
func (s *Server) delay(k *knobs) time.Duration {
	d := k.latency
	if k.jitter > 0 {
		s.mu.Lock()
		d += time.Duration(s.rng.Int64N(int64(k.jitter)))
		s.mu.Unlock()
	}
	return d
}

// fail draws whether this request gets an injected error.
func (s *Server) fail(k *knobs) bool {
	if k.errorRate <= 0 {
		return false
	}
	if k.errorRate >= 1 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < k.errorRate
}

type releaseKey struct{}

// errReleased says a hung request was let go because the server shuts down.
var errReleased = errors.New("server shutting down")

// hang blocks while the hang knob is on. It returns nil when hang was
// switched off, errReleased at shutdown, or the request's context error.
func (s *Server) hangWait(ctx context.Context, k *knobs) error {
	if !k.hang {
		return nil
	}
	s.hung.Add(1)
	defer s.hung.Add(-1)
	var shutdown <-chan struct{}
	if ch, ok := ctx.Value(releaseKey{}).(chan struct{}); ok {
		shutdown = ch
	}
	select {
	case <-k.release:
		return nil
	case <-shutdown:
		return errReleased
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleep waits d, or less if the client goes away.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return tick.Sleep(ctx, d)
}

// Handler returns s as an http.Handler (for symmetry with wrappers).
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP serves the sample application, /healthz, /load and /admin/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// hung requests are released with 503, the listener closes, and in-flight
// requests get DrainTimeout to finish before their connections are closed.
// It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	release := make(chan struct{})
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), releaseKey{}, release)
		},
		ErrorLog: zap.NewStdLog(s.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
	}
	if s.h2c {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		hs.Protocols = p
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", zap.String("url", "http://"+ln.Addr().String()+"/"), zap.String("version", s.Version()))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	close(release)
	sctx, cancel := context.WithTimeout(context.Background(), s.drain)
	defer cancel()
	start := time.Now()
	err := hs.Shutdown(sctx)
	if err != nil {
		_ = hs.Close()
		s.log.Warn("drain deadline passed; connections closed", zap.Duration("drain_timeout", s.drain), zap.Int64("in_flight", s.InFlight()))
	} else {
		s.log.Info("stopped", zap.Duration("drained_in", time.Since(start)))
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// ListenAndServe listens on addr (TCP), calls ready with the bound address
// (useful with port 0) and serves until ctx is cancelled; see Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	return listen.AndServe(ctx, addr, ready, s.Serve)
}
