package backend

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"netsim/internal/testutil"
)

type change struct {
	from, to State
	reason   string
}

type recorder struct {
	mu  sync.Mutex
	got []change
}

func (r *recorder) StateChanged(_ *Backend, from, to State, reason string) {
	r.mu.Lock()
	r.got = append(r.got, change{from, to, reason})
	r.mu.Unlock()
}

func TestStates(t *testing.T) {
	rec := &recorder{}
	b := New(Options{ID: "b1", Address: "127.0.0.1:1", Weight: 2, Healthy: true, Observer: rec})
	steps := []struct {
		name      string
		do        func() bool
		changed   bool
		state     State
		available bool
	}{
		{"start", func() bool { return false }, false, Up, true},
		{"drain", func() bool { return b.SetAdminState(Draining, "api") }, true, Draining, false},
		{"drain again", func() bool { return b.SetAdminState(Draining, "api") }, false, Draining, false},
		{"health fails while draining", func() bool { return b.SetHealthy(false, "check") }, true, Draining, false},
		{"undrain shows down", func() bool { return b.SetAdminState(Up, "api") }, true, Down, false},
		{"healthy", func() bool { return b.SetHealthy(true, "check") }, true, Up, true},
		{"maintenance", func() bool { return b.SetAdminState(Maintenance, "api") }, true, Maintenance, false},
		{"down is refused", func() bool { return b.SetAdminState(Down, "api") }, false, Maintenance, false},
		{"back up", func() bool { return b.SetAdminState(Up, "api") }, true, Up, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := s.do(); got != s.changed {
				t.Fatalf("changed = %v, want %v", got, s.changed)
			}
			if b.State() != s.state || b.Available() != s.available {
				t.Fatalf("state %v available %v, want %v %v", b.State(), b.Available(), s.state, s.available)
			}
		})
	}
	// "health fails while draining" changes no visible state, so it is not reported.
	want := []State{Draining, Down, Up, Maintenance, Up}
	if len(rec.got) != len(want) {
		t.Fatalf("observer saw %v, want transitions to %v", rec.got, want)
	}
	for i, c := range rec.got {
		if c.to != want[i] {
			t.Fatalf("change %d = %v, want to %v", i, c, want[i])
		}
	}
}

func TestParseAdminState(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want State
		ok   bool
	}{{"up", Up, true}, {"draining", Draining, true}, {"maintenance", Maintenance, true}, {"down", 0, false}, {"", 0, false}, {"UP", 0, false}} {
		got, err := ParseAdminState(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseAdminState(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestDrainedAt(t *testing.T) {
	c := testutil.NewClock(time.Unix(1000, 0))
	b := New(Options{ID: "b", Weight: 1, Healthy: true, Now: c.Now})
	b.Acquire()
	b.Acquire()
	b.SetAdminState(Draining, "api")
	if !b.DrainedAt().IsZero() {
		t.Fatal("drained with requests in flight")
	}
	c.Advance(time.Second)
	b.Release()
	if !b.DrainedAt().IsZero() {
		t.Fatal("drained with one request in flight")
	}
	c.Advance(time.Second)
	b.Release()
	if got := b.DrainedAt(); !got.Equal(time.Unix(1002, 0)) {
		t.Fatalf("DrainedAt = %v, want 1002", got.Unix())
	}
	b.SetAdminState(Up, "api")
	if !b.DrainedAt().IsZero() {
		t.Fatal("DrainedAt kept after undrain")
	}
	b.SetAdminState(Draining, "api") // idle: drained at once
	if !b.DrainedAt().Equal(time.Unix(1002, 0)) {
		t.Fatalf("idle drain: DrainedAt = %v", b.DrainedAt())
	}
}

func TestSlowStart(t *testing.T) {
	tests := []struct {
		weight int
		after  time.Duration
		want   int // ScaledWeight
	}{
		{10, 0, 16},                 // a tenth of 160
		{10, 5 * time.Second, 88},   // 0.1 + 0.9*0.5 = 0.55 of 160
		{10, 10 * time.Second, 160}, // done
		{1, 0, 2},                   // weight 1 ramps too: ceil(1.6)
		{1, 5 * time.Second, 9},     // ceil(8.8)
		{1, 20 * time.Second, 16},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("w%d+%v", tt.weight, tt.after), func(t *testing.T) {
			c := testutil.NewClock(time.Unix(1000, 0))
			b := New(Options{ID: "b", Weight: tt.weight, Healthy: true, SlowStart: 10 * time.Second, Now: c.Now})
			if got := b.ScaledWeight(); got != tt.weight*WeightScale {
				t.Fatalf("at birth %d, want %d (no ramp)", got, tt.weight*WeightScale)
			}
			b.SetHealthy(false, "check")
			b.SetHealthy(true, "check")
			c.Advance(tt.after)
			if got := b.ScaledWeight(); got != tt.want {
				t.Fatalf("scaled weight %d, want %d", got, tt.want)
			}
			if got, want := b.EffectiveWeight(), float64(tt.want)/WeightScale; got != want {
				t.Fatalf("effective weight %v, want %v", got, want)
			}
		})
	}
}

func TestPassiveEjection(t *testing.T) {
	b := New(Options{ID: "b", Weight: 1, Healthy: true})
	for i := 1; i <= 2; i++ {
		if b.Failure(3, "reset") {
			t.Fatalf("ejected after %d failures", i)
		}
	}
	b.Success()
	b.Failure(3, "reset")
	b.Failure(3, "reset")
	if !b.Failure(3, "reset") || b.State() != Down || b.EjectedAt().IsZero() {
		t.Fatalf("not ejected after 3 consecutive failures: %v", b.State())
	}
	if b.Failure(3, "reset") {
		t.Fatal("ejected twice")
	}
	if b.Failures() != 6 {
		t.Fatalf("failures = %d, want 6", b.Failures())
	}
	b.SetHealthy(true, "check")
	if b.ConsecutiveFailures() != 0 || !b.EjectedAt().IsZero() {
		t.Fatal("readmission did not clear the streak")
	}
	if New(Options{ID: "x", Healthy: true}).Failure(0, "x") {
		t.Fatal("threshold 0 must never eject")
	}
}

func TestPeakEWMA(t *testing.T) {
	c := testutil.NewClock(time.Unix(1000, 0))
	b := New(Options{ID: "b", Weight: 1, Healthy: true, Now: c.Now})
	b.ObserveLatency(10 * time.Millisecond)
	b.ObserveLatency(100 * time.Millisecond)
	if got := b.LatencyEWMA(); got != 100*time.Millisecond {
		t.Fatalf("peak not taken: %v", got)
	}
	c.Advance(10 * time.Second) // one time constant: weight e^-1
	if got := b.LatencyEWMA(); got < 36*time.Millisecond || got > 38*time.Millisecond {
		t.Fatalf("idle for one tau: %v, want 100ms/e = 36.8ms (decay towards zero)", got)
	}
	b.ObserveLatency(10 * time.Millisecond)
	got := b.LatencyEWMA()
	if got < 40*time.Millisecond || got > 50*time.Millisecond {
		t.Fatalf("after one tau: %v, want about 43ms", got)
	}
}

func TestConcurrentAcquireRelease(t *testing.T) {
	b := New(Options{ID: "b", Weight: 1, Healthy: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				b.Acquire()
				b.Available()
				b.Release()
			}
		}()
	}
	wg.Wait()
	if b.InFlight() != 0 || b.Requests() != 8000 {
		t.Fatalf("inflight %d requests %d", b.InFlight(), b.Requests())
	}
}
