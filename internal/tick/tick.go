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
