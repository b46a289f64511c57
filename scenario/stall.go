package scenario

import (
	"context"
	"sync"
	"time"

	"netsim/internal/tick"
)

// Stall is a stretch of the run when the load generator's process got no
// CPU (a loaded machine): no request could be sent or read.
type Stall struct {
	From float64 `json:"from"` // seconds since the load started
	For  float64 `json:"for"`  // seconds
}

// stallClock notices when its own process is starved: a heartbeat ticks
// every period, and a gap longer than slack (a little over the period),
// less the period, is time the process
// (the client and, with --standalone, the stack too) stood still. A
// request's timeout does not run while the client stands still.
type stallClock struct {
	period time.Duration // heartbeat
	slack  time.Duration // gaps up to this long are ordinary timer jitter
	report time.Duration // stalls at least this long are listed
	start  time.Time     // the load's start, for Stall.From
	now    func() time.Time

	mu     sync.Mutex
	last   time.Time     // the last heartbeat
	total  time.Duration // stalled time before last
	stalls []Stall
}

func newStallClock(start time.Time, now func() time.Time) *stallClock {
	return &stallClock{period: 50 * time.Millisecond, slack: 75 * time.Millisecond, report: time.Second,
		start: start, now: now, last: now()}
}

// run beats until ctx ends.
func (c *stallClock) run(ctx context.Context) { tick.Every(ctx, c.period, c.beat) }

func (c *stallClock) beat() {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gap := now.Sub(c.last); gap > c.slack {
		c.total += gap - c.period
		if gap >= c.report {
			c.stalls = append(c.stalls, Stall{From: c.last.Sub(c.start).Seconds(), For: gap.Seconds()})
		}
	}
	c.last = now
}

// stalled is the time the process stood still so far, the gap it may be
// in right now included (timers fire when it wakes, before the heartbeat).
func (c *stallClock) stalled() time.Duration {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.total
	if gap := now.Sub(c.last); gap > c.slack {
		s += gap - c.period
	}
	return s
}

// Stalls lists the stalls of at least the report length.
func (c *stallClock) Stalls() []Stall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Stall(nil), c.stalls...)
}

// deadline calls expire once d of unstalled time has passed: when the
// timer fires after the process stood still, it is set again for the time
// lost. stop cancels it; extended is how long the deadline was moved.
func (c *stallClock) deadline(d time.Duration, expire func()) (stop func(), extended func() time.Duration) {
	var mu sync.Mutex
	base, moved, stopped := c.stalled(), time.Duration(0), false
	mu.Lock()
	defer mu.Unlock()
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if s := c.stalled(); s > base {
			moved += s - base
			t.Reset(s - base)
			base = s
			return
		}
		stopped = true
		expire()
	})
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
	extended = func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return moved
	}
	return stop, extended
}
