// Package health probes the addresses behind GeoDNS answers (TCP connect or
// HTTP GET) with HAProxy-style rise/fall hysteresis. A Monitor owns one
// target and one goroutine; it probes immediately when started — at load,
// not at the first query (the PowerDNS #9529 lesson) — then every interval.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Checker probes one target ("host:port"); nil means healthy.
type Checker interface {
	Check(ctx context.Context, target string) error
}

// TCP checks that a TCP connection to the target can be opened.
type TCP struct{}

// Check implements Checker.
func (TCP) Check(ctx context.Context, target string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	return c.Close()
}

// maxBody caps how much of a check's response body is read.
const maxBody = 64 << 10

// HTTP checks that GET http://target/Path answers a 2xx or 3xx status (or
// exactly Expect when set).
type HTTP struct {
	Path   string // default "/"
	Host   string // Host header; default the target
	Expect int
	client *http.Client
}

// NewHTTP returns an HTTP checker with its own transport that keeps no
// idle connections: every check opens a fresh connection, as a client
// sent to this address by DNS would.
func NewHTTP(path, host string, expect int) *HTTP {
	tr := &http.Transport{
		Proxy:              nil,
		DisableKeepAlives:  true,
		DisableCompression: true,
		DialContext:        (&net.Dialer{}).DialContext,
	}
	return &HTTP{Path: path, Host: host, Expect: expect, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Check implements Checker.
func (h *HTTP) Check(ctx context.Context, target string) error {
	path := h.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+path, nil)
	if err != nil {
		return err
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	req.Header.Set("User-Agent", "dnsd-geo-health-check")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if h.Expect != 0 {
		if resp.StatusCode != h.Expect {
			return fmt.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, h.Expect)
		}
		return nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s: status %d, want 2xx or 3xx", path, resp.StatusCode)
	}
	return nil
}

// Config is a monitor's timing.
type Config struct {
	Interval time.Duration // between probe starts
	Timeout  time.Duration // per probe
	Rise     int           // consecutive successes to come up
	Fall     int           // consecutive failures to go down
}

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

// NewMonitor returns a monitor for target. Zero timings get defaults:
// interval 2s, timeout 1s (never more than the interval), rise 2, fall 3.
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

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
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
	return c
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
	if err == nil {
		st.Successes++
		st.Failures = 0
		st.LastError = ""
	} else {
		st.Failures++
		st.Successes = 0
		st.LastError = err.Error()
	}
	to := from
	switch from {
	case Unknown:
		if err == nil {
			to = Up
		} else {
			to = Down
		}
	case Up:
		if st.Failures >= m.cfg.Fall {
			to = Down
		}
	case Down:
		if st.Successes >= m.cfg.Rise {
			to = Up
		}
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
