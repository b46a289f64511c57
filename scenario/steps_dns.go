package scenario

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"netsim/internal/tick"
)

// dnsStack is the stack's DNS side, or an error that says why a DNS step
// cannot run on it.
func (r *runner) dnsStack(what string) (DNSStack, error) {
	if ds, ok := r.st.(DNSStack); ok {
		return ds, nil
	}
	return nil, fmt.Errorf("%s needs dnsd's resolver, which --standalone does not run; run it against the running stack (make run): %w", what, ErrNotAvailable)
}

func onOff(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "on"
	}
	return "off"
}

// resolverStep switches the resolver's knobs.
func (r *runner) resolverStep(ctx context.Context, s Step) error {
	ds, err := r.dnsStack("resolver")
	if err != nil {
		return err
	}
	var parts []string
	if s.Coalesce != nil {
		parts = append(parts, "coalescing "+onOff(s.Coalesce))
	}
	if s.Prefetch != nil {
		parts = append(parts, "prefetch "+onOff(s.Prefetch))
	}
	r.event(s.Label, "resolver: "+strings.Join(parts, ", "), nil)
	return ds.SetResolverKnobs(ctx, s.Coalesce, s.Prefetch)
}

// herd lets a name expire in the resolver's cache and then sends Clients
// queries for it at the same moment, each from its own address; the
// upstream queries they caused (dnsd's counter, before and after) are the
// step's measure.
func (r *runner) herd(ctx context.Context, s Step) error {
	ds, err := r.dnsStack("herd")
	if err != nil {
		return err
	}
	res, name := ds.ResolverAddr(), s.Record.Name
	warm := resolveOnce(ctx, res, name, nil)
	if warm.Err != "" {
		return fmt.Errorf("herd: asking %s for %s: %s", res, name, warm.Err)
	}
	r.event(s.Label, fmt.Sprintf("herd: %s cached for %d s more; %d clients wait for it to expire", name, warm.TTL, s.Clients), nil)
	if err := tick.Sleep(ctx, time.Duration(warm.TTL)*time.Second+time.Second); err != nil {
		return err
	}
	before, err := ds.UpstreamQueries(ctx)
	if err != nil {
		return err
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	fails := make([]string, s.Clients)
	for i := range s.Clients {
		src := net.IPv4(127, 0, 0, byte(10+i%200))
		wg.Go(func() {
			<-start
			if a := resolveOnce(ctx, res, name, src); a.Err != "" {
				fails[i] = a.Err
			}
		})
	}
	close(start)
	wg.Wait()
	after, err := ds.UpstreamQueries(ctx)
	if err != nil {
		return err
	}
	n, failed := after-before, 0
	for _, f := range fails {
		if f != "" {
			failed++
		}
	}
	r.measure(s.Label, n)
	r.event("", fmt.Sprintf("herd of %d clients for %s: %.0f upstream quer%s, %d client(s) without an answer", s.Clients, name, n, map[bool]string{true: "y", false: "ies"}[n == 1], failed), nil)
	return nil
}

func (r *runner) measure(label string, v float64) {
	if label == "" {
		return
	}
	r.mu.Lock()
	r.measures[label] = v
	r.mu.Unlock()
}

// checkDNS evaluates the expectations on DNS: upstream, failover, dns.
func checkDNS(e Expect, res *Result) Outcome {
	o := Outcome{Expect: e}
	switch e.Kind {
	case "upstream":
		n, ok := res.Measures[e.Step]
		if !ok {
			o.Detail = fmt.Sprintf("no herd step labelled %q ran", e.Step)
			return o
		}
		o.Pass = compare(int(n+0.5), e.Op, e.Count)
		o.Detail = fmt.Sprintf("%s: %.0f upstream queries; want %s %d", e.Step, n, e.Op, e.Count)
	case "failover", "dns":
		from, to, err := window(e, res.Marks, 0)
		if err != nil {
			o.Detail = err.Error()
			return o
		}
		if e.Kind == "failover" {
			return checkFailover(e, res, from, to)
		}
		return checkAnswerChange(e, res, from)
	}
	return o
}

// checkFailover: after `from` (and before `to`), the region's clients fail (their cached
// answer names the dead lbd) until they are answered by another region's
// lbd; the time from `from` to the first success elsewhere after the last
// failure must be within the limit.
func checkFailover(e Expect, res *Result, from, to time.Duration) Outcome {
	o := Outcome{Expect: e}
	home := fmt.Sprintf("127.0.%d.1", Regions[e.Region])
	lastFail, failed := time.Duration(-1), 0
	for i := range res.Records {
		rec := &res.Records[i]
		if rec.Region == e.Region && rec.At() >= from && rec.At() < to && !rec.OK() {
			lastFail, failed = max(lastFail, rec.At()), failed+1
		}
	}
	for i := range res.Records {
		rec := &res.Records[i]
		if rec.Region != e.Region || rec.At() < max(from, lastFail) || rec.At() >= to || !rec.OK() || rec.Resolved == home {
			continue
		}
		took := rec.At() - from
		o.Pass = took <= e.Limit
		o.Detail = fmt.Sprintf("%s clients served by %s %v after %v (%d failed before); want ≤ %v",
			e.Region, rec.Resolved, took.Round(time.Millisecond), from.Round(time.Millisecond), failed, e.Limit)
		return o
	}
	o.Detail = fmt.Sprintf("%s clients were never served by another region %s (%d failed)", e.Region, span(from, to), failed)
	return o
}

// checkAnswerChange: from the change on, the resolver keeps answering the
// old address until the TTL it had then runs out, and the new one after
// (within a second and a poll).
func checkAnswerChange(e Expect, res *Result, from time.Duration) Outcome {
	o := Outcome{Expect: e}
	name := strings.TrimSuffix(e.Name, ".")
	var ss []DNSSample
	for _, s := range res.DNS {
		if s.Name == name && s.Err == "" && s.T >= from.Seconds() {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		o.Detail = fmt.Sprintf("no answer for %s watched after %v (add it to watch:)", name, from.Round(time.Millisecond))
		return o
	}
	if ss[0].Answer != e.Old {
		o.Detail = fmt.Sprintf("%s answered %s right after the change, not the old %s", name, ss[0].Answer, e.Old)
		return o
	}
	// The TTL is whole seconds: each old answer bounds the expiry to
	// (t+ttl-1, t+ttl].
	lo, hi := 0.0, math.Inf(1)
	firstNew, lastOld := -1.0, ss[0].T
	for _, s := range ss {
		switch {
		case s.Answer == e.Old && firstNew < 0:
			lastOld = s.T
			lo, hi = math.Max(lo, s.T+float64(s.TTL)-1), math.Min(hi, s.T+float64(s.TTL))
		case s.Answer == e.Old:
			o.Detail = fmt.Sprintf("%s answered the old %s again at %.2fs, after the new one at %.2fs", name, e.Old, s.T, firstNew)
			return o
		case s.Answer == e.New && firstNew < 0:
			firstNew = s.T
		}
	}
	if firstNew < 0 {
		o.Detail = fmt.Sprintf("%s never answered %s (the old answer %s until %.2fs)", name, e.New, e.Old, lastOld)
		return o
	}
	o.Pass = firstNew >= lo && firstNew <= hi+1.5
	o.Detail = fmt.Sprintf("%s: old %s until %.2fs, new %s from %.2fs; the TTL cached at the change (%.2fs) ran out between %.2fs and %.2fs",
		name, e.Old, lastOld, e.New, firstNew, from.Seconds(), lo, hi)
	return o
}
