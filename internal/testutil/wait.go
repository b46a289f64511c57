// Package testutil holds the helpers that tests of every package share.
package testutil

import (
	"testing"
	"time"
)

// Poll is how often WaitFor evaluates its condition. It is a polling
// interval, not a synchronisation: WaitFor returns as soon as cond holds.
const Poll = 2 * time.Millisecond

// WaitFor polls cond until it is true and returns how long that took; the
// test fails after timeout with "timed out after … waiting for <what>".
// Timeouts are generous on purpose: they guard against hangs, never measure
// speed (a loaded 2-core CI machine must not fail a test).
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(Poll)
	}
	return time.Since(start)
}
