package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"netsim/internal/tick"
)

// errHalted ends the steps early on purpose: an analysis rolled back.
var errHalted = errors.New("halted by an analysis")

// steps runs the steps in order; a failed step ends the run's steps.
func (r *runner) steps(ctx context.Context, steps []Step) error {
	for _, s := range steps {
		if s.HasAt {
			if err := tick.Sleep(ctx, time.Until(r.start.Add(s.At))); err != nil {
				return err
			}
		}
		if err := r.step(ctx, s); err != nil {
			if errors.Is(err, errHalted) {
				return err
			}
			r.event(s.Label, fmt.Sprintf("%s failed", s.Action), err)
			return fmt.Errorf("step at line %d (%s): %w", s.Line, s.Action, err)
		}
		r.done(s.Label)
	}
	return nil
}

func (r *runner) step(ctx context.Context, s Step) error {
	st, b := r.st, s.Backend
	wctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	switch s.Action {
	case ActDrain, ActUndrain, ActMaintenance:
		state := map[Action]string{ActDrain: "draining", ActUndrain: "up", ActMaintenance: "maintenance"}[s.Action]
		r.event(s.Label, string(s.Action)+" "+b, nil)
		return st.SetState(ctx, b, state)
	case ActWaitIdle:
		if err := r.waitFor(wctx, b, "in-flight 0", func(x BackendStatus) bool { return x.InFlight == 0 }); err != nil {
			return err
		}
		r.event(s.Label, b+" in-flight 0", nil)
	case ActStop:
		r.event(s.Label, "stop "+b, nil)
		return st.StopBackend(ctx, b)
	case ActKill:
		r.event(s.Label, "kill "+b, nil)
		return st.KillBackend(ctx, b)
	case ActStart:
		r.event(s.Label, strings.TrimSpace("start "+b+" "+s.Version), nil)
		return st.StartBackend(ctx, b, s.Version)
	case ActWaitHealthy:
		if err := r.waitReady(wctx, b); err != nil {
			return err
		}
		r.event(s.Label, b+" healthy", nil)
	case ActWeight:
		var parts []string
		for _, id := range sortedKeys(s.Weights) {
			parts = append(parts, fmt.Sprintf("%s=%d", id, s.Weights[id]))
		}
		r.event(s.Label, "weight "+strings.Join(parts, " "), nil)
		for _, id := range sortedKeys(s.Weights) {
			if err := st.SetWeight(ctx, id, s.Weights[id]); err != nil {
				return err
			}
		}
	case ActAdd:
		r.event(s.Label, fmt.Sprintf("add %s %s weight %d", b, s.Version, s.Weight), nil)
		return st.AddBackend(ctx, b, s.Version, s.Weight)
	case ActRemove:
		r.event(s.Label, "remove "+b, nil)
		return st.RemoveBackend(ctx, b)
	case ActFailHealth:
		healthy := !s.On
		r.event(s.Label, fmt.Sprintf("%s /healthz %s", b, map[bool]string{true: "passes", false: "fails"}[healthy]), nil)
		return st.SetKnobs(ctx, b, Knobs{Healthy: &healthy})
	case ActSlow:
		r.event(s.Label, fmt.Sprintf("%s slow: +%v", b, s.Latency), nil)
		return st.SetKnobs(ctx, b, Knobs{Latency: &s.Latency, Jitter: &s.Jitter})
	case ActErrors:
		r.event(s.Label, fmt.Sprintf("%s fails %.0f %%", b, 100*s.Rate), nil)
		return st.SetKnobs(ctx, b, Knobs{ErrorRate: &s.Rate})
	case ActStopRegion:
		r.event(s.Label, "stop region "+s.Region, nil)
		return st.StopRegion(ctx, s.Region)
	case ActStartRegion:
		r.event(s.Label, "start region "+s.Region, nil)
		return st.StartRegion(ctx, s.Region)
	case ActDNS:
		r.event(s.Label, fmt.Sprintf("dns %s %s %s ttl %d", s.Record.Name, s.Record.Type, s.Record.Value, s.Record.TTL), nil)
		return st.SetRecord(ctx, s.Record)
	case ActFlushCache:
		r.event(s.Label, "flush resolver cache", nil)
		return st.FlushCache(ctx, s.Record.Name)
	case ActSleep:
		if s.Label != "" {
			r.event(s.Label, "sleep "+s.Duration.String(), nil)
		}
		return tick.Sleep(ctx, s.Duration)
	case ActRollout:
		return r.rollout(ctx, s)
	case ActAnalyze:
		return r.analyze(ctx, s)
	case ActResolver:
		return r.resolverStep(ctx, s)
	case ActHerd:
		return r.herd(ctx, s)
	default:
		return fmt.Errorf("unknown action %q", s.Action)
	}
	return nil
}

