package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// sample is one request or query of the load, whatever its protocol.
type sample struct {
	at      time.Duration // intended send, since the load started
	latency time.Duration // from the intended send to the end of the answer
	failed  bool
	stale   bool   // answered, from expired data (DNS serve-stale)
	what    string // the name or URL asked
	why     string // why it failed
}

// degraded: failed, or answered stale.
func (s sample) degraded() bool { return s.failed || s.stale }

// summary is one row of the table: one kind of traffic through one fault.
type summary struct {
	traffic     string
	sent        int
	failed      int
	stale       int
	p99         time.Duration
	outage      time.Duration // fault to the last degraded answer sent before the heal
	recovery    time.Duration // heal to the last degraded answer sent after it
	firstFailed []string      // a few failures, for the report
}

// summarize counts ss. fault and heal are when the fault began and ended,
// on the samples' clock (fault < 0: no fault). A degraded answer sent
// before the fault counts in neither time. p99 is of the answers sent
// while the fault lasted (of all, when it lasted no time or there was none).
func summarize(traffic string, ss []sample, fault, heal time.Duration) summary {
	sum := summary{traffic: traffic, sent: len(ss)}
	lat := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		if heal <= fault || s.at >= fault && s.at < heal {
			lat = append(lat, s.latency)
		}
		if s.failed {
			sum.failed++
			if len(sum.firstFailed) < 5 {
				sum.firstFailed = append(sum.firstFailed, fmt.Sprintf("t=%.2fs %s: %s after %s", s.at.Seconds(), s.what, s.why, ms(s.latency)))
			}
		}
		if s.stale {
			sum.stale++
		}
		if !s.degraded() || fault < 0 || s.at < fault {
			continue
		}
		if s.at < heal {
			sum.outage = max(sum.outage, s.at-fault)
		} else {
			sum.recovery = max(sum.recovery, s.at-heal)
		}
	}
	sum.p99 = percentile(lat, 99)
	return sum
}

// percentile is the nearest-rank p-th percentile of d (0 for none).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	rank := (p*len(d) + 99) / 100 // ceil(p/100 * n)
	return d[max(rank, 1)-1]
}

// limits are what a row must show; a negative count or zero duration is
// not checked.
type limits struct {
	maxFailed int
	minStale  int
	maxP99    time.Duration
	maxOutage time.Duration
}

// check is one expectation, judged.
type check struct {
	ok   bool
	text string
}

// judge compares sum with lim.
func judge(sum summary, lim limits) []check {
	var out []check
	if lim.maxFailed >= 0 {
		out = append(out, check{sum.failed <= lim.maxFailed, fmt.Sprintf("failed %d ≤ %d", sum.failed, lim.maxFailed)})
	}
	if lim.minStale > 0 {
		out = append(out, check{sum.stale >= lim.minStale, fmt.Sprintf("stale %d ≥ %d", sum.stale, lim.minStale)})
	}
	if lim.maxP99 > 0 {
		out = append(out, check{sum.p99 <= lim.maxP99, fmt.Sprintf("p99 %s ≤ %s", ms(sum.p99), ms(lim.maxP99))})
	}
	if lim.maxOutage > 0 {
		out = append(out, check{sum.outage <= lim.maxOutage, fmt.Sprintf("outage %s ≤ %s", secs(sum.outage), secs(lim.maxOutage))})
	}
	return out
}

// row is the summary as a Markdown table row: fault, traffic, sent,
// failed, stale, outage, recovery, p99, checks.
func row(fault string, sum summary, checks []check) string {
	var cs []string
	for _, c := range checks {
		mark := "ok"
		if !c.ok {
			mark = "FAIL"
		}
		cs = append(cs, mark+": "+c.text)
	}
	expect := strings.Join(cs, "; ")
	if expect == "" {
		expect = "(figures only)"
	}
	return fmt.Sprintf("| %s | %s | %d | %d | %d | %s | %s | %s | %s |",
		fault, sum.traffic, sum.sent, sum.failed, sum.stale, secs(sum.outage), secs(sum.recovery), ms(sum.p99), expect)
}

// tableHead is the header of the rows, written once at the top of a table.
const tableHead = "| fault | traffic | sent | failed | stale | outage | recovery | p99 | expected |\n" +
	"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"

func ms(d time.Duration) string   { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
