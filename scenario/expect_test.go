package scenario

import (
	"testing"
	"time"
)

// recs makes one record per 100 ms: version v (or a failure when v is "x").
func recs(vs string) []Record {
	var out []Record
	for i, c := range vs {
		r := Record{Seq: i, T: float64(i) / 10}
		switch c {
		case '1':
			r.Version = "v1"
		case '2':
			r.Version = "v2"
		case 'x':
			r.Cause, r.Version = "backend_5xx", "v2"
		}
		out = append(out, r)
	}
	return out
}

func TestCheck(t *testing.T) {
	marks := Marks{"deploy": 300 * time.Millisecond, "rollback": 700 * time.Millisecond}
	cases := []struct {
		name string
		e    Expect
		recs string
		pass bool
	}{
		{"no failure", Expect{Kind: "failed", Op: "==", Count: 0}, "1111222", true},
		{"one failure", Expect{Kind: "failed", Op: "==", Count: 0}, "111x222", false},
		{"some failed wanted", Expect{Kind: "failed", Op: ">", Count: 0}, "111x222", true},
		{"failures before the window", Expect{Kind: "failed", Op: "==", Count: 0, From: Bound{Label: "rollback", Set: true}}, "11xx1111", true},
		{"failure inside the window", Expect{Kind: "failed", Op: "==", Count: 0, From: Bound{Label: "rollback", Set: true}}, "1111111x", false},
		{"failures of another version", Expect{Kind: "failed", Op: "==", Count: 0, Version: "v1"}, "1x1x", true},
		{"label never reached", Expect{Kind: "failed", Op: "==", Count: 0, From: Bound{Label: "nope", Set: true}}, "1111", false},
		{"share within", Expect{Kind: "share", Version: "v2", Share: 0.25, Within: 0.03}, "12111211", true},
		{"share off", Expect{Kind: "share", Version: "v2", Share: 0.05, Within: 0.03}, "12111211", false},
		{"share window", Expect{Kind: "share", Version: "v2", Share: 1, Within: 0, From: Bound{At: 400 * time.Millisecond, Set: true}}, "11112222", true},
		{"share, no request", Expect{Kind: "share", Version: "v2", Share: 0, Within: 1, From: Bound{At: time.Hour, Set: true}}, "1111", false},
		{"converged in time", Expect{Kind: "converge", Version: "v2", Limit: 300 * time.Millisecond}, "111122222", true},
		{"converged late", Expect{Kind: "converge", Version: "v2", Limit: 100 * time.Millisecond}, "111111222", false},
		{"failure delays convergence", Expect{Kind: "converge", Version: "v2", Limit: 150 * time.Millisecond}, "11112x222", false},
		{"never converged", Expect{Kind: "converge", Version: "v2", Limit: time.Hour}, "11122221", false},
		{"no new version", Expect{Kind: "converge", Version: "v2", Limit: time.Hour}, "1111", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Check([]Expect{c.e}, recs(c.recs), marks, 300*time.Millisecond)[0]
			if o.Pass != c.pass {
				t.Errorf("pass = %v, want %v: %s", o.Pass, c.pass, o.Detail)
			}
			if o.Detail == "" {
				t.Error("no detail")
			}
		})
	}
}

// TestShareCountsWholeRequests: a window that ends at a step counts the
// requests answered before it. One sent 50 ms before the switch and
// answered 100 ms after it (routed once the switch had happened, as a
// loaded machine can delay it) is not a v2 answer "before the switch".
func TestShareCountsWholeRequests(t *testing.T) {
	rs := recs("11111")
	rs[4].T, rs[4].Version, rs[4].LatencyMS = 0.45, "v2", 150
	marks := Marks{"switch": 500 * time.Millisecond}
	e := Expect{Kind: "share", Version: "v2", Share: 0, Within: 0, To: Bound{Label: "switch", Set: true}}
	if o := Check([]Expect{e}, rs, marks, 0)[0]; !o.Pass {
		t.Errorf("a request that straddles the switch counted before it: %s", o.Detail)
	}
	rs[4].LatencyMS = 20 // answered before the switch: v2 then is a real leak
	if o := Check([]Expect{e}, rs, marks, 0)[0]; o.Pass {
		t.Errorf("a v2 answer before the switch passed: %s", o.Detail)
	}
}

// TestWindowFromStepDone: a step scheduled at 100 ms that took effect only
// at 500 ms (a loaded machine): the window from "<label> done" sees the
// new weight's answers only; the one from the label's start sees old ones.
func TestWindowFromStepDone(t *testing.T) {
	marks := Marks{"5%": 100 * time.Millisecond, "5%" + DoneSuffix: 500 * time.Millisecond}
	e := Expect{Kind: "share", Version: "v2", Share: 0.5, Within: 0, From: Bound{Label: "5%" + DoneSuffix, Set: true}}
	rs := recs("111111212")
	if o := Check([]Expect{e}, rs, marks, 0)[0]; !o.Pass {
		t.Errorf("from the step's end: %s", o.Detail)
	}
	e.From.Label = "5%"
	if o := Check([]Expect{e}, rs, marks, 0)[0]; o.Pass {
		t.Errorf("from the step's start passed, but it saw answers from before the step took effect: %s", o.Detail)
	}
	e.From.Label = "late" + DoneSuffix
	if o := Check([]Expect{e}, rs, marks, 0)[0]; o.Pass || o.Detail != `step "late" never finished` {
		t.Errorf("a step that never finished: %v %q", o.Pass, o.Detail)
	}
}
