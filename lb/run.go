package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	nstls "netsim/tls"
)

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
		// the world under TLS, so a handshake pays its round trips
		// a client over max_connections_per_client is closed first, so it
		// takes none of max_connections (clientlimit.go)
		f.ln = s.world.Listener(newClientLimitListener(ln, fc.MaxConnections,
			func() int { return f.cfg.Load().MaxConnectionsPerClient }, s.met.refused.WithLabelValues(f.name, "client_limit"),
			s.log.With(zap.String("frontend", f.name))))
		f.hs = s.httpServer(f, fc)
		if f.tlsCfg != nil {
			// Handshakes complete (with a timeout) before Accept returns,
			// so net/http sees *tls.Conn: r.TLS is set and ALPN h2 works.
			if f.eng != nil {
				f.ln = sockListener{f.ln} // TLS records by raw syscalls (engine_sock.go)
			}
			f.ln = nstls.NewListener(f.ln, f.tlsCfg, nstls.ListenerOptions{
				HandshakeTimeout: fc.TLS.HandshakeTimeout, Metrics: s.tlsMet, Log: s.log.With(zap.String("frontend", f.name)),
			})
			f.hs.TLSConfig = f.tlsCfg
		} else if f.eng == nil {
			f.ln, f.hs.ConnContext = framingListener{f.ln}, framingContext // CL+TE smuggling (proxy_framing.go)
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
		// the drain may close ln before Shutdown (drain_fresh.go)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errc <- err
		}
	}
	wg.Add(1 + len(s.frontends))
	go serve(s.admin, aln)
	for _, f := range s.frontends {
		if f.eng == nil {
			go serve(f.hs, f.ln)
			continue
		}
		go func() {
			defer wg.Done()
			if err := f.eng.serve(f.ln, f.hs.Serve); err != nil {
				errc <- err
			}
		}()
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
	hs := &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          serverErrorLog(s.log.With(zap.String("listener", "admin"))),
	}
	hs.RegisterOnShutdown(s.events.Close) // Shutdown does not end event streams by itself
	return hs
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
	hs.ConnState = func(c net.Conn, cs http.ConnState) {
		f.fresh.state(c, cs)
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
			if f.eng == nil {
				_ = f.ln.Close()
				f.fresh.wait(ctx, newConnGrace)
			}
			err := f.hs.Shutdown(ctx)
			if f.eng != nil {
				if eerr := f.eng.shutdown(ctx, f.ln); err == nil {
					err = eerr
				}
			}
			if err != nil {
				_ = f.hs.Close()
				s.log.Warn("frontend drain deadline passed; connections closed", zap.String("frontend", f.name), zap.Duration("shutdown_timeout", d))
			} else {
				s.log.Info("frontend drained", zap.String("frontend", f.name), zap.Duration("took", time.Since(start)))
			}
		}()
	}
	wg.Wait()
	for _, f := range s.frontends {
		f.swapEdge(nil, f.routes.Load(), nil) // stops background revalidations
	}
	s.mu.Lock()
	s.stopped = true
	for _, p := range *s.pools.Load() {
		if p.monitor != nil {
			p.monitor.Stop()
		}
		for _, m := range p.snap.Load().order {
			m.closeIdle()
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.admin.Shutdown(ctx)
}
