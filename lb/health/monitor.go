package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"netsim/internal/health"
	"netsim/internal/tick"
	"netsim/lb/backend"
)

// Config of a Monitor. Zero fields get the defaults in brackets.
type Config struct {
	// Interval, Timeout, Rise and Fall with internal/health's defaults
	// (2s, 1s, 2, 3).
	health.Config
	// Cooldown keeps a passively ejected backend out at least this long
	// before checks may bring it back [10s]. With no Checker, the backend
	// is readmitted when the cooldown ends.
	Cooldown time.Duration
}

func (c Config) withDefaults() Config {
	c.Config = c.Config.WithDefaults()
	if c.Cooldown <= 0 {
		c.Cooldown = 10 * time.Second
	}
	return c
}

// Result is reported after every check, for metrics.
type Result func(b *backend.Backend, err error, took time.Duration)

// Monitor owns one checking goroutine per backend.
type Monitor struct {
	cfg    Config
	check  Checker // nil: passive readmission only
	agent  *Agent  // nil: no load polling
	log    *zap.Logger
	result Result
	now    func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	runs   map[*backend.Backend]context.CancelFunc
	first  map[*backend.Backend]chan struct{} // closed after the first probe
	wg     sync.WaitGroup
}

// NewMonitor returns a Monitor; call Add for each backend and Stop to end.
// check and agent may be nil; result may be nil.
func NewMonitor(cfg Config, check Checker, agent *Agent, log *zap.Logger, result Result) *Monitor {
	ctx, cancel := context.WithCancel(context.Background())
	if log == nil {
		log = zap.NewNop()
	}
	return &Monitor{cfg: cfg.withDefaults(), check: check, agent: agent, log: log, result: result, now: time.Now,
		ctx: ctx, cancel: cancel, runs: map[*backend.Backend]context.CancelFunc{}, first: map[*backend.Backend]chan struct{}{}}
}

// Config returns the effective configuration (defaults filled in).
func (m *Monitor) Config() Config { return m.cfg }

// Add starts checking b at once (the first check runs immediately, so a
// new backend that starts unhealthy comes up within one check).
func (m *Monitor) Add(b *backend.Backend) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.runs[b]; ok || m.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.runs[b] = cancel
	done := make(chan struct{})
	m.first[b] = done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.run(ctx, b, done)
	}()
}

// WaitFirst waits until every backend added so far has had its first
// probe, or ctx ends.
func (m *Monitor) WaitFirst(ctx context.Context) {
	m.mu.Lock()
	chans := make([]chan struct{}, 0, len(m.first))
	for _, c := range m.first {
		chans = append(chans, c)
	}
	m.mu.Unlock()
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return
		}
	}
}

// Remove stops checking b.
func (m *Monitor) Remove(b *backend.Backend) {
	m.mu.Lock()
	cancel := m.runs[b]
	delete(m.runs, b)
	delete(m.first, b)
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Stop ends every check and waits for the goroutines.
func (m *Monitor) Stop() {
	m.cancel()
	m.wg.Wait()
	if c, ok := m.check.(interface{ Close() }); ok {
		c.Close()
	}
	if m.agent != nil && m.agent.Client != nil {
		m.agent.Client.CloseIdleConnections()
	}
}

func (m *Monitor) run(ctx context.Context, b *backend.Backend, done chan struct{}) {
	// First check at once; then on a timer whose phase is spread so
	// backends are not all checked in the same instant.
	var p prober
	m.probe(ctx, b, &p)
	close(done)
	phase := time.NewTimer(time.Duration(rand.Int64N(int64(m.cfg.Interval)/10 + 1)))
	defer phase.Stop()
	select {
	case <-ctx.Done():
		return
	case <-phase.C:
	}
	tick.Every(ctx, m.cfg.Interval, func() { m.probe(ctx, b, &p) })
}

// prober is one backend's check state, owned by its goroutine.
type prober struct {
	streak  health.Streak
	checked bool // at least one probe ran
}

func (m *Monitor) probe(ctx context.Context, b *backend.Backend, p *prober) {
	first := !p.checked
	p.checked = true
	ejected := b.EjectedAt()
	cooling := !ejected.IsZero() && m.now().Sub(ejected) < m.cfg.Cooldown
	if m.check == nil {
		if !ejected.IsZero() && !cooling {
			b.SetHealthy(true, "passive ejection cooldown ("+m.cfg.Cooldown.String()+") over")
		} else if first && ejected.IsZero() {
			b.SetHealthy(true, "no health check configured")
		}
		m.pollAgent(ctx, b)
		return
	}
	// A backend never checked before (new, not carried over by a reload)
	// takes its state from its first check; afterwards rise/fall apply.
	prev, _ := b.LastCheck()
	never := prev.IsZero()
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	start := m.now()
	err := m.check.Check(cctx, b.Address())
	took := m.now().Sub(start)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the result means nothing
	}
	// A passive ejection during the check wins over a check that started
	// before it: look again.
	ejected = b.EjectedAt()
	cooling = !ejected.IsZero() && m.now().Sub(ejected) < m.cfg.Cooldown
	p.streak.Record(err == nil)
	b.RecordCheck(err == nil)
	if m.result != nil {
		m.result(b, err, took)
	}
	cfg := m.cfg.Config
	if err != nil {
		if b.Healthy() && p.streak.Verdict(cfg, true) {
			b.SetHealthy(false, fmt.Sprintf("active check failed %d times in a row (fall %d): %v", p.streak.Failures, cfg.Fall, err))
		} else if never {
			m.log.Info("backend failed its first check", zap.String("backend", b.ID()), zap.String("address", b.Address()), zap.Error(err))
		}
		return
	}
	if !b.Healthy() && !cooling {
		switch {
		case never && ejected.IsZero():
			b.SetHealthy(true, "first active check passed")
		case !p.streak.Verdict(cfg, false):
			// not yet risen
		case !ejected.IsZero():
			// The checks may have passed all along while passive checks
			// had it out: their streak says nothing about coming back.
			b.SetHealthy(true, "passive ejection cooldown ("+m.cfg.Cooldown.String()+") over and active checks passing")
		default:
			b.SetHealthy(true, fmt.Sprintf("active check passed %d times in a row (rise %d)", p.streak.Successes, cfg.Rise))
		}
	}
	m.pollAgent(ctx, b)
}

func (m *Monitor) pollAgent(ctx context.Context, b *backend.Backend) {
	if m.agent == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	l, err := m.agent.Load(cctx, b)
	if err != nil {
		if ce := m.log.Check(zap.DebugLevel, "load agent failed"); ce != nil {
			ce.Write(zap.String("backend", b.ID()), zap.Error(err))
		}
		b.SetLoad(-1)
		return
	}
	b.SetLoad(l)
}
