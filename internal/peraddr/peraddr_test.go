package peraddr

import (
	"net/netip"
	"sync"
	"testing"
)

func TestCount(t *testing.T) {
	var c Count
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for i, want := range []bool{true, true, false} {
		if got := c.Take(a, 2); got != want {
			t.Fatalf("connection %d of a under a cap of 2: taken %v, want %v", i+1, got, want)
		}
	}
	if !c.Take(b, 2) {
		t.Fatal("b is counted apart from a")
	}
	c.Release(a)
	if !c.Take(a, 2) {
		t.Fatal("a released one: room for one more")
	}
	c.Release(a)
	c.Release(a)
	c.Release(b)
	if c.Len() != 0 {
		t.Fatalf("%d addresses left after every release, want 0", c.Len())
	}
}

func TestCountConcurrent(t *testing.T) {
	var c Count
	a := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 50 {
		wg.Go(func() {
			if c.Take(a, 10) {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != 10 {
		t.Fatalf("%d taken under a cap of 10 by 50 goroutines, want 10", taken)
	}
}
