package scenario

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Stats are a run's counts.
type Stats struct {
	Sent, OK, Failed int
	ByCause          map[string]int            // "lbd_502 backend_error", "reset", …
	ByBackend        map[string]map[string]int // backend → version → answers ("" version: failed)
	P50, P99, Max    time.Duration
	Final            string        // the version of the last answer
	Converged        time.Duration // since the load started: every answer after it is Final; -1: never
}

// Stats computes the counts of a run.
func (r *Result) Stats() Stats {
	s := Stats{ByCause: map[string]int{}, ByBackend: map[string]map[string]int{}, Converged: -1}
	lat := make([]time.Duration, 0, len(r.Records))
	for i := range r.Records {
		rec := &r.Records[i]
		s.Sent++
		lat = append(lat, rec.Latency())
		b := orDash(rec.Backend)
		if s.ByBackend[b] == nil {
			s.ByBackend[b] = map[string]int{}
		}
		if rec.OK() {
			s.OK++
			s.ByBackend[b][rec.Version]++
			s.Final = rec.Version
			continue
		}
		s.Failed++
		s.ByBackend[b][""]++
		s.ByCause[strings.TrimSpace(rec.Cause+" "+rec.Code)]++
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		s.P50, s.P99, s.Max = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
	}
	if s.Final != "" {
		last := time.Duration(0)
		for i := range r.Records {
			if rec := &r.Records[i]; !rec.OK() || rec.Version != s.Final {
				last = max(last, rec.At())
			}
		}
		s.Converged = last
	}
	return s
}

// Summary writes the counts and every expectation, pass or fail.
func (r *Result) Summary(w io.Writer) {
	s := r.Stats()
	l := r.Scenario.Load
	fmt.Fprintf(w, "\n%s: %d requests at %g/s for %v against %s\n", r.Scenario.Name, s.Sent, l.Rate, l.Duration, r.Target)
	if r.Extended > 0 {
		fmt.Fprintf(w, "  the steps ran past %v: the load went on %.1fs longer, until they ended (and a tail)\n", l.Duration, r.Extended.Seconds())
	}
	fmt.Fprintf(w, "  ok %d, failed %d\n", s.OK, s.Failed)
	if r.Cut > 0 {
		fmt.Fprintf(w, "  interrupted: %d requests in flight were ended by the interrupt itself and are not counted\n", r.Cut)
	}
	r.stallSummary(w)
	if s.Failed > 0 {
		var parts []string
		for _, c := range sortedKeys(s.ByCause) {
			parts = append(parts, fmt.Sprintf("%s %d", c, s.ByCause[c]))
		}
		fmt.Fprintf(w, "  failed by cause: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "  latency from the intended send: p50 %v  p99 %v  max %v\n", s.P50.Round(100*time.Microsecond), s.P99.Round(100*time.Microsecond), s.Max.Round(100*time.Microsecond))
	fmt.Fprintf(w, "  answers by backend and version:\n")
	for _, b := range sortedKeys(s.ByBackend) {
		var parts []string
		for _, v := range sortedKeys(s.ByBackend[b]) {
			if v != "" {
				parts = append(parts, fmt.Sprintf("%s %d", v, s.ByBackend[b][v]))
			}
		}
		if f := s.ByBackend[b][""]; f > 0 {
			parts = append(parts, fmt.Sprintf("failed %d", f))
		}
		fmt.Fprintf(w, "    %-8s %s\n", b, strings.Join(parts, "  "))
	}
	if s.Final != "" && r.FirstStep > 0 && len(r.Versions()) > 1 { // one version throughout: nothing converged
		fmt.Fprintf(w, "  converged: every answer is %s from %.1fs on (%.1fs after the first step)\n", s.Final, s.Converged.Seconds(), max(s.Converged-r.FirstStep, 0).Seconds())
	}
	if r.StepErr != nil {
		fmt.Fprintf(w, "  steps: %v\n", r.StepErr)
	}
	if len(r.Outcomes) > 0 {
		fmt.Fprintf(w, "  expectations:\n")
		for _, o := range r.Outcomes {
			fmt.Fprintf(w, "    %s\n", o)
		}
	}
	verdict := "PASSED"
	if !r.Passed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "  %s\n", verdict)
}

// stallSummary reports when the load generator's own process got no CPU:
// those seconds are the machine's, not the stack's (requests meant for them
// went out late, their latency counts from the intended send, and their
// timeouts were moved by the time the client stood still).
func (r *Result) stallSummary(w io.Writer) {
	if len(r.Stalls) == 0 {
		return
	}
	var total float64
	longest := r.Stalls[0]
	for _, st := range r.Stalls {
		total += st.For
		if st.For > longest.For {
			longest = st
		}
	}
	moved := 0
	for i := range r.Records {
		if r.Records[i].StalledMS > 0 {
			moved++
		}
	}
	fmt.Fprintf(w, "  load generator starved (the machine, not the stack): %d stall(s) of 1s or more, %.1fs in all, longest %.1fs at %.1fs; %d request(s) had their timeout moved by the time the client stood still\n",
		len(r.Stalls), total, longest.For, longest.From, moved)
}
