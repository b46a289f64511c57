package scenario

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

	"netsim/internal/sim"
	"netsim/internal/tick"
	"netsim/internal/webd"
	"netsim/lb"
)

// Standalone is an in-process stack: webd backends and one lbd on free
// loopback addresses. lbd is driven through its own admin API (the
// embedded LBD), exactly as the running stack would be; processes are
// started, stopped and killed here.
type Standalone struct {
	*LBD
	spec  StackSpec
	log   *zap.Logger
	srv   *lb.Server
	stop  context.CancelFunc
	errc  chan error
	mu    sync.Mutex
	procs map[string]*proc
}

var _ Stack = (*Standalone)(nil)

// StartStandalone starts the stack the spec describes. log may be nil.
func StartStandalone(ctx context.Context, spec StackSpec, log *zap.Logger) (*Standalone, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Standalone{spec: spec, log: log, procs: map[string]*proc{}}
	cfg := lb.DefaultConfig()
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Frontends = cfg.Frontends[:1]
	cfg.Frontends[0].Listen = "127.0.0.1:0"
	cfg.Frontends[0].ShutdownTimeout = 5 * time.Second
	cfg.L4.Frontends, cfg.L4.Pools = nil, nil
	p := &cfg.Pools[0]
	p.Policy, p.Sticky.Mode = spec.Policy, spec.Sticky
	p.Health.Interval, p.Health.Rise, p.Health.Fall = spec.HealthInterval, spec.Rise, spec.Fall
	p.Health.Timeout = min(p.Health.Timeout, spec.HealthInterval)
	p.SlowStart = spec.SlowStart
	p.Backends = nil
	for _, b := range spec.Backends {
		pr, err := s.startProc(ctx, b.ID, b.Version, "127.0.0.1:0", 0)
		if err != nil {
			s.stopProcs()
			return nil, err
		}
		w := b.Weight
		p.Backends = append(p.Backends, lb.BackendConfig{ID: b.ID, Address: pr.addr, Weight: &w})
	}
	srv, err := lb.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		s.stopProcs()
		return nil, fmt.Errorf("standalone lbd: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.srv, s.stop, s.errc = srv, cancel, make(chan error, 1)
	go func() { s.errc <- srv.Run(runCtx) }()
	select {
	case <-srv.Ready():
	case err := <-s.errc:
		cancel()
		s.stopProcs()
		return nil, fmt.Errorf("standalone lbd: %w", err)
	case <-ctx.Done():
		cancel()
		<-s.errc
		s.stopProcs()
		return nil, ctx.Err()
	}
	s.LBD = &LBD{Admin: "http://" + srv.AdminAddr().String(), Token: srv.AdminToken(), Pool: p.Name,
		Front: "http://" + srv.Addr("http").String() + "/"}
	return s, nil
}

// proc is one in-process webd whose connections can be reset at once. A
// restarted process boots for the stack's Boot time before it listens.
type proc struct {
	id, addr string
	srv      *webd.Server
	cancel   context.CancelFunc
	done     chan error
	ln       atomic.Pointer[sim.Listener]
	state    atomic.Int32 // procBooting, procRunning, procStopped
}

const (
	procBooting int32 = iota
	procRunning
	procStopped
)

func (s *Standalone) startProc(ctx context.Context, id, version, addr string, boot time.Duration) (*proc, error) {
	pr := &proc{id: id, addr: addr, done: make(chan error, 1),
		srv: webd.New(webd.Options{ID: id, Version: version, DrainTimeout: 10 * time.Second, Latency: s.spec.Latency, Jitter: s.spec.Jitter,
			Log: s.log.Named("webd")})}
	listen := func(ctx context.Context) (*sim.Listener, error) {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("backend %s on %s: %w", id, addr, err)
		}
		tl := sim.Track(ln)
		pr.ln.Store(tl)
		return tl, nil
	}
	runCtx, cancel := context.WithCancel(context.Background())
	pr.cancel = cancel
	if boot <= 0 {
		tl, err := listen(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		pr.addr = tl.Addr().String()
		pr.state.Store(procRunning)
		go func() { pr.done <- pr.srv.Serve(runCtx, tl) }()
	} else {
		pr.state.Store(procBooting)
		go func() {
			if err := tick.Sleep(runCtx, boot); err != nil {
				pr.done <- nil
				return
			}
			tl, err := listen(runCtx)
			if err != nil {
				pr.state.Store(procStopped)
				pr.done <- err
				return
			}
			pr.state.Store(procRunning)
			pr.done <- pr.srv.Serve(runCtx, tl)
		}()
	}
	s.mu.Lock()
	s.procs[id] = pr
	s.mu.Unlock()
	return pr, nil
}

func (s *Standalone) proc(id string) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.procs[id]
	if pr == nil {
		return nil, fmt.Errorf("no backend %q in the standalone stack", id)
	}
	return pr, nil
}

