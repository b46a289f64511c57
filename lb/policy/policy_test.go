package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"netsim/lb/backend"
)

func mk(t *testing.T, weights ...int) []*backend.Backend {
	t.Helper()
	bs := make([]*backend.Backend, len(weights))
	for i, w := range weights {
		bs[i] = backend.New(backend.Options{ID: string(rune('a' + i)), Address: fmt.Sprintf("127.0.0.1:%d", 9001+i), Weight: w, Healthy: true})
	}
	return bs
}

func seeded() Rand { return rand.New(rand.NewPCG(1, 2)).IntN }

func counts(p Policy, bs []*backend.Backend, n int, h func(i int) Hint) map[string]int {
	c := map[string]int{}
	for i := 0; i < n; i++ {
		var hint Hint
		if h != nil {
			hint = h(i)
		}
		if b := p.Pick(bs, hint); b != nil {
			c[b.ID()]++
		} else {
			c["<nil>"]++
		}
	}
	return c
}

func TestNew(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p, err := New(name, nil)
			if err != nil || p == nil {
				t.Fatalf("New(%q) = %v, %v", name, p, err)
			}
			bs := mk(t, 1, 1, 1)
			if b := p.Pick(bs, Hint{Client: netip.MustParseAddr("10.0.0.1"), Key: "k"}); b == nil {
				t.Fatal("no pick from three available backends")
			}
			if b := p.Pick(nil, Hint{}); b != nil {
				t.Fatalf("pick from empty set = %v", b)
			}
			for _, b := range bs {
				b.SetAdminState(backend.Maintenance, "test")
			}
			if b := p.Pick(bs, Hint{Client: netip.MustParseAddr("10.0.0.1")}); b != nil {
				t.Fatalf("pick with all in maintenance = %v", b)
			}
		})
	}
	if _, err := New("fastest", nil); err == nil || !strings.Contains(err.Error(), "round_robin") {
		t.Fatalf("unknown policy error should list the valid ones, got %v", err)
	}
}

func TestRoundRobin(t *testing.T) {
	tests := []struct {
		name string
		out  []int // indexes taken out
		want map[string]int
	}{
		{"all up", nil, map[string]int{"a": 100, "b": 100, "c": 100}},
		{"b down", []int{1}, map[string]int{"a": 150, "c": 150}},
		{"a and c out", []int{0, 2}, map[string]int{"b": 300}},
		{"all out", []int{0, 1, 2}, map[string]int{"<nil>": 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := mk(t, 1, 1, 1)
			for _, i := range tt.out {
				bs[i].SetHealthy(false, "test")
			}
			got := counts(&RoundRobin{}, bs, 300, nil)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWeightedRoundRobinSequence(t *testing.T) {
	tests := []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "aabacaa" + "aabacaa"}, // nginx's documented smooth sequence
		{[]int{3, 1, 1}, "abaca" + "abaca"},
		{[]int{1, 1, 1}, "abcabc"},
		{[]int{2, 0, 1}, "acaaca"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights), func(t *testing.T) {
			bs := mk(t, tt.weights...)
			p := &WeightedRoundRobin{}
			var sb strings.Builder
			for range len(tt.want) {
				sb.WriteString(p.Pick(bs, Hint{}).ID())
			}
			if sb.String() != tt.want {
				t.Fatalf("sequence %s, want %s", sb.String(), tt.want)
			}
		})
	}
}

func TestWeightedRoundRobinSkipsDown(t *testing.T) {
	bs := mk(t, 3, 1, 1)
	bs[0].SetHealthy(false, "test")
	got := counts(&WeightedRoundRobin{}, bs, 100, nil)
	if got["b"] != 50 || got["c"] != 50 {
		t.Fatalf("got %v, want b and c 50 each", got)
	}
}

func TestLeastConnections(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inflight []int
		want     string
	}{
		{"fewest wins", []int{1, 1, 1}, []int{5, 1, 3}, "b"},
		{"weight scales", []int{4, 1, 1}, []int{6, 2, 3}, "a"}, // 7/4 < 3/1
		{"idle first", []int{1, 1, 1}, []int{2, 2, 0}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := mk(t, tt.weights...)
			for i, n := range tt.inflight {
				for range n {
					bs[i].Acquire()
				}
			}
			for range 20 {
				if got := (&LeastConnections{Rand: seeded()}).Pick(bs, Hint{}).ID(); got != tt.want {
					t.Fatalf("picked %s, want %s", got, tt.want)
				}
			}
		})
	}
	t.Run("ties spread", func(t *testing.T) {
		got := counts(&LeastConnections{Rand: seeded()}, mk(t, 1, 1, 1), 3000, nil)
		for _, id := range []string{"a", "b", "c"} {
			if got[id] < 800 {
				t.Fatalf("ties not spread: %v", got)
			}
		}
	})
}

