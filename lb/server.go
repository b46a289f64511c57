// Package lb is lbd, the L7 HTTP load balancer: frontends (HTTP listeners)
// proxy to pools of backends chosen by a policy (lb/policy), watched by
// health checks (lb/health), with sticky sessions, drain, retries, an admin
// API and Prometheus metrics. New builds a Server from a Config; Run serves
// until its context ends. Nothing is global: several Servers can run in one
// process (cmd/netsim does, next to dnsd).
package lb

import (
	"context"
	"crypto/rand"
	ctls "crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"netsim/internal/api"
	"netsim/lb/l4"
	nstls "netsim/tls"
)

// Server is a running (or ready to run) load balancer.
type Server struct {
	log    *zap.Logger
	reg    prometheus.Registerer
	gather prometheus.Gatherer
	met    *metrics
	now    func() time.Time

	token     string
	cookieKey []byte

	mu        sync.Mutex // serialises Reload and membership changes through the API
	cfg       atomic.Pointer[Config]
	pools     atomic.Pointer[map[string]*pool]
	frontends []*frontend
	admin     *http.Server
	adminLn   net.Listener

	accessLog atomic.Pointer[accessLog]
	accessN   atomic.Uint64
	retrySeq  atomic.Uint64
	tlsMet    *nstls.Metrics
	tickets   *nstls.TicketKeys
	demo      atomic.Pointer[nstls.PKI] // the demo PKI when a frontend uses it
	l4        *l4.Server                // nil without l4 frontends
	queued    atomic.Int64              // requests waiting in any pool's queue

	started atomic.Bool
	stopped bool // under mu: Run has shut down; Reload and the API add nothing
	ready   chan struct{}
	addrs   sync.Map // frontend name -> net.Addr
}

// New validates cfg and builds a Server. log may be nil (no logs). reg
// receives lbd's metrics; when nil the Server makes its own registry. The
// admin listener serves /metrics from reg when it is also a Gatherer (a
// *prometheus.Registry is). Nothing listens and no goroutine starts until
// Run.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{log: log, now: time.Now, ready: make(chan struct{})}
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
	}
	s.reg = reg
	if g, ok := reg.(prometheus.Gatherer); ok {
		s.gather = g
	}
	s.token = cfg.Admin.Token
	if s.token == "" {
		s.token = api.NewToken()
	}
	s.cookieKey = make([]byte, 32)
	_, _ = rand.Read(s.cookieKey)
	met, err := newMetrics(reg, s)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	s.met = met
	demo, err := s.planDemoPKI(&cfg)
	if err != nil {
		return nil, err
	}
	if err := s.writeDemoPKI(demo); err != nil {
		return nil, err
	}
	if len(cfg.L4.Frontends) > 0 {
		if s.l4, err = l4.New(cfg.L4, l4.Options{Log: log, Registerer: reg}); err != nil {
			return nil, err
		}
	}
	if err := s.apply(&cfg, nil, nil); err != nil {
		return nil, err
	}
	for i, fc := range cfg.Frontends {
		f := newFrontend(s, fc)
		if fc.TLS != nil {
			if err := s.setupTLS(f, fc.TLS); err != nil {
				return nil, fmt.Errorf("frontends[%d].tls: %w", i, err)
			}
		}
		s.frontends = append(s.frontends, f)
	}
	s.met.reloadStamp.SetToCurrentTime()
	return s, nil
}

// apply builds pools for cfg (carrying over state from old) and swaps them
// in. When the server is running, the new pools' checks start before the
// swap and the old pools' checks stop after it. tlsCfgs are the pools'
// re-encryption configs Prepare loaded; a pool not in it loads its own.
func (s *Server) apply(cfg *Config, old map[string]*pool, tlsCfgs map[string]*ctls.Config) error {
	pools := make(map[string]*pool, len(cfg.Pools))
	for _, pc := range cfg.Pools {
		tc, ok := tlsCfgs[pc.Name]
		if !ok {
			var err error
			if tc, err = backendTLS(pc.TLS); err != nil {
				return fmt.Errorf("pool %s: %w", pc.Name, err)
			}
		}
		p, err := s.buildPool(pc, old[pc.Name], tc)
		if err != nil {
			return fmt.Errorf("pool %s: %w", pc.Name, err)
		}
		pools[pc.Name] = p
	}
	if s.started.Load() {
		for _, p := range pools {
			s.startMonitor(p)
		}
	}
	s.configureAccessLog(cfg)
	s.cfg.Store(cfg)
	s.pools.Store(&pools)
	// Drop what the new config no longer has.
	for name, op := range old {
		if op.monitor != nil {
			op.monitor.Stop()
		}
		np := pools[name]
		for _, m := range op.snap.Load().order {
			if np == nil || np.snap.Load().byPtr[m.b] == nil {
				s.met.dropBackend(name, m.b.ID())
				m.tr.CloseIdleConnections()
				s.log.Info("backend removed by reload", zap.String("pool", name), zap.String("backend", m.b.ID()))
			}
		}
	}
	return nil
}

