package httpcache

import (
	"sync"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// TestCollapse: 100 concurrent misses for one key make one backend
// request; the other 99 wait for it and are answered from the store.
func TestCollapse(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=60"}, body: "herd", block: make(chan struct{})}
	h := newHarness(t, Config{CollapseTimeout: time.Minute}, o)
	const n = 100
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			rec := h.do("GET", "/static/hot.css", nil)
			codes <- rec.Header().Get("X-Cache") + " " + rec.Body.String()
		})
	}
	// The backend holds its one answer until every other request waits.
	testutil.WaitFor(t, "99 collapsed requests", 10*time.Second, func() bool { return h.c.Stats().Collapsed == n-1 })
	close(o.block)
	wg.Wait()
	close(codes)
	got := map[string]int{}
	for c := range codes {
		got[c]++
	}
	if o.calls.Load() != 1 || got["MISS herd"] != 1 || got["HIT herd"] != n-1 {
		t.Fatalf("backend requests %d, answers %v; want 1 request, 1 MISS and %d HIT", o.calls.Load(), got, n-1)
	}
	if s := h.c.Stats(); s.Misses != 1 || s.Hits != n-1 || s.Collapsed != n-1 {
		t.Fatalf("stats %+v; want 1 miss, %d hits, %d collapsed", s, n-1, n-1)
	}
}

// TestCollapseUncacheable: when the leader's answer may not be stored,
// the waiters go to the backend themselves (no answer is shared).
func TestCollapseUncacheable(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "private"}, body: "mine", block: make(chan struct{})}
	h := newHarness(t, Config{CollapseTimeout: time.Minute}, o)
	const n = 10
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { h.do("GET", "/me", nil) })
	}
	testutil.WaitFor(t, "9 collapsed requests", 10*time.Second, func() bool { return h.c.Stats().Collapsed == n-1 })
	close(o.block)
	wg.Wait()
	if o.calls.Load() != n {
		t.Fatalf("backend requests %d, want %d (a private answer is not shared)", o.calls.Load(), n)
	}
}

// TestCollapseTimeout: a waiter whose leader takes longer than
// collapse_timeout goes to the backend itself. The timer is real time;
// the assertion is only on counts.
func TestCollapseTimeout(t *testing.T) {
	o := &origin{header: map[string]string{"Cache-Control": "max-age=60"}, body: "slow", block: make(chan struct{})}
	h := newHarness(t, Config{CollapseTimeout: time.Millisecond}, o)
	done := make(chan struct{})
	go func() { h.do("GET", "/slow", nil); close(done) }()
	testutil.WaitFor(t, "the leader at the backend", 10*time.Second, func() bool { return o.calls.Load() == 1 })
	second := make(chan struct{})
	go func() { h.do("GET", "/slow", nil); close(second) }()
	testutil.WaitFor(t, "the waiter at the backend", 10*time.Second, func() bool { return o.calls.Load() == 2 })
	close(o.block)
	<-done
	<-second
	if s := h.c.Stats(); s.Collapsed != 1 {
		t.Fatalf("collapsed %d, want 1", s.Collapsed)
	}
}
