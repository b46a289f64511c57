package health

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"netsim/lb/backend"
)

// Config of a Monitor. Zero fields get the defaults in brackets.
type Config struct {
	Interval time.Duration // between checks [2s]
	Timeout  time.Duration // per check [1s]
	Rise     int           // consecutive successes to come back [2]
	Fall     int           // consecutive failures to go down [3]
	// Cooldown keeps a passively ejected backend out at least this long
	// before checks may bring it back [10s]. With no Checker, the backend
	// is readmitted when the cooldown ends.
	Cooldown time.Duration
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	c.Timeout = min(c.Timeout, c.Interval)
	if c.Rise <= 0 {
		c.Rise = 2
	}
	if c.Fall <= 0 {
		c.Fall = 3
	}
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
	ok, fail := 0, 0
	first := true
	m.probe(ctx, b, &ok, &fail, &first)
	close(done)
	jitter := time.Duration(rand.Int64N(int64(m.cfg.Interval)/10 + 1))
	t := time.NewTimer(m.cfg.Interval + jitter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.probe(ctx, b, &ok, &fail, &first)
		t.Reset(m.cfg.Interval)
	}
}

func (m *Monitor) probe(ctx context.Context, b *backend.Backend, ok, fail *int, first *bool) {
	ejected := b.EjectedAt()
	cooling := !ejected.IsZero() && m.now().Sub(ejected) < m.cfg.Cooldown
	if m.check == nil {
		if !ejected.IsZero() && !cooling {
			b.SetHealthy(true, "passive ejection cooldown over")
		} else if *first && ejected.IsZero() {
			b.SetHealthy(true, "no health check configured")
		}
		*first = false
		m.pollAgent(ctx, b)
		return
	}
	// A backend never checked before (new, not carried over by a reload)
	// takes its state from its first check; afterwards rise/fall apply.
	prev, _ := b.LastCheck()
	never := prev.IsZero()
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	start := m.now()
	err := m.check.Check(cctx, b)
	took := m.now().Sub(start)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the result means nothing
	}
	// A passive ejection during the check wins over a check that started
	// before it: look again.
	ejected = b.EjectedAt()
	cooling = !ejected.IsZero() && m.now().Sub(ejected) < m.cfg.Cooldown
	b.RecordCheck(err == nil)
	if m.result != nil {
		m.result(b, err, took)
	}
	if err != nil {
		*ok = 0
		*fail++
		if b.Healthy() && *fail >= m.cfg.Fall {
			reason := "active check failed " + itoa(*fail) + "x: " + err.Error()
			b.SetHealthy(false, reason)
		} else if never {
			m.log.Info("backend failed its first check", zap.String("backend", b.ID()), zap.String("address", b.Address()), zap.Error(err))
		}
	} else {
		*fail = 0
		*ok++
		if !b.Healthy() && !cooling && (*ok >= m.cfg.Rise || (never && ejected.IsZero())) {
			b.SetHealthy(true, "active check passed "+itoa(*ok)+"x")
		}
		m.pollAgent(ctx, b)
	}
	*first = false
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

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
