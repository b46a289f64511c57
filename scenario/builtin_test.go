package scenario

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// runBuiltin runs a built-in scenario on an in-process stack, compressed
// to d, and returns the result with its summary logged.
func runBuiltin(t *testing.T, name, variant string, rate float64, d time.Duration) *Result {
	t.Helper()
	sc, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
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
	if want := int(rate * d.Seconds()); len(res.Records) != want {
		t.Errorf("%d records, want %d (rate × duration)", len(res.Records), want)
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
	cases := []struct {
		name, variant string
		rate          float64
		d             time.Duration
		check         func(t *testing.T, res *Result)
	}{
		{"rolling-deploy", "", 50, 14 * time.Second, func(t *testing.T, res *Result) {
			if s := res.Stats(); s.Failed != 0 || s.Final != "v2" {
				t.Errorf("failed %d, final version %q; want 0 and v2", s.Failed, s.Final)
			}
		}},
		{"rolling-deploy", "no-drain", 50, 14 * time.Second, func(t *testing.T, res *Result) {
			if res.Stats().Failed == 0 {
				t.Fatal("no request failed without draining")
			}
			for _, r := range res.Records {
				if !r.OK() && (r.Cause == "" || r.Error == "") {
					t.Errorf("failure without a cause: %+v", r)
				}
			}
		}},
		{"canary", "", 200, 12 * time.Second, nil},
		{"canary", "bad", 200, 12 * time.Second, func(t *testing.T, res *Result) {
			if _, ok := res.Marks["rolled-back"]; !ok {
				t.Error("the bad canary was not rolled back")
			}
		}},
		{"backend-crash", "", 50, 20 * time.Second, nil},
		{"blue-green", "", 50, 12 * time.Second, nil},
		// v2 fails its health check; the rollout halts itself and puts b1
		// back on v1, and no client sees v2 or a failure.
		{"bad-deploy", "", 50, 15 * time.Second, func(t *testing.T, res *Result) {
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
		t.Run(name, func(t *testing.T) {
			res := runBuiltin(t, c.name, c.variant, c.rate, c.d)
			if res.StepErr != nil {
				t.Errorf("%s: a step failed: %v", label, res.StepErr)
			}
			for _, o := range res.Outcomes {
				switch {
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