// accessLog is the access-log setting in force; nil when off.
type accessLog struct {
	log   *zap.Logger
	every uint64 // log one request in every
}

func (s *Server) configureAccessLog(cfg *Config) {
	if !cfg.AccessLog.Enabled {
		s.accessLog.Store(nil)
		return
	}
	every := uint64(1)
	if r := cfg.AccessLog.SampleRate; r > 0 && r < 1 {
		every = uint64(1/r + 0.5)
	}
	s.accessLog.Store(&accessLog{log: s.log.Named("access"), every: every})
}

// sampledAccessLog returns the access logger when this request is sampled.
func (s *Server) sampledAccessLog() *zap.Logger {
	al := s.accessLog.Load()
	if al == nil || (al.every > 1 && s.accessN.Add(1)%al.every != 0) {
		return nil
	}
	return al.log
}

func (s *Server) pool(name string) *pool {
	if m := s.pools.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// Config returns the configuration in force.
func (s *Server) Config() Config { return *s.cfg.Load() }

// AdminToken is the bearer token mutating admin calls need: the configured
// one, or one generated by New.
func (s *Server) AdminToken() string { return s.token }

// Ready is closed once every listener is bound and the first round of
// health checks has finished (or its timeout passed).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address of a frontend (HTTP or TCP), nil before
// Ready.
func (s *Server) Addr(frontend string) net.Addr {
	if a, ok := s.addrs.Load(frontend); ok {
		return a.(net.Addr)
	}
	return nil
}

// AdminAddr returns the bound admin address, nil before Ready.
func (s *Server) AdminAddr() net.Addr {
	if a, ok := s.addrs.Load("\x00admin"); ok {
		return a.(net.Addr)
	}
	return nil
}

// Run binds the frontends and the admin listener, starts the health
// checks, serves until ctx is done, and then shuts down gracefully: the
// listeners close, idle connections close, in-flight requests get each
// frontend's shutdown_timeout to finish. It returns nil after a clean
// shutdown, or the error that stopped it.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("lb: Run called twice")
	}
	cfg := s.cfg.Load()
	var lc net.ListenConfig
	for _, f := range s.frontends {
		fc := f.cfg.Load()
		ln, err := lc.Listen(ctx, "tcp", fc.Listen)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("frontend %s: %w", f.name, err)
		}
		s.addrs.Store(f.name, ln.Addr())
		f.ln = netutil.LimitListener(ln, fc.MaxConnections)
		f.hs = s.httpServer(f, fc)
		if f.tlsCfg != nil {
			// Handshakes complete (with a timeout) before Accept returns,
			// so net/http sees *tls.Conn: r.TLS is set and ALPN h2 works.
			f.ln = nstls.NewListener(f.ln, f.tlsCfg, nstls.ListenerOptions{
				HandshakeTimeout: fc.TLS.HandshakeTimeout, Metrics: s.tlsMet, Log: s.log.With(zap.String("frontend", f.name)),
			})
			f.hs.TLSConfig = f.tlsCfg
		}
	}
	aln, err := lc.Listen(ctx, "tcp", cfg.Admin.Listen)
	if err != nil {
		s.closeListeners()
		return fmt.Errorf("admin: %w", err)
	}
	s.adminLn = aln
	s.addrs.Store("\x00admin", aln.Addr())
	s.admin = s.adminServer()

	s.mu.Lock()
	for _, p := range *s.pools.Load() {
		s.startMonitor(p)
	}
	s.mu.Unlock()

	// Goroutines owned by this Run: certificate watching, ticket rotation,
	// the TCP frontends.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancelRun()
	l4ctx, stopL4 := context.WithCancel(context.Background())
	defer stopL4()
	l4done := make(chan error, 1)
	if s.l4 != nil {
		l4ready := make(chan struct{})
		n := len(cfg.L4.Frontends)
		go func() {
			l4done <- s.l4.Serve(l4ctx, func(name string, a net.Addr) {
				s.addrs.Store(name, a)
				if n--; n == 0 {
					close(l4ready)
				}
			})
		}()
		select {
		case <-l4ready:
		case err := <-l4done:
			s.closeListeners()
			_ = aln.Close()
			return err
		}
	} else {
		l4done <- nil
	}
	if s.tickets != nil {
		bg.Add(1)
		go func() { defer bg.Done(); s.tickets.Run(runCtx) }()
	}
	for _, f := range s.frontends {
		if f.store != nil && f.cfg.Load().TLS.WatchInterval > 0 {
			bg.Add(1)
			go func() { defer bg.Done(); f.store.Watch(runCtx, f.cfg.Load().TLS.WatchInterval) }()
		}
	}

	errc := make(chan error, len(s.frontends)+1)
	var wg sync.WaitGroup
	serve := func(hs *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}
	wg.Add(1 + len(s.frontends))
	go serve(s.admin, aln)
	for _, f := range s.frontends {
		go serve(f.hs, f.ln)
	}
	s.waitFirstChecks(ctx)
	for _, f := range s.frontends {
		s.log.Info("frontend listening", zap.String("frontend", f.name), zap.Stringer("addr", s.Addr(f.name)), zap.String("pool", f.cfg.Load().Pool))
	}
	s.log.Info("admin API listening", zap.Stringer("addr", aln.Addr()))
	if cfg.Admin.Token == "" {
		// Warn, so that it shows at the usual levels: the operator needs it.
		s.log.Warn("no admin token configured; generated one for this run (set admin.token or LBD_ADMIN_TOKEN to choose)", zap.String("token", s.token))
	}
	close(s.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stopL4() // the TCP frontends drain (l4.drain_timeout) alongside the HTTP ones
	s.shutdown()
	wg.Wait()
	if err := <-l4done; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// L4 returns the TCP load balancer, nil when the config has no l4
// frontends.
func (s *Server) L4() *l4.Server { return s.l4 }

// waitFirstChecks waits until every backend has had its first check, so
// that the first requests do not find every backend still "down".
func (s *Server) waitFirstChecks(ctx context.Context) {
	var limit time.Duration
	for _, p := range *s.pools.Load() {
		limit = max(limit, p.monitor.Config().Timeout)
	}
	wctx, cancel := context.WithTimeout(ctx, limit+250*time.Millisecond)
	defer cancel()
	for _, p := range *s.pools.Load() {
		p.monitor.WaitFirst(wctx)
	}
}

func (s *Server) adminServer() *http.Server {
	return &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          serverErrorLog(s.log.With(zap.String("listener", "admin"))),
	}
}

