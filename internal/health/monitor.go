package health

// A Monitor probes one target with HAProxy-style rise/fall hysteresis
// (GeoDNS uses one per member address). It owns one goroutine; it probes
// immediately when started — at load, not at the first query (the
// PowerDNS #9529 lesson) — then every interval.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// State of a target.
type State int32

// States. Unknown (before the first probe) counts as available: a fresh
// load answers at once; the first probe result then decides on its own,
// whatever rise and fall say.
const (
	Unknown State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// MarshalText renders the state as "up", "down" or "unknown".
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Status is a snapshot of a monitor.
type Status struct {
	Target    string    `json:"target"`
	State     State     `json:"state"`
	Since     time.Time `json:"since,omitzero"`
	LastCheck time.Time `json:"last_check,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Successes int       `json:"consecutive_successes"`
	Failures  int       `json:"consecutive_failures"`
	Checks    uint64    `json:"checks"`

	streak Streak
}

// Change is passed to the OnChange callback.
type Change struct {
	Target   string
	From, To State
	Err      error // the probe error that caused a change to Down
	At       time.Time
}

// Monitor probes one target. Create with NewMonitor, run with Run.
type Monitor struct {
	target  string
	checker Checker
	cfg     Config
	now     func() time.Time

	// OnChange and OnProbe are called from the monitor's goroutine; they
	// must not block for long.
	onChange func(Change)
	onProbe  func(target string, err error, took time.Duration)

	state atomic.Int32

	mu     sync.Mutex
	status Status
}

// Options for NewMonitor.
type Options struct {
	Now      func() time.Time
	OnChange func(Change)
	OnProbe  func(target string, err error, took time.Duration)
}

// NewMonitor returns a monitor for target. Zero timings get the defaults
// of Config.WithDefaults.
func NewMonitor(target string, c Checker, cfg Config, o Options) *Monitor {
	cfg = cfg.WithDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Monitor{
		target: target, checker: c, cfg: cfg, now: o.Now,
		onChange: o.OnChange, onProbe: o.OnProbe,
		status: Status{Target: target},
	}
}

// Target is the probed address.
func (m *Monitor) Target() string { return m.target }

// State is the current state; lock-free.
func (m *Monitor) State() State { return State(m.state.Load()) }

// Available reports whether the target may be answered: up or not yet
// probed.
func (m *Monitor) Available() bool { return m.State() != Down }

// Status returns a snapshot.
func (m *Monitor) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Run probes until ctx is cancelled: once at once, then every interval.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	start := m.now()
	err := m.checker.Check(pctx, m.target)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: a cancelled probe says nothing about the target
	}
	if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", m.cfg.Timeout, err)
	}
	end := m.now()
	if m.onProbe != nil {
		m.onProbe(m.target, err, end.Sub(start))
	}
	m.record(err, end)
}

// record applies one probe result (exported to tests through Observe).
func (m *Monitor) record(err error, at time.Time) {
	m.mu.Lock()
	st := &m.status
	st.Checks++
	st.LastCheck = at
	from := st.State
	st.streak.Record(err == nil)
	st.Successes, st.Failures = st.streak.Successes, st.streak.Failures
	st.LastError = ""
	if err != nil {
		st.LastError = err.Error()
	}
	to := from
	switch {
	case from == Unknown && err == nil:
		to = Up
	case from == Unknown:
		to = Down
	case st.streak.Verdict(m.cfg, from == Up) && from == Up:
		to = Down
	case st.streak.Verdict(m.cfg, from == Up):
		to = Up
	}
	if to != from {
		st.State = to
		st.Since = at
		m.state.Store(int32(to))
	}
	m.mu.Unlock()
	if to != from && m.onChange != nil {
		m.onChange(Change{Target: m.target, From: from, To: to, Err: err, At: at})
	}
}

// Observe feeds one probe result as if a probe had returned err (for
// tests and for passive signals).
func (m *Monitor) Observe(err error) { m.record(err, m.now()) }
