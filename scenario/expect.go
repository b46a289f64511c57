package scenario

import (
	"fmt"
	"strings"
	"time"
)

// Marks are the moments of a run that expectations may name, since the
// load started: "<label>" when a labelled step started, "<label> done" when
// it finished (a weight set, a wait over, a rollout complete).
type Marks map[string]time.Duration

// DoneSuffix turns a step's label into the mark of its end: `from: "5% done"`.
const DoneSuffix = " done"

// Outcome is one checked expectation.
type Outcome struct {
	Expect Expect
	Pass   bool
	Detail string
}

func (o Outcome) String() string {
	word := "FAIL"
	if o.Pass {
		word = "pass"
	}
	return fmt.Sprintf("%s  %s (line %d): %s", word, o.Expect.Kind, o.Expect.Line, o.Detail)
}

// Check evaluates every expectation over the records. firstStep is when
// the first step started (the default start of a convergence).
func Check(es []Expect, recs []Record, marks Marks, firstStep time.Duration) []Outcome {
	out := make([]Outcome, 0, len(es))
	for _, e := range es {
		out = append(out, check(e, recs, marks, firstStep))
	}
	return out
}

func resolveBound(b Bound, marks Marks, def time.Duration) (time.Duration, error) {
	if !b.Set {
		return def, nil
	}
	if b.Label == "" {
		return b.At, nil
	}
	t, ok := marks[b.Label]
	if !ok {
		if strings.HasSuffix(b.Label, DoneSuffix) {
			return 0, fmt.Errorf("step %q never finished", strings.TrimSuffix(b.Label, DoneSuffix))
		}
		return 0, fmt.Errorf("step %q never ran", b.Label)
	}
	return t, nil
}

func window(e Expect, marks Marks, defFrom time.Duration) (from, to time.Duration, err error) {
	if from, err = resolveBound(e.From, marks, defFrom); err != nil {
		return
	}
	to, err = resolveBound(e.To, marks, time.Duration(1<<62))
	return
}

func span(from, to time.Duration) string {
	if to >= time.Duration(1<<62) {
		return fmt.Sprintf("from %v on", from.Round(time.Millisecond))
	}
	return fmt.Sprintf("from %v to %v", from.Round(time.Millisecond), to.Round(time.Millisecond))
}

func check(e Expect, recs []Record, marks Marks, firstStep time.Duration) Outcome {
	o := Outcome{Expect: e}
	defFrom := time.Duration(0)
	if e.Kind == "converge" {
		defFrom = firstStep
	}
	from, to, err := window(e, marks, defFrom)
	if err != nil {
		o.Detail = err.Error()
		return o
	}
	switch e.Kind {
	case "failed":
		n, total := 0, 0
		for i := range recs {
			r := &recs[i]
			if r.At() < from || r.At() >= to || (e.Version != "" && r.Version != e.Version) || (e.Backend != "" && r.Backend != e.Backend) {
				continue
			}
			total++
			if !r.OK() {
				n++
			}
		}
		o.Pass = compare(n, e.Op, e.Count)
		what := "failed"
		if e.Version != "" {
			what += " from " + e.Version
		}
		if e.Backend != "" {
			what += " on " + e.Backend
		}
		o.Detail = fmt.Sprintf("%d %s of %d %s; want %s %d", n, what, total, span(from, to), e.Op, e.Count)
	case "share":
		ok, v := 0, 0
		for i := range recs {
			r := &recs[i]
			// Whole requests only: sent at or after from, answered
			// before to. One sent just before a switch but routed just
			// after it (a scheduling delay) is not "before the switch".
			if r.SentAt() < from || r.EndAt() >= to || !r.OK() {
				continue
			}
			ok++
			if r.Version == e.Version {
				v++
			}
		}
		if ok == 0 {
			o.Detail = fmt.Sprintf("no successful request %s", span(from, to))
			return o
		}
		got := float64(v) / float64(ok)
		d := got - e.Share
		o.Pass = d <= e.Within+1e-9 && -d <= e.Within+1e-9
		o.Detail = fmt.Sprintf("%s answered %.1f %% (%d of %d) %s; want %.1f %% ± %.1f", e.Version, 100*got, v, ok, span(from, to), 100*e.Share, 100*e.Within)
	case "converge":
		last, lastV := time.Duration(-1), time.Duration(-1)
		for i := range recs {
			r := &recs[i]
			if r.SentAt() < from {
				continue
			}
			if !r.OK() || r.Version != e.Version {
				last = max(last, r.SentAt())
			} else {
				lastV = max(lastV, r.SentAt())
			}
		}
		switch {
		case lastV < 0:
			o.Detail = fmt.Sprintf("no answer from %s after %v", e.Version, from.Round(time.Millisecond))
		case last > lastV:
			o.Detail = fmt.Sprintf("never converged: the last answer (at %v) was not %s", last.Round(time.Millisecond), e.Version)
		default:
			took := max(last-from, 0)
			o.Pass = took <= e.Limit
			o.Detail = fmt.Sprintf("every answer is %s from %v on: converged %v after %v; want ≤ %v", e.Version, max(last, from).Round(time.Millisecond), took.Round(time.Millisecond), from.Round(time.Millisecond), e.Limit.Round(time.Millisecond))
		}
	}
	return o
}

func compare(n int, op string, want int) bool {
	switch op {
	case ">":
		return n > want
	case "<":
		return n < want
	case ">=":
		return n >= want
	case "<=":
		return n <= want
	}
	return n == want
}
