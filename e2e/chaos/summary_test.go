package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 … 1, unsorted
	}
	for _, c := range []struct {
		name string
		d    []time.Duration
		p    int
		want time.Duration
	}{
		{"none", nil, 99, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 1..100 is 50", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 10 is the largest", ms(5, 1, 9, 3, 2, 8, 4, 6, 10, 7), 99, 10 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.d, c.p); got != c.want {
				t.Errorf("percentile(%v, %d) = %v; want %v", c.d, c.p, got, c.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := func(at, lat int, failed, stale bool) sample {
		return sample{at: time.Duration(at) * time.Second, latency: time.Duration(lat) * time.Millisecond, failed: failed, stale: stale, what: "q", why: "timeout"}
	}
	ss := []sample{
		s(0, 1, true, false),  // before the fault: counted failed, in neither time
		s(2, 1, false, false), // fault at 2 s
		s(3, 500, true, false),
		s(5, 900, false, true), // last degraded before the heal: outage 3 s
		s(7, 2, false, false),  // heal at 7 s
		s(8, 3, false, true),   // 1 s after the heal
		s(9, 4, false, false),
	}
	got := summarize("DNS", ss, 2*time.Second, 7*time.Second)
	if got.sent != 7 || got.failed != 2 || got.stale != 2 {
		t.Errorf("sent/failed/stale = %d/%d/%d; want 7/2/2", got.sent, got.failed, got.stale)
	}
	if got.outage != 3*time.Second || got.recovery != time.Second {
		t.Errorf("outage %v, recovery %v; want 3s, 1s", got.outage, got.recovery)
	}
	if got.p99 != 900*time.Millisecond {
		t.Errorf("p99 %v; want 900ms, the slowest answer sent during the fault", got.p99)
	}
	if len(got.firstFailed) != 2 || !strings.Contains(got.firstFailed[1], "t=3.00s q: timeout after 500 ms") {
		t.Errorf("failures listed %q; want both, the second at t=3.00s", got.firstFailed)
	}

	none := summarize("DNS", ss, -1, -1)
	if none.outage != 0 || none.recovery != 0 || none.p99 != 900*time.Millisecond || none.failed != 2 {
		t.Errorf("without a fault: outage %v, recovery %v, p99 %v, failed %d; want 0, 0, 900ms (all answers), 2", none.outage, none.recovery, none.p99, none.failed)
	}
}

func TestJudge(t *testing.T) {
	sum := summary{traffic: "DNS", sent: 100, failed: 1, stale: 0, p99: 3 * time.Second}
	sum.outage = 30 * time.Second
	checks := judge(sum, limits{maxFailed: 0, minStale: 1, maxP99: 2400 * time.Millisecond, maxOutage: 25 * time.Second})
	if len(checks) != 4 {
		t.Fatalf("%d checks; want 4: %v", len(checks), checks)
	}
	for _, c := range checks {
		if c.ok {
			t.Errorf("check %q passed; every limit is missed", c.text)
		}
	}
	if got := judge(sum, limits{maxFailed: -1}); len(got) != 0 {
		t.Errorf("no limits set, yet checks %v", got)
	}
	r := row("authority lost", sum, judge(sum, limits{maxFailed: 1, maxP99: 0}))
	if want := "| authority lost | DNS | 100 | 1 | 0 | 30.0 s | 0.0 s | 3000 ms | ok: failed 1 ≤ 1 |"; r != want {
		t.Errorf("row\n%s\nwant\n%s", r, want)
	}
}
