// Package tick runs periodic work for a goroutine's owner: one loop, one
// ticker, stopped with its context.
package tick

import (
	"context"
	"time"
)

// Every calls fn every d (the first time d after the call) until ctx is
// done, and returns then. fn runs on the caller's goroutine, one call at a
// time; a call that overruns d delays the next instead of stacking up.
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Sleep waits d, or less when ctx ends first: then it returns ctx.Err().
// A d of 0 or less does not wait and returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
