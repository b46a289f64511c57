// Package backend holds the runtime state of one upstream server: the
// counters and flags that a policy reads on every pick and that a proxy (L7
// or L4) updates around every request or connection. Everything on the hot
// path is an atomic; state changes go through compare-and-swap and are
// reported to one Observer, so they are logged and counted in one place.
//
// A backend has two independent switches, as in HAProxy: an administrative
// state (up, draining, maintenance) set by an operator, and a health flag set
// by active checks and passive ejection. The reported State combines them.
package backend

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// State is what an operator sees.
type State int32

// States. Down is never set by an operator: it is the health flag showing
// through while the administrative state is Up.
const (
	Up State = iota
	Down
	Draining
	Maintenance
)

var stateNames = [...]string{"up", "down", "draining", "maintenance"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int32(s))
}

// ParseAdminState parses an operator-settable state: up, draining or
// maintenance.
func ParseAdminState(s string) (State, error) {
	switch s {
	case "up", "ready":
		return Up, nil
	case "draining", "drain":
		return Draining, nil
	case "maintenance", "maint":
		return Maintenance, nil
	case "down":
		return 0, fmt.Errorf("%q is set by health checks; use \"maintenance\" to take a backend out", s)
	}
	return 0, fmt.Errorf("%q is not one of up, draining, maintenance", s)
}

