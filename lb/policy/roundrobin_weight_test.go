package policy

import (
	"testing"
	"time"

	"netsim/lb/backend"
)

// TestRoundRobinHonoursWeights: HAProxy's roundrobin is weighted, and so is
// lbd's: weights 19, 19, 2 give the last backend 5 % of the picks (a canary
// on the demo pool, whose policy is round_robin), weight 0 none.
func TestRoundRobinHonoursWeights(t *testing.T) {
	tests := []struct {
		weights []int
		want    map[string]int
	}{
		{[]int{19, 19, 2}, map[string]int{"a": 190, "b": 190, "c": 20}},
		{[]int{3, 3, 2}, map[string]int{"a": 150, "b": 150, "c": 100}},
		{[]int{2, 0, 2}, map[string]int{"a": 200, "c": 200}},
		{[]int{1, 1, 1}, map[string]int{"a": 134, "b": 133, "c": 133}},
	}
	for _, tt := range tests {
		bs := mk(t, tt.weights...)
		got := counts(&RoundRobin{}, bs, 400, nil)
		for id, want := range tt.want {
			if got[id] != want {
				t.Errorf("weights %v: %v, want %v", tt.weights, got, tt.want)
				break
			}
		}
	}
}

// TestRoundRobinSlowStart: a backend back from down ramps up under
// round_robin too (its scaled weight is lower for a while).
func TestRoundRobinSlowStart(t *testing.T) {
	now := time.Unix(1000, 0)
	bs := make([]*backend.Backend, 2)
	for i := range bs {
		bs[i] = backend.New(backend.Options{ID: string(rune('a' + i)), Address: "127.0.0.1:1", Weight: 10, Healthy: true,
			SlowStart: 10 * time.Second, Now: func() time.Time { return now }})
	}
	bs[1].SetHealthy(false, "test")
	bs[1].SetHealthy(true, "test") // up again at now: 10 % of its weight
	got := counts(&RoundRobin{}, bs, 110, nil)
	if got["b"] > 15 {
		t.Errorf("a backend starting slowly got %d of 110 picks: %v", got["b"], got)
	}
}
