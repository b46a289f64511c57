package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options change a run without editing the file.
type Options struct {
	Variant        string        // a variant of the file (no-drain, bad); "" for none
	Rate           float64       // >0 overrides load.rate
	Duration       time.Duration // >0 overrides load.duration
	MaxUnavailable int           // >=0 overrides every rollout's (-1: keep)
	MaxSurge       int           // >=0 overrides every rollout's (-1: keep)
	Progress       io.Writer     // live progress and step lines; nil: none
	TTY            bool          // Progress is a terminal: one line rewritten in place
	PollEvery      time.Duration // backend state samples; default 100ms
}

// Event is one step, as it happened.
type Event struct {
	T     float64 `json:"t"` // seconds since the load started
	Label string  `json:"label,omitempty"`
	Text  string  `json:"text"`
	Err   string  `json:"error,omitempty"`
}

// Sample is every backend's state at one moment.
type Sample struct {
	T        float64
	Backends []BackendStatus
}

// Result is a finished run.
type Result struct {
	Scenario  *Scenario
	Target    string
	Start     time.Time
	End       float64 // seconds the load ran
	Records   []Record
	Events    []Event
	Samples   []Sample
	DNS       []DNSSample        // the watched names, as the resolver answered them
	Measures  map[string]float64 // what labelled steps measured (a herd's upstream queries)
	Marks     Marks
	FirstStep time.Duration
	Outcomes  []Outcome
	StepErr   error         // a step failed or did not finish while the load ran
	Stalls    []Stall       // the load generator's process got no CPU (a starved machine)
	Extended  time.Duration // how much longer than its duration the load ran, waiting for the steps
	Cut       int           // requests in flight when the run was interrupted: ended by the run, not by the stack; not in Records
}

// dropCut leaves out the requests the run's own interruption ended
// (Ctrl-C): they say nothing about the stack.
func dropCut(recs []Record) ([]Record, int) {
	out := recs[:0]
	for _, r := range recs {
		if r.Cause != CauseCancelled {
			out = append(out, r)
		}
	}
	return out, len(recs) - len(out)
}

// extension is how far past its duration the load sent requests.
func extension(recs []Record, load Load) time.Duration {
	if len(recs) == 0 {
		return 0
	}
	next := recs[len(recs)-1].At() + time.Duration(float64(time.Second)/load.Rate)
	return max(next-load.Duration, 0)
}

// loadTail is how long the load goes on after the last step ended when the
// steps outran the duration, and the most it goes on past the duration.
func loadTail(d time.Duration) (tail, overrun time.Duration) {
	return max(d/10, time.Second), max(d, time.Minute)
}

// Passed reports whether every step ran and every expectation held.
func (r *Result) Passed() bool {
	if r.StepErr != nil {
		return false
	}
	for _, o := range r.Outcomes {
		if !o.Pass {
			return false
		}
	}
	return true
}

// WithVariant returns the scenario with a variant's parts swapped in.
func (sc *Scenario) WithVariant(name string) (*Scenario, error) {
	if name == "" {
		return sc, nil
	}
	v, ok := sc.Variants[name]
	if !ok {
		return nil, fmt.Errorf("scenario %s has no variant %q; variants: %s", sc.Name, name, strings.Join(sortedKeys(sc.Variants), ", "))
	}
	out := *sc
	out.Name = sc.Name + " --" + name
	if v.Description != "" {
		out.Description = v.Description
	}
	if v.Load != nil {
		out.Load = *v.Load
	}
	if v.HasSteps {
		out.Steps = v.Steps
	}
	if v.HasExpect {
		out.Expect = v.Expect
	}
	return &out, nil
}

type runner struct {
	st      Stack
	opt     Options
	start   time.Time
	col     *Collector
	mu      sync.Mutex
	events  []Event
	marks   Marks
	first   time.Duration
	started bool
	out     *progress
	// measures are what labelled steps measured
	measures map[string]float64
}

func (r *runner) since() time.Duration { return time.Since(r.start) }