func (r *runner) waitFor(ctx context.Context, id, what string, cond func(BackendStatus) bool) error {
	var last BackendStatus
	for {
		bs, err := r.st.Backends(ctx)
		if err == nil {
			for _, b := range bs {
				if b.ID == id {
					last = b
					if cond(b) {
						return nil
					}
				}
			}
		}
		if err := tick.Sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("%s: waiting for %s: %w (last seen: state %s, healthy %v, in-flight %d)", id, what, err, last.State, last.Healthy, last.InFlight)
		}
	}
}

func (r *runner) waitHealthy(ctx context.Context, id string) error {
	return r.waitFor(ctx, id, "healthy", func(b BackendStatus) bool { return b.Running && b.Healthy && b.State != "down" })
}

// rollout replaces the version of its backends in batches of
// max_unavailable (or max_surge when that is 0), with max_surge extra
// new-version backends serving while it runs.
func (r *runner) rollout(ctx context.Context, s Step) error {
	ro := *s.Rollout
	if r.opt.MaxUnavailable >= 0 {
		ro.MaxUnavailable = r.opt.MaxUnavailable
	}
	if r.opt.MaxSurge >= 0 {
		ro.MaxSurge = r.opt.MaxSurge
	}
	if ro.MaxUnavailable == 0 && ro.MaxSurge == 0 {
		return fmt.Errorf("rollout: max_unavailable and max_surge cannot both be 0")
	}
	how := "drain first"
	if !ro.Drain {
		how = "no drain"
	}
	r.event(s.Label, fmt.Sprintf("rollout %s (max_unavailable %d, max_surge %d, %s)", ro.Version, ro.MaxUnavailable, ro.MaxSurge, how), nil)
	var surge []string
	for i := 0; i < ro.MaxSurge; i++ {
		id := fmt.Sprintf("surge%d", i+1)
		r.event("", fmt.Sprintf("add %s %s", id, ro.Version), nil)
		if err := r.st.AddBackend(ctx, id, ro.Version, 1); err != nil {
			return err
		}
		if err := r.waitHealthy(ctx, id); err != nil {
			return err
		}
		surge = append(surge, id)
	}
	batch := ro.MaxUnavailable
	if batch == 0 {
		batch = ro.MaxSurge
	}
	for i := 0; i < len(ro.Backends); i += batch {
		var wg sync.WaitGroup
		errs := make([]error, min(batch, len(ro.Backends)-i))
		for j := range errs {
			wg.Add(1)
			go func(j int, id string) {
				defer wg.Done()
				errs[j] = r.replace(ctx, id, ro)
			}(j, ro.Backends[i+j])
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if ro.MinReady > 0 && i+batch < len(ro.Backends) {
			if err := tick.Sleep(ctx, ro.MinReady); err != nil {
				return err
			}
		}
	}
	for _, id := range surge {
		if err := r.drainIdle(ctx, ctx, id); err != nil {
			return err
		}
		r.event("", "remove "+id, nil)
		if err := r.st.RemoveBackend(ctx, id); err != nil {
			return err
		}
	}
	r.event("", "rollout done: "+strings.Join(ro.Backends, ", ")+" on "+ro.Version, nil)
	return nil
}

// drainIdle puts id in draining and waits, up to wait's end, until it
// has no request in flight.
func (r *runner) drainIdle(ctx, wait context.Context, id string) error {
	r.event("", "drain "+id, nil)
	if err := r.st.SetState(ctx, id, "draining"); err != nil {
		return err
	}
	return r.waitFor(wait, id, "in-flight 0", func(b BackendStatus) bool { return b.InFlight == 0 })
}

// replace moves one backend to the rollout's version: drained and
// stopped, or killed; drained, it goes back into the pool only once it is
// ready (its own /healthz answers and lbd's checks pass). A new version
// that never gets ready halts the rollout: the backend is put back on its
// old version and the other backends are not touched (errHalted).
func (r *runner) replace(ctx context.Context, id string, ro Rollout) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	old, _ := r.status(ctx, id)
	if ro.Drain {
		if err := r.drainIdle(ctx, wctx, id); err != nil {
			return err
		}
		r.event("", "stop "+id, nil)
		if err := r.st.StopBackend(ctx, id); err != nil {
			return err
		}
	} else {
		r.event("", "kill "+id+" (no drain)", nil)
		if err := r.st.KillBackend(ctx, id); err != nil {
			return err
		}
	}
	r.event("", "start "+id+" "+ro.Version, nil)
	if err := r.st.StartBackend(ctx, id, ro.Version); err != nil {
		return err
	}
	if err := r.waitFor(wctx, id, "listening", func(b BackendStatus) bool { return b.Running }); err != nil {
		return err
	}
	if ro.Broken {
		bad := false
		r.event("", id+" "+ro.Version+" fails its health check (a bad build)", nil)
		if err := r.st.SetKnobs(ctx, id, Knobs{Healthy: &bad}); err != nil {
			return err
		}
	}
	if !ro.Drain {
		// A careless deploy waits for the process, not for the balancer.
		r.event("", id+" listening", nil)
		return nil
	}
	rctx, rcancel := context.WithTimeout(ctx, ro.ReadyTimeout)
	defer rcancel()
	if err := r.waitReady(rctx, id); err != nil {
		r.event("halted", fmt.Sprintf("%s %s not ready after %v: rollout halted; %s goes back to %s, the other backends keep serving", id, ro.Version, ro.ReadyTimeout, id, old.Version), nil)
		if err := r.putBack(wctx, id, old.Version); err != nil {
			return err
		}
		return errHalted
	}
	r.event("", id+" ready", nil)
	r.event("", "undrain "+id, nil)
	return r.st.SetState(ctx, id, "up")
}