func (s *Server) httpServer(f *frontend, fc *FrontendConfig) *http.Server {
	hs := &http.Server{
		Handler:           f,
		ReadHeaderTimeout: fc.ReadHeaderTimeout,
		ReadTimeout:       fc.ReadTimeout,
		WriteTimeout:      fc.WriteTimeout,
		IdleTimeout:       fc.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          serverErrorLog(s.log.With(zap.String("frontend", f.name))),
	}
	if fc.H2C {
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		hs.Protocols = p
	}
	open := s.met.conns.WithLabelValues(f.name)
	total := s.met.connsTotal.WithLabelValues(f.name)
	hs.ConnState = func(_ net.Conn, cs http.ConnState) {
		switch cs {
		case http.StateNew:
			open.Inc()
			total.Inc()
		case http.StateHijacked, http.StateClosed:
			open.Dec()
		}
	}
	return hs
}

func (s *Server) closeListeners() {
	for _, f := range s.frontends {
		if f.ln != nil {
			f.ln.Close()
		}
	}
}

// shutdown drains the frontends, then stops checks and the admin API.
func (s *Server) shutdown() {
	s.log.Info("shutting down: draining in-flight requests")
	var wg sync.WaitGroup
	for _, f := range s.frontends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := f.cfg.Load().ShutdownTimeout
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			start := time.Now()
			if err := f.hs.Shutdown(ctx); err != nil {
				_ = f.hs.Close()
				s.log.Warn("frontend drain deadline passed; connections closed", zap.String("frontend", f.name), zap.Duration("shutdown_timeout", d))
			} else {
				s.log.Info("frontend drained", zap.String("frontend", f.name), zap.Duration("took", time.Since(start)))
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.stopped = true
	for _, p := range *s.pools.Load() {
		if p.monitor != nil {
			p.monitor.Stop()
		}
		for _, m := range p.snap.Load().order {
			m.tr.CloseIdleConnections()
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.admin.Shutdown(ctx)
}

func jsonIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte(`{"error":{"code":"internal","message":"encoding error"}}`)
	}
	return append(b, '\n')
}