// Observer hears every state change. Implementations log and count; they
// must not block.
type Observer interface {
	StateChanged(b *Backend, from, to State, reason string)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(b *Backend, from, to State, reason string)

// StateChanged calls f.
func (f ObserverFunc) StateChanged(b *Backend, from, to State, reason string) { f(b, from, to, reason) }

// Options configure a Backend.
type Options struct {
	ID      string
	Address string // host:port
	Weight  int    // 0 takes no new traffic; default 1 only when unset via New's caller
	// MaxConns caps in-flight requests (L7) or connections (L4); 0 = none.
	MaxConns int64
	// SlowStart ramps the effective weight from 1/10 to full over this
	// long after the backend becomes available again; 0 disables.
	SlowStart time.Duration
	// Healthy is the initial health; false means "down until the first
	// check passes".
	Healthy  bool
	Observer Observer
	// OnDrained, when set, runs once each time a draining backend's
	// in-flight count reaches zero (an L7 proxy closes its idle
	// connections there, so the backend can stop at once).
	OnDrained func(*Backend)
	// OnRelease, when set, runs after every Release (a proxy that queues
	// requests while every backend is at MaxConns wakes a waiter there).
	// It must be cheap.
	OnRelease func(*Backend)
	Now       func() time.Time
}

// Backend is one upstream. Create with New; the zero value is not usable.
type Backend struct {
	id    string
	addr  string
	now   func() time.Time
	obs   Observer
	onDr  func(*Backend)
	onRel func(*Backend)

	weight    atomic.Int32
	maxConns  atomic.Int64
	slowStart atomic.Int64 // nanoseconds

	admin   atomic.Int32 // Up, Draining, Maintenance
	healthy atomic.Bool

	inflight  atomic.Int64
	fails     atomic.Int32 // consecutive passive failures
	ejectedAt atomic.Int64 // unix nanos of the last passive ejection, 0 = none
	upSince   atomic.Int64 // unix nanos when it last became available
	drainedAt atomic.Int64 // unix nanos when in-flight reached 0 while draining
	load      atomic.Int32 // agent-reported load percent, -1 unknown
	lastCheck atomic.Int64 // unix nanos of the last active check, 0 = none
	checkOK   atomic.Bool  // result of that check
	checkFail atomic.Int32 // consecutive failed active checks

	// peak-EWMA of response time
	ewmaMu   sync.Mutex
	ewma     float64 // nanoseconds
	ewmaLast int64   // unix nanos of last update
	ewmaBits atomic.Uint64
	ewmaAt   atomic.Int64 // unix nanos of the sample behind ewmaBits

	// counters
	requests atomic.Uint64
	failures atomic.Uint64
	changes  atomic.Uint64
}

// New returns a backend in administrative state Up.
func New(o Options) *Backend {
	b := &Backend{id: o.ID, addr: o.Address, now: o.Now, obs: o.Observer, onDr: o.OnDrained, onRel: o.OnRelease}
	if b.now == nil {
		b.now = time.Now
	}
	b.weight.Store(int32(o.Weight))
	b.maxConns.Store(o.MaxConns)
	b.slowStart.Store(int64(o.SlowStart))
	b.healthy.Store(o.Healthy)
	b.load.Store(-1)
	if o.Healthy {
		b.upSince.Store(0) // no ramp at birth
	}
	return b
}

// ID is the backend's name, unique in its pool.
func (b *Backend) ID() string { return b.id }

// Address is host:port.
func (b *Backend) Address() string { return b.addr }

// String is "id(address)".
func (b *Backend) String() string { return b.id + "(" + b.addr + ")" }

// State combines the administrative state and the health flag.
func (b *Backend) State() State {
	a := State(b.admin.Load())
	if a == Up && !b.healthy.Load() {
		return Down
	}
	return a
}

// AdminState is the operator-set part of the state.
func (b *Backend) AdminState() State { return State(b.admin.Load()) }

// Healthy reports the health flag.
func (b *Backend) Healthy() bool { return b.healthy.Load() }

// Available reports whether the backend may take a new request or
// connection: up, healthy, weight above zero and not at MaxConns.
func (b *Backend) Available() bool {
	if b.admin.Load() != int32(Up) || !b.healthy.Load() || b.weight.Load() <= 0 {
		return false
	}
	if m := b.maxConns.Load(); m > 0 && b.inflight.Load() >= m {
		return false
	}
	return true
}

// SetAdminState sets up, draining or maintenance; it reports whether the
// state changed. Leaving draining clears DrainedAt.
func (b *Backend) SetAdminState(s State, reason string) bool {
	if s == Down {
		return false
	}
	for {
		old := b.admin.Load()
		if old == int32(s) {
			return false
		}
		from := b.State()
		if b.admin.CompareAndSwap(old, int32(s)) {
			switch s {
			case Draining:
				b.drainedAt.Store(0)
				if b.inflight.Load() == 0 && b.drainedAt.CompareAndSwap(0, b.now().UnixNano()) && b.onDr != nil {
					defer b.onDr(b)
				}
			case Up:
				b.drainedAt.Store(0)
				if b.healthy.Load() {
					b.upSince.Store(b.now().UnixNano())
				}
			}
			b.notify(from, reason)
			return true
		}
	}
}

// SetHealthy flips the health flag; it reports whether it changed. Coming
// back starts the slow-start ramp and clears the passive failure count.
func (b *Backend) SetHealthy(ok bool, reason string) bool {
	from := b.State()
	if !b.healthy.CompareAndSwap(!ok, ok) {
		return false
	}
	if ok {
		b.fails.Store(0)
		b.ejectedAt.Store(0)
		b.upSince.Store(b.now().UnixNano())
	}
	b.notify(from, reason)
	return true
}

func (b *Backend) notify(from State, reason string) {
	to := b.State()
	if to == from {
		return
	}
	b.changes.Add(1)
	if b.obs != nil {
		b.obs.StateChanged(b, from, to, reason)
	}
}

// Weight is the configured weight.
func (b *Backend) Weight() int { return int(b.weight.Load()) }

// SetWeight changes the configured weight (clamped at 0).
func (b *Backend) SetWeight(w int) { b.weight.Store(int32(max(w, 0))) }

// SetMaxConns changes the in-flight cap (0 = none).
func (b *Backend) SetMaxConns(n int64) { b.maxConns.Store(max(n, 0)) }

// MaxConns is the in-flight cap.
func (b *Backend) MaxConns() int64 { return b.maxConns.Load() }

// SetSlowStart changes the ramp duration.
func (b *Backend) SetSlowStart(d time.Duration) { b.slowStart.Store(int64(d)) }

// WeightScale is the resolution of ScaledWeight: a weight of 1 is 16
// units, so slow start can ramp even a weight-1 backend (HAProxy scales its
// weights the same way).
const WeightScale = 16

// ScaledWeight is the weight the policies use, in 1/WeightScale units:
// during slow start it ramps linearly from a tenth of the weight to the full
// weight; it is at least 1 for a backend with a positive weight.
func (b *Backend) ScaledWeight() int {
	w := int(b.weight.Load()) * WeightScale
	ss := b.slowStart.Load()
	since := b.upSince.Load()
	if w <= 0 || ss <= 0 || since == 0 {
		return w
	}
	el := b.now().UnixNano() - since
	if el >= ss || el < 0 {
		return w
	}
	frac := 0.1 + 0.9*float64(el)/float64(ss)
	return max(1, int(math.Ceil(float64(w)*frac)))
}

// EffectiveWeight is ScaledWeight in weight units, for display: 2.5 while
// a weight-5 backend is half-way through slow start.
func (b *Backend) EffectiveWeight() float64 {
	return float64(b.ScaledWeight()) / WeightScale
}

// InFlight is the number of requests (or connections) in progress.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Acquire counts a request or connection in; call Release when it ends.
func (b *Backend) Acquire() { b.inflight.Add(1); b.requests.Add(1) }

// Release counts one out. When a draining backend reaches zero, DrainedAt
// records the time.
func (b *Backend) Release() {
	if b.inflight.Add(-1) == 0 && b.admin.Load() == int32(Draining) {
		if b.drainedAt.CompareAndSwap(0, b.now().UnixNano()) && b.onDr != nil {
			b.onDr(b)
		}
	}
	if b.onRel != nil {
		b.onRel(b)
	}
}

// DrainedAt is when a draining backend's in-flight count reached zero, or
// the zero time.
func (b *Backend) DrainedAt() time.Time {
	if n := b.drainedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Requests is the number of requests or connections started.
func (b *Backend) Requests() uint64 { return b.requests.Load() }

// Failures is the number of failed requests or connections.
func (b *Backend) Failures() uint64 { return b.failures.Load() }

// StateChanges counts state transitions.
func (b *Backend) StateChanges() uint64 { return b.changes.Load() }

// ConsecutiveFailures is the current failure streak: failed requests in a
// row (passive) or failed active checks in a row, whichever is longer, so
// a backend whose checks fail shows a growing count.
func (b *Backend) ConsecutiveFailures() int { return int(max(b.fails.Load(), b.checkFail.Load())) }

// Success resets the passive failure streak.
func (b *Backend) Success() {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
}

// Failure records a failed request or connection (connection error, reset,
// 5xx). After threshold consecutive failures (0 = never) the backend is
// ejected: marked unhealthy until Readmit. It reports whether this call
// ejected it.
func (b *Backend) Failure(threshold int, reason string) bool {
	b.failures.Add(1)
	n := b.fails.Add(1)
	if threshold <= 0 || int(n) < threshold || !b.healthy.Load() {
		return false
	}
	if b.SetHealthy(false, fmt.Sprintf("passive: %d consecutive failures, last: %s", n, reason)) {
		b.ejectedAt.Store(b.now().UnixNano())
		return true
	}
	return false
}

// EjectedAt is when passive checks last ejected the backend (zero if the
// backend is not currently ejected).
func (b *Backend) EjectedAt() time.Time {
	if n := b.ejectedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// RecordCheck notes the time and result of an active health check.
func (b *Backend) RecordCheck(ok bool) {
	if ok {
		b.checkFail.Store(0)
	} else {
		b.checkFail.Add(1)
	}
	b.checkOK.Store(ok)
	b.lastCheck.Store(b.now().UnixNano())
}

// LastCheck returns when the last active check ran (zero if none) and
// whether it passed.
func (b *Backend) LastCheck() (time.Time, bool) {
	n := b.lastCheck.Load()
	if n == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), b.checkOK.Load()
}

// Load is the agent-reported load percent, or -1 when unknown.
func (b *Backend) Load() int { return int(b.load.Load()) }

// SetLoad stores an agent-reported load (clamped to 0..100, -1 unknown).
func (b *Backend) SetLoad(pct int) {
	if pct < 0 {
		pct = -1
	}
	b.load.Store(int32(min(pct, 100)))
}

// ewmaTau is the decay time constant of the response-time average.
const ewmaTau = 10 * time.Second

// ObserveLatency feeds a response time into the peak-EWMA: a slower sample
// than the average replaces it at once (peak), a faster one decays it with
// a weight that depends on the time since the last sample.
func (b *Backend) ObserveLatency(d time.Duration) {
	now := b.now().UnixNano()
	rtt := float64(d)
	b.ewmaMu.Lock()
	if rtt > b.ewma || b.ewmaLast == 0 {
		b.ewma = rtt
	} else {
		w := math.Exp(-float64(now-b.ewmaLast) / float64(ewmaTau))
		b.ewma = b.ewma*w + rtt*(1-w)
	}
	b.ewmaLast = now
	b.ewmaBits.Store(math.Float64bits(b.ewma))
	b.ewmaAt.Store(now)
	b.ewmaMu.Unlock()
}

// LatencyEWMA is the current peak-EWMA response time (0 before any
// sample). Between samples it decays towards zero with the same time
// constant, as Finagle's cost() does, so a backend that was slow once and
// then got no traffic becomes worth trying again instead of being starved.
func (b *Backend) LatencyEWMA() time.Duration {
	v := math.Float64frombits(b.ewmaBits.Load())
	at := b.ewmaAt.Load()
	if v == 0 || at == 0 {
		return time.Duration(v)
	}
	if idle := b.now().UnixNano() - at; idle > 0 {
		v *= math.Exp(-float64(idle) / float64(ewmaTau))
	}
	return time.Duration(v)
}