// Backends implements Stack: lbd's view; a stopped process is not running.
func (s *Standalone) Backends(ctx context.Context) ([]BackendStatus, error) {
	bs, err := s.LBD.Backends(ctx)
	for i := range bs {
		s.mu.Lock()
		pr := s.procs[bs[i].ID]
		s.mu.Unlock()
		switch {
		case pr == nil || pr.state.Load() == procStopped:
			bs[i].Running = false
		case pr.state.Load() == procBooting:
			bs[i].Running, bs[i].Starting, bs[i].Version = false, true, pr.srv.Version()
		}
	}
	return bs, err
}

// StopBackend implements Stack: a graceful stop (in-flight requests finish).
func (s *Standalone) StopBackend(ctx context.Context, id string) error {
	pr, err := s.proc(id)
	if err != nil {
		return err
	}
	return pr.halt(ctx, false)
}

// KillBackend implements Stack: the listener closes and every open
// connection is reset, as when a process crashes.
func (s *Standalone) KillBackend(ctx context.Context, id string) error {
	pr, err := s.proc(id)
	if err != nil {
		return err
	}
	return pr.halt(ctx, true)
}

func (p *proc) halt(ctx context.Context, kill bool) error {
	if p.state.Load() == procStopped {
		return fmt.Errorf("backend %s is not running", p.id)
	}
	if ln := p.ln.Load(); kill && ln != nil {
		ln.Kill()
	}
	p.cancel()
	select {
	case err := <-p.done:
		p.state.Store(procStopped)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("backend %s: %w", p.id, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("backend %s did not stop: %w", p.id, ctx.Err())
	}
}

// StartBackend implements Stack: a new process on the backend's address.
func (s *Standalone) StartBackend(ctx context.Context, id, version string) error {
	pr, err := s.proc(id)
	if err != nil {
		return err
	}
	if pr.state.Load() != procStopped {
		return fmt.Errorf("backend %s is already running; stop or kill it first", id)
	}
	if version == "" {
		version = pr.srv.Version()
	}
	_, err = s.startProc(ctx, id, version, pr.addr, s.spec.Boot)
	return err
}

// AddBackend implements Stack: a new webd, then POST to lbd.
func (s *Standalone) AddBackend(ctx context.Context, id, version string, weight int) error {
	if _, err := s.proc(id); err == nil {
		return fmt.Errorf("backend %s exists already", id)
	}
	pr, err := s.startProc(ctx, id, version, "127.0.0.1:0", 0)
	if err != nil {
		return err
	}
	return s.register(ctx, id, pr.addr, weight)
}

// RemoveBackend implements Stack: DELETE from lbd, then a graceful stop.
func (s *Standalone) RemoveBackend(ctx context.Context, id string) error {
	if err := s.LBD.RemoveBackend(ctx, id); err != nil {
		return err
	}
	pr, err := s.proc(id)
	if err == nil && pr.state.Load() != procStopped {
		err = pr.halt(ctx, false)
	}
	s.mu.Lock()
	delete(s.procs, id)
	s.mu.Unlock()
	return err
}

// Close implements Stack: everything stops.
func (s *Standalone) Close(ctx context.Context) error {
	s.stop()
	err := <-s.errc
	s.stopProcs()
	return err
}

func (s *Standalone) stopProcs() {
	s.mu.Lock()
	procs := s.procs
	s.procs = map[string]*proc{}
	s.mu.Unlock()
	for _, p := range procs {
		if p.state.Load() != procStopped {
			if ln := p.ln.Load(); ln != nil {
				ln.Kill()
			}
			p.cancel()
			<-p.done
		}
	}
}
