// Package l4 is lbd's TCP load balancer: per-connection balancing with the
// shared policies (lb/policy), TCP health checks, drain with a deadline,
// idle timeout, connection limits, PROXY protocol v1/v2 in and out, and SNI
// passthrough routing that reads the ClientHello without terminating TLS.
// Bytes are spliced between *net.TCPConn in the kernel (splice_linux.go),
// unless the connection is in a world with distance.
package l4

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/internal/world"
	"netsim/lb/backend"
)

// Options are the injected dependencies; all optional.
type Options struct {
	Log        *zap.Logger
	Registerer prometheus.Registerer
	// Dial connects to backends; default a net.Dialer with the pool's
	// dial timeout.
	Dial func(ctx context.Context, address string) (net.Conn, error)
}

// Server runs the L4 frontends of one configuration.
type Server struct {
	log  *zap.Logger
	met  *metrics
	dial func(ctx context.Context, address string) (net.Conn, error)
	gen  atomic.Pointer[generation] // the configuration in force
	fes  []*frontend

	// mu serialises Reload and guards the open connections and drain
	// timers. Both are kept per backend, not per pool, because a reload
	// builds new pools around the same backends: a drain started before a
	// reload, or a connection opened before it, stays reachable.
	mu       sync.Mutex
	serveCtx context.Context // set by Serve: health checks of reloaded pools run under it
	stopped  bool
	sessions map[*backend.Backend]map[*session]struct{}
	drains   map[*backend.Backend]*time.Timer

	ctx     context.Context // cancelled to abort everything
	cancel  context.CancelFunc
	wg      sync.WaitGroup // accept loops and connections
	active  atomic.Int64
	started atomic.Bool
	// world is the distance the frontends apply (nil: none, and splice).
	world *world.World
	// pipes are the splice buffers (nil: copy in user space — the
	// benchmarks' comparison that shows what splice saves).
	pipes *pipePool
}

// generation is one configuration's pools.
type generation struct {
	cfg   Config
	pools map[string]*pool
	order []string // pool names in config order
}

func (s *Server) pool(name string) *pool { return s.gen.Load().pools[name] }

// New validates cfg and builds the pools; nothing listens until Serve.
func New(cfg Config, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{log: o.Log, dial: o.Dial,
		sessions: map[*backend.Backend]map[*session]struct{}{}, drains: map[*backend.Backend]*time.Timer{},
		pipes: &pipePool{}}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	met, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s.met = met
	s.ctx, s.cancel = context.WithCancel(context.Background())
	g, err := s.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.gen.Store(g)
	for _, fc := range cfg.Frontends {
		f := &frontend{s: s, cfg: fc, met: met.front(fc.Name), sem: make(chan struct{}, fc.MaxConns)}
		f.rt.Store(newRoutes(fc, g))
		s.fes = append(s.fes, f)
	}
	return s, nil
}

// SetWorld puts the frontends in w, before Serve: each connection carries
// the modelled distance between the client and the frontend. Bytes of a
// connection in the world are copied in user space; a flat world keeps
// the kernel's splice.
func (s *Server) SetWorld(w *world.World) { s.world = w }

// Serve listens on every frontend, starts the health checks, calls ready
// for each bound address, and serves until ctx is cancelled. Then it stops
// accepting, lets open connections finish for DrainTimeout, closes the rest
// and returns nil.
func (s *Server) Serve(ctx context.Context, ready func(frontend string, addr net.Addr)) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("l4: Serve called twice")
	}
	// No TCP keepalive (four setsockopt calls per accepted connection):
	// the idle timeout, always on, closes what a dead peer leaves open.
	lc := net.ListenConfig{KeepAlive: -1}
	for _, f := range s.fes {
		ln, err := lc.Listen(ctx, "tcp", f.cfg.Listen)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("l4 frontend %s: %w", f.cfg.Name, err)
		}
		f.ln = s.world.Listener(ln) // ln itself when flat: splice stays
	}
	s.mu.Lock()
	s.serveCtx = ctx
	g := s.gen.Load()
	for _, name := range g.order {
		g.pools[name].monitorAll()
	}
	s.mu.Unlock()
	for _, name := range g.order {
		g.pools[name].waitFirst(ctx)
	}
	for _, f := range s.fes {
		rt := f.rt.Load()
		s.log.Info("tcp frontend listening", zap.String("frontend", f.cfg.Name), zap.Stringer("addr", f.ln.Addr()),
			zap.String("pool", rt.cfg.Pool), zap.Int("sni_routes", len(rt.cfg.SNI)))
		if ready != nil {
			ready(f.cfg.Name, f.ln.Addr())
		}
		s.wg.Add(1)
		go f.acceptLoop()
	}
	<-ctx.Done()
	return s.shutdown()
}

func (s *Server) closeListeners() {
	for _, f := range s.fes {
		if f.ln != nil {
			_ = f.ln.Close()
		}
	}
}

// shutdown drains: no new connections, open ones get DrainTimeout.
func (s *Server) shutdown() error {
	s.closeListeners()
	start := time.Now()
	deadline := time.NewTimer(s.gen.Load().cfg.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.active.Load() > 0 {
		select {
		case <-deadline.C:
			s.log.Warn("tcp drain deadline passed; closing connections", zap.Int64("open", s.active.Load()))
			s.cancel()
			s.abortAll()
			break wait
		case <-tick.C:
		}
	}
	s.cancel()
	s.wg.Wait()
	s.pipes.close()
	s.mu.Lock()
	s.stopped = true
	g := s.gen.Load()
	for _, t := range s.drains {
		t.Stop()
	}
	clear(s.drains)
	s.mu.Unlock()
	for _, p := range g.pools {
		p.monitor.Stop()
	}
	s.log.Info("tcp frontends stopped", zap.Duration("drained_in", time.Since(start)))
	return nil
}
