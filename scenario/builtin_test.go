package scenario

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// runBuiltin runs a built-in scenario (changed by mutate, when not nil) on
// an in-process stack, compressed to d, and returns the result with its
// summary logged.
func runBuiltin(t *testing.T, name, variant string, rate float64, d time.Duration, mutate func(*Scenario)) *Result {
	t.Helper()
	sc, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(sc)
	}
	// The in-process stack's health checks are wall-clock timeouts (at
	// most the interval): on a starved test machine a healthy backend's
	// /healthz misses a 500 ms one three times in a row (fall 3) and lbd marks it
	// down. Here they get the slack a loaded machine needs; the files as
	// written are held to theirs by e2e/scenarios.sh.
	sc.Stack.HealthInterval = max(sc.Stack.HealthInterval, time.Second)
	sc.Stack.Fall = max(sc.Stack.Fall, 5)
	ctx, cancel := context.WithTimeout(context.Background(), d+90*time.Second)
	defer cancel()
	st, err := StartStandalone(ctx, sc.Stack, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(context.Background()); err != nil {
			t.Errorf("closing the stack: %v", err)
		}
	}()
	var progress bytes.Buffer
	res, err := Run(ctx, sc, st, Options{Variant: variant, Rate: rate, Duration: d, MaxUnavailable: -1, MaxSurge: -1, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	res.Summary(&sum)
	t.Logf("%s%s", progress.String(), sum.String())
	// At least rate × duration: the load goes on while steps run late.
	if want := int(rate * d.Seconds()); len(res.Records) < want {
		t.Errorf("%d records, want at least %d (rate × duration)", len(res.Records), want)
	}
	return res
}

func TestBuiltinsParse(t *testing.T) {
	scs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	if len(scs) < 3 {
		t.Fatalf("%d built-in scenarios", len(scs))
	}
	for _, sc := range scs {
		for v := range sc.Variants {
			if _, err := sc.WithVariant(v); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestBuiltins runs the built-in scenarios (and the variants worth a run);
// each must pass its own expectations, and check tests what it promises
// beyond them.
func TestBuiltins(t *testing.T) {
	// Rates are low enough that a loaded 2-core machine running the race
	// detector still sends them (the stack runs in the same process).
	cases := []struct {
		name, variant string
		rate          float64
		d             time.Duration
		check         func(t *testing.T, res *Result)
		mutate        func(sc *Scenario) // a deliberately wrong scenario
		wantFail      map[int]bool       // indexes of Outcomes that must FAIL
	}{
		{name: "rolling-deploy", variant: "", rate: 50, d: 14 * time.Second, check: func(t *testing.T, res *Result) {
			if s := res.Stats(); s.Failed != 0 || s.Final != "v2" {
				t.Errorf("failed %d, final version %q; want 0 and v2", s.Failed, s.Final)
			}
		}},
		{name: "rolling-deploy", variant: "no-drain", rate: 50, d: 14 * time.Second, check: func(t *testing.T, res *Result) {
			if res.Stats().Failed == 0 {
				t.Fatal("no request failed without draining")
			}
			for _, r := range res.Records {
				if !r.OK() && (r.Cause == "" || r.Error == "") {
					t.Errorf("failure without a cause: %+v", r)
				}
			}
		}},
		{name: "canary", rate: 100, d: 12 * time.Second},
		{name: "canary", variant: "bad", rate: 100, d: 12 * time.Second, check: func(t *testing.T, res *Result) {
			if _, ok := res.Marks["rolled-back"]; !ok {
				t.Error("the bad canary was not rolled back")
			}
		}},
		// A wrong first weight (6/44 = 14 %, not 5 %; then 6/12 = 50 %,
		// not 25 %) fails the first two share checks.
		{name: "canary", variant: "", rate: 100, d: 12 * time.Second, mutate: func(sc *Scenario) {
			sc.Name += " (wrong weight)"
			sc.Steps[0].Weights = map[string]int{"b3": 6}
		}, wantFail: map[int]bool{1: true, 2: true}},
		{name: "backend-crash", rate: 50, d: 20 * time.Second},
		{name: "blue-green", rate: 50, d: 12 * time.Second},
		// v2 fails its health check; the rollout halts itself and puts b1
		// back on v1, and no client sees v2 or a failure.
		{name: "bad-deploy", variant: "", rate: 50, d: 15 * time.Second, check: func(t *testing.T, res *Result) {
			if _, ok := res.Marks["halted"]; !ok {
				t.Error("the rollout of a v2 that fails its health check did not halt")
			}
			if s := res.Stats(); s.Failed != 0 || s.Final != "v1" {
				t.Errorf("failed %d, final version %q; want 0 and v1", s.Failed, s.Final)
			}
		}},
	}
	for _, c := range cases {
		name, label := c.name, c.name
		if c.variant != "" {
			name, label = c.name+"/"+c.variant, c.name+" --"+c.variant
		}
		if c.mutate != nil {
			name, label = name+"/wrong", label+" (made wrong)"
		}
		t.Run(name, func(t *testing.T) {
			res := runBuiltin(t, c.name, c.variant, c.rate, c.d, c.mutate)
			if res.StepErr != nil {
				t.Errorf("%s: a step failed: %v", label, res.StepErr)
			}
			for i, o := range res.Outcomes {
				switch {
				case c.wantFail[i]:
					if o.Pass {
						t.Errorf("%s: %v; want FAIL", label, o)
					}
				case o.Pass:
				case wallClockBound(o.Expect.Kind):
					// How fast a stack converges or fails over is a
					// wall-clock bound, which a loaded test machine
					// cannot promise: e2e/scenarios.sh holds the built
					// daemons to it; here it is only logged.
					t.Logf("%s: %v (a wall-clock bound, not asserted in unit tests)", label, o)
				default:
					t.Errorf("%s: %v", label, o)
				}
			}
			if c.check != nil {
				c.check(t, res)
			}
		})
	}
}

// wallClockBound reports whether an expectation of kind is a time limit.
func wallClockBound(kind string) bool { return kind == "converge" || kind == "failover" }