func TestLeastResponseTime(t *testing.T) {
	bs := mk(t, 1, 1, 1)
	bs[0].ObserveLatency(50 * time.Millisecond)
	bs[1].ObserveLatency(2 * time.Millisecond)
	bs[2].ObserveLatency(3 * time.Millisecond)
	p := &LeastResponseTime{Rand: seeded()}
	if got := p.Pick(bs, Hint{}).ID(); got != "b" {
		t.Fatalf("picked %s, want the fastest b", got)
	}
	// b gets busy: 2ms*(10+1) > 3ms*1
	for range 10 {
		bs[1].Acquire()
	}
	if got := p.Pick(bs, Hint{}).ID(); got != "c" {
		t.Fatalf("picked %s, want c once b is busy", got)
	}
	// peak: one slow answer makes c expensive at once
	bs[2].ObserveLatency(80 * time.Millisecond)
	if got := p.Pick(bs, Hint{}).ID(); got != "b" {
		t.Fatalf("picked %s after c's slow answer, want b", got)
	}
	// an unsampled backend costs nothing and is tried
	bs = append(bs, backend.New(backend.Options{ID: "d", Weight: 1, Healthy: true}))
	if got := p.Pick(bs, Hint{}).ID(); got != "d" {
		t.Fatalf("picked %s, want the new backend d", got)
	}
}

func TestRandomTwoChoicesAvoidsLoaded(t *testing.T) {
	bs := mk(t, 1, 1, 1)
	for range 50 {
		bs[0].Acquire()
	}
	got := counts(&RandomTwoChoices{Rand: seeded()}, bs, 3000, nil)
	// a is chosen only when both draws... it can never win against b or c
	if got["a"] != 0 || got["b"] < 1200 || got["c"] < 1200 {
		t.Fatalf("got %v", got)
	}
	bs[1].SetAdminState(backend.Maintenance, "t")
	bs[2].SetAdminState(backend.Maintenance, "t")
	if b := (&RandomTwoChoices{Rand: seeded()}).Pick(bs, Hint{}); b == nil || b.ID() != "a" {
		t.Fatalf("the only available backend must be picked, got %v", b)
	}
}

func TestBackendLoad(t *testing.T) {
	bs := mk(t, 1, 1, 1)
	bs[0].SetLoad(90)
	bs[1].SetLoad(10)
	bs[2].SetLoad(40)
	got := counts(&BackendLoad{Rand: seeded()}, bs, 3000, nil)
	// b wins every pair it is in (2/3 of pairs), c wins the a-c pair.
	if got["a"] != 0 || got["b"] < 1800 || got["c"] < 700 {
		t.Fatalf("got %v", got)
	}
}

func TestFirst(t *testing.T) {
	bs := mk(t, 1, 1, 1)
	for _, b := range bs {
		b.SetMaxConns(2)
	}
	var order []string
	for range 7 {
		b := First{}.Pick(bs, Hint{})
		if b == nil {
			order = append(order, "-")
			continue
		}
		b.Acquire()
		order = append(order, b.ID())
	}
	if got := strings.Join(order, ""); got != "aabbcc-" {
		t.Fatalf("fill order %s, want aabbcc-", got)
	}
}

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user-%d", i)
	}
	return out
}

func TestHashStableAndSpread(t *testing.T) {
	bs := mk(t, 1, 1, 1)
	p := &Hash{}
	ks := keys(30000)
	first := map[string]string{}
	spread := map[string]int{}
	for _, k := range ks {
		id := p.Pick(bs, Hint{Key: k}).ID()
		first[k] = id
		spread[id]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if math.Abs(float64(spread[id])-10000) > 1500 {
			t.Fatalf("uneven ring: %v", spread)
		}
	}
	for _, k := range ks[:1000] {
		if id := p.Pick(bs, Hint{Key: k}).ID(); id != first[k] {
			t.Fatalf("key %s moved from %s to %s with no change", k, first[k], id)
		}
	}
}

func TestHashMovement(t *testing.T) {
	p := &Hash{}
	three := mk(t, 1, 1, 1, 1)[:3]
	four := append([]*backend.Backend(nil), three...)
	four = append(four, backend.New(backend.Options{ID: "d", Weight: 1, Healthy: true}))
	ks := keys(20000)
	before := map[string]string{}
	for _, k := range ks {
		before[k] = p.Pick(three, Hint{Key: k}).ID()
	}
	moved := 0
	for _, k := range ks {
		id := p.Pick(four, Hint{Key: k}).ID()
		if id != before[k] {
			moved++
			if id != "d" {
				t.Fatalf("key %s moved between old backends %s -> %s", k, before[k], id)
			}
		}
	}
	frac := float64(moved) / float64(len(ks))
	if frac < 0.18 || frac > 0.32 {
		t.Fatalf("adding a 4th backend moved %.3f of keys, want about 0.25", frac)
	}
	t.Logf("adding a 4th backend moved %.3f of the keys", frac)

	// Taking b out moves only b's keys.
	three[1].SetHealthy(false, "test")
	for _, k := range ks {
		id := p.Pick(three, Hint{Key: k}).ID()
		if before[k] != "b" && id != before[k] {
			t.Fatalf("key %s on %s moved to %s when only b went down", k, before[k], id)
		}
		if id == "b" {
			t.Fatalf("key %s still on the down backend", k)
		}
	}
}