// putBack restarts a drained backend on its old version and lets it back in.
func (r *runner) putBack(ctx context.Context, id, version string) error {
	r.event("", "stop "+id, nil)
	if err := r.st.StopBackend(ctx, id); err != nil {
		return err
	}
	r.event("", "start "+id+" "+version, nil)
	if err := r.st.StartBackend(ctx, id, version); err != nil {
		return err
	}
	if err := r.waitReady(ctx, id); err != nil {
		return err
	}
	r.event("", "undrain "+id+" (back on "+version+")", nil)
	return r.st.SetState(ctx, id, "up")
}

func (r *runner) status(ctx context.Context, id string) (BackendStatus, error) {
	bs, err := r.st.Backends(ctx)
	for _, b := range bs {
		if b.ID == id {
			return b, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("no backend %q", id)
	}
	return BackendStatus{}, err
}

// waitReady waits until lbd counts the backend healthy and the backend's
// own /healthz answers 2xx (lbd may not have noticed a restart yet: its
// checks fail a few times before it marks a backend down).
func (r *runner) waitReady(ctx context.Context, id string) error {
	hc := &http.Client{Timeout: time.Second}
	return r.waitFor(ctx, id, "ready (/healthz 2xx)", func(b BackendStatus) bool {
		if !b.Running || !b.Healthy || b.State == "down" {
			return false
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.Address+"/healthz", nil)
		if err != nil {
			return false
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	})
}

// analyze watches a backend's error rate; past the threshold it rolls
// back and halts the remaining steps.
func (r *runner) analyze(ctx context.Context, s Step) error {
	a := s.Analyze
	from := r.since()
	r.event(s.Label, fmt.Sprintf("analysis of %s: error rate ≤ %.0f %% for %v", a.Backend, 100*a.MaxErrors, a.For), nil)
	deadline := time.Now().Add(a.For)
	// Fewer than min_samples by the end of the window is no verdict: the
	// analysis waits for them, up to the step's timeout, and rolls back
	// if they never come (it passed once on 9 samples, 5 of them failed).
	limit := deadline.Add(s.Timeout)
	rollback := func(why string) error {
		r.event("", why+": roll back", nil)
		if err := r.steps(ctx, a.Rollback); err != nil {
			return err
		}
		return errHalted
	}
	for {
		if err := tick.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
		n, failed := r.col.Since(a.Backend, from)
		now := time.Now()
		switch {
		case n >= a.MinSamples && float64(failed) > a.MaxErrors*float64(n):
			return rollback(fmt.Sprintf("analysis failed: %s %d of %d failed (%.0f %%)", a.Backend, failed, n, 100*float64(failed)/float64(n)))
		case n >= a.MinSamples && !now.Before(deadline):
			r.event("", fmt.Sprintf("analysis passed: %s %d of %d failed", a.Backend, failed, n), nil)
			return nil
		case !now.Before(limit):
			return rollback(fmt.Sprintf("analysis inconclusive: %s answered %d requests, fewer than min_samples %d", a.Backend, n, a.MinSamples))
		}
	}
}
