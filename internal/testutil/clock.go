package testutil

import (
	"sync/atomic"
	"time"
)

// Clock is a manual clock for code that takes a `now func() time.Time`:
// it stands still until Advance. Safe for concurrent use.
type Clock struct{ t atomic.Int64 }

// NewClock starts a clock at start.
func NewClock(start time.Time) *Clock {
	c := &Clock{}
	c.t.Store(start.UnixNano())
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.t.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.t.Add(int64(d)) }