func TestHashSourceIPAndFallback(t *testing.T) {
	bs := mk(t, 1, 1, 1)
	p := &Hash{}
	c := netip.MustParseAddr("192.0.2.7")
	id := p.Pick(bs, Hint{Client: c}).ID()
	for range 50 {
		if got := p.Pick(bs, Hint{Client: c}).ID(); got != id {
			t.Fatalf("same client moved %s -> %s", id, got)
		}
	}
	// IPv4-mapped IPv6 is the same client.
	if got := p.Pick(bs, Hint{Client: netip.MustParseAddr("::ffff:192.0.2.7")}).ID(); got != id {
		t.Fatalf("mapped address picked %s, want %s", got, id)
	}
	got := counts(p, bs, 300, nil)
	if got["a"] != 100 || got["b"] != 100 || got["c"] != 100 {
		t.Fatalf("no key: want round robin, got %v", got)
	}
}

func TestHashWeights(t *testing.T) {
	bs := mk(t, 3, 1)
	got := counts(&Hash{}, bs, 20000, func(i int) Hint { return Hint{Key: fmt.Sprint("k", i)} })
	r := float64(got["a"]) / float64(got["b"])
	if r < 2.4 || r > 3.7 {
		t.Fatalf("3:1 weights gave %v (ratio %.2f)", got, r)
	}
}

func BenchmarkPick(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			p, _ := New(name, nil)
			bs := make([]*backend.Backend, 8)
			for i := range bs {
				bs[i] = backend.New(backend.Options{ID: fmt.Sprint("b", i), Weight: 1, Healthy: true})
			}
			h := Hint{Client: netip.MustParseAddr("10.1.2.3"), Key: "session-42"}
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(bs, h)
			}
		})
	}
}

func TestSlowStartShiftsLoad(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	a := backend.New(backend.Options{ID: "a", Weight: 1, Healthy: true, Now: clock})
	b := backend.New(backend.Options{ID: "b", Weight: 1, Healthy: true, SlowStart: 10 * time.Second, Now: clock})
	b.SetHealthy(false, "t")
	b.SetHealthy(true, "t") // just came back: 2/16 of its weight
	got := counts(&WeightedRoundRobin{}, []*backend.Backend{a, b}, 1800, nil)
	if got["b"] != 200 || got["a"] != 1600 {
		t.Fatalf("slow-starting b got %v, want 200 of 1800", got)
	}
}

func TestLeastResponseTimeReprobesIdleSlowBackend(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	slow := backend.New(backend.Options{ID: "slow", Weight: 1, Healthy: true, Now: clock})
	fast := backend.New(backend.Options{ID: "fast", Weight: 1, Healthy: true, Now: clock})
	bs := []*backend.Backend{slow, fast}
	slow.ObserveLatency(100 * time.Millisecond)
	fast.ObserveLatency(2 * time.Millisecond)
	p := &LeastResponseTime{Rand: seeded()}
	for i := 0; i < 30; i++ { // 100ms·e^-3 ≈ 5ms: still dearer than 2ms
		if got := p.Pick(bs, Hint{}); got != fast {
			t.Fatalf("second %d: picked %s", i, got.ID())
		}
		now = now.Add(time.Second)
		fast.ObserveLatency(2 * time.Millisecond)
	}
	now = now.Add(30 * time.Second)
	fast.ObserveLatency(2 * time.Millisecond)
	// 100ms·e^-6 ≈ 0.25ms < 2ms: the idle slow backend is tried again.
	if got := p.Pick(bs, Hint{}); got != slow {
		t.Fatalf("after a minute idle the slow backend is still starved (cost %v vs %v)", slow.LatencyEWMA(), fast.LatencyEWMA())
	}
}

// TestHashSetChangeSameShape replaces one backend by another with the same
// weight, keeping the first backend and the count (DELETE b then POST d
// through the admin API): every pick must come from the new set, and d
// must take over b's keys. A cache keyed on the set's shape kept handing
// out the removed backend here.
func TestHashSetChangeSameShape(t *testing.T) {
	p := &Hash{}
	abc := mk(t, 1, 1, 1)
	ks := keys(3000)
	for _, k := range ks {
		p.Pick(abc, Hint{Key: k})
	}
	d := backend.New(backend.Options{ID: "d", Weight: 1, Healthy: true})
	acd := []*backend.Backend{abc[0], abc[2], d}
	got := counts(p, acd, len(ks), func(i int) Hint { return Hint{Key: ks[i]} })
	if got["b"] != 0 || got["<nil>"] != 0 || got["d"] < 700 {
		t.Fatalf("after replacing b by d: %v, want no b, no nil and about 1000 on d", got)
	}
}
