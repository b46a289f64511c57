package scenario

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestStallMovesTimeout: a request's timeout counts only the time the
// client's process could run. Without a stall it expires on time; when
// the process stands still for 2 s (its clock jumps past its heartbeat),
// the deadline moves by those 2 s, and the stall is listed.
func TestStallMovesTimeout(t *testing.T) {
	for _, stall := range []time.Duration{0, 2 * time.Second} {
		synctest.Test(t, func(t *testing.T) {
			var skew atomic.Int64 // the stall, seen as the clock jumping
			now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			start := now()
			c := newStallClock(start, now)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); c.run(ctx) }()
			var expired atomic.Int64
			stop, extended := c.deadline(time.Second, func() { expired.Store(int64(time.Since(start))) })
			defer stop()
			time.Sleep(500 * time.Millisecond)
			skew.Store(int64(stall))
			time.Sleep(10 * time.Second)
			cancel()
			wg.Wait()
			if want := time.Second + stall; time.Duration(expired.Load()) != want {
				t.Errorf("stall %v: the 1s timeout expired after %v, want %v", stall, time.Duration(expired.Load()), want)
			}
			if extended() != stall {
				t.Errorf("stall %v: extended by %v", stall, extended())
			}
			if n := len(c.Stalls()); (n == 1) != (stall > 0) {
				t.Errorf("stall %v: %d stalls listed: %+v", stall, n, c.Stalls())
			}
		})
	}
}