func (r *runner) event(label, text string, err error) {
	e := Event{T: r.since().Seconds(), Label: label, Text: text}
	if err != nil {
		e.Err = err.Error()
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	if label != "" {
		if _, dup := r.marks[label]; !dup {
			r.marks[label] = r.since()
		}
	}
	if !r.started {
		r.started, r.first = true, r.since()
	}
	r.mu.Unlock()
	r.out.line(e)
}

// done marks when a labelled step finished (took effect): "<label> done".
func (r *runner) done(label string) {
	if label == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.marks[label+DoneSuffix]; !dup {
		r.marks[label+DoneSuffix] = r.since()
	}
}

// Run runs the scenario against st: the load, the steps alongside it, then
// the expectations. It returns an error only when the run could not start;
// a failed step is in Result.StepErr.
func Run(ctx context.Context, sc *Scenario, st Stack, opt Options) (*Result, error) {
	sc, err := sc.WithVariant(opt.Variant)
	if err != nil {
		return nil, err
	}
	if opt.Duration > 0 && sc.Load.Duration > 0 {
		sc = sc.Scaled(float64(opt.Duration) / float64(sc.Load.Duration))
	}
	load := sc.Load
	if opt.Rate > 0 {
		load.Rate = opt.Rate
	}
	if opt.Duration > 0 {
		load.Duration = opt.Duration
	}
	target := load.Target
	if target == "" {
		target = st.Frontend()
	}
	if _, err := st.Backends(ctx); err != nil {
		return nil, fmt.Errorf("the stack does not answer: %w", err)
	}
	poll := opt.PollEvery
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	r := &runner{st: st, opt: opt, col: &Collector{}, marks: Marks{}, start: time.Now(), measures: map[string]float64{}}
	r.out = newProgress(opt.Progress, opt.TTY, r.col, r.since)
	if err := r.setup(ctx, sc.Setup); err != nil {
		return nil, err
	}
	w := &watcher{resolver: load.Resolver, watch: sc.Watch, since: r.since}
	if ds, ok := st.(DNSStack); ok && w.resolver == "" {
		w.resolver = ds.ResolverAddr()
	}
	// The load lasts load.Duration, and longer while steps still run
	// (a loaded machine runs them late): until they end plus a tail, so
	// what the last step did is seen, at most overrun past the duration.
	tail, overrun := loadTail(load.Duration)
	var endMu sync.Mutex
	var loadEnd time.Time
	setEnd := func(t time.Time) { endMu.Lock(); loadEnd = t; endMu.Unlock() }
	gen := &Generator{Load: load, Target: target, Sink: r.col.Add, Extra: overrun, End: func() (time.Time, bool) {
		endMu.Lock()
		defer endMu.Unlock()
		return loadEnd, !loadEnd.IsZero()
	}}

	r.out.horizon = func() (time.Duration, bool) {
		if end, ok := gen.End(); ok {
			return min(max(end.Sub(r.start), load.Duration), load.Duration+overrun), false
		}
		return load.Duration, r.since() > load.Duration
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	loadDone := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); loadDone <- gen.Run(loadCtx, r.start) }()

	var samples []Sample
	pollCtx, stopPoll := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			if bs, err := st.Backends(pollCtx); err == nil {
				samples = append(samples, Sample{T: r.since().Seconds(), Backends: bs})
			}
			select {
			case <-pollCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	wg.Add(1)
	go func() { defer wg.Done(); r.out.run(pollCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); w.run(pollCtx) }()

	stepCtx, stopSteps := context.WithCancel(ctx)
	defer stopSteps()
	stepsDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := r.steps(stepCtx, sc.Steps)
		end := time.Now()
		if (err == nil || errors.Is(err, errHalted)) && end.After(r.start.Add(load.Duration)) {
			end = end.Add(tail) // the steps outran the duration
		}
		setEnd(end)
		stepsDone <- err
	}()

	var stepErr error
	lerr := <-loadDone
	select {
	case stepErr = <-stepsDone:
	default:
		stopSteps()
		if err := <-stepsDone; err != nil {
			stepErr = fmt.Errorf("the steps did not end within %v of load (the duration %v, then up to %v more while steps ran); give the scenario a longer --duration: %w", load.Duration+overrun, load.Duration, overrun, err)
		}
	}
	end := r.since()
	stopPoll()
	wg.Wait()
	r.out.done()
	if errors.Is(stepErr, errHalted) {
		stepErr = nil
	}
	if lerr != nil && ctx.Err() != nil {
		stepErr = errors.Join(stepErr, fmt.Errorf("interrupted: %w", ctx.Err()))
	}
	sc.Load = load
	recs, cut := r.col.Records(), 0
	if ctx.Err() != nil {
		recs, cut = dropCut(recs)
	}
	res := &Result{Scenario: sc, Target: target, Start: r.start, End: end.Seconds(), Records: recs,
		Events: r.events, Samples: samples, DNS: w.samples, Measures: r.measures, Marks: r.marks, FirstStep: r.first, StepErr: stepErr,
		Stalls: gen.Stalls(), Extended: extension(recs, load), Cut: cut}
	res.Outcomes = Check(sc.Expect, res.Records, r.marks, r.first)
	for i, o := range res.Outcomes {
		switch o.Expect.Kind {
		case "upstream", "failover", "dns":
			res.Outcomes[i] = checkDNS(o.Expect, res)
		}
	}
	return res, nil
}

// setup runs the setup steps before the load starts; the run's clock then
// starts again, with their events at 0.
func (r *runner) setup(ctx context.Context, steps []Step) error {
	if len(steps) == 0 {
		return nil
	}
	if err := r.steps(ctx, steps); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = time.Now()
	for i := range r.events {
		r.events[i].T = 0
	}
	for k := range r.marks {
		r.marks[k] = 0
	}
	r.started = false
	return nil
}

// Versions lists the versions answered, sorted.
func (r *Result) Versions() []string {
	seen := map[string]bool{}
	for i := range r.Records {
		if v := r.Records[i].Version; v != "" {
			seen[v] = true
		}
	}
	out := sortedKeys(seen)
	sort.Strings(out)
	return out
}
