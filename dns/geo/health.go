package geo

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"netsim/internal/health"
)

// Health checks of members: one monitor per checked address, and the pool
// views rebuilt when a monitor changes state.

func monitorKey(h HealthConfig, target string) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d|%s|%s|%d|%d", h.Type, target, h.Path, h.Host, h.ExpectStatus, h.Interval, h.Timeout, h.Rise, h.Fall)
}

func defaultChecker(h HealthConfig) health.Checker {
	if h.Type == "http" {
		path := h.Path
		if path == "" {
			path = "/"
		}
		// no kept-alive connection: each check connects as a client sent
		// to the member by DNS would
		return health.NewHTTP(health.HTTPOptions{Path: path, Host: h.Host, Expect: h.ExpectStatus, UserAgent: "dnsd-geo-health-check"})
	}
	return &health.TCP{}
}

func (e *Engine) newMonitor(h HealthConfig, target string, me *monitorEntry) *health.Monitor {
	return health.NewMonitor(target, e.checkerOf(h), h.Config, health.Options{
		Now:      e.now,
		OnChange: func(c health.Change) { e.onHealthChange(me, c) },
		OnProbe:  e.onProbe,
	})
}

// buildView snapshots a pool's members by family and availability.
func (e *Engine) buildView(p *pool) *poolView {
	v := &poolView{}
	for _, m := range p.members {
		f := &v.fam[famOf(m.addr)]
		f.all = append(f.all, m)
		f.allTotal += m.weight
		if m.mon == nil || m.mon.Available() {
			f.avail = append(f.avail, m)
			f.availTotal += m.weight
			continue
		}
		st := m.mon.Status()
		reason := fmt.Sprintf("health check %s down since %s", st.Target, st.Since.UTC().Format(time.RFC3339))
		if st.LastError != "" {
			reason += ": " + st.LastError
		}
		v.leftOut = append(v.leftOut, LeftOut{Member: m.addr.String(), Reason: reason})
	}
	return v
}

func (e *Engine) onHealthChange(me *monitorEntry, c health.Change) {
	e.m.changes.WithLabelValues(c.Target, c.To.String()).Inc()
	fields := []zap.Field{zap.String("target", c.Target), zap.Stringer("from", c.From), zap.Stringer("to", c.To)}
	{
		var where []string
		for _, p := range me.pools {
			where = append(where, p.owner.name+"/"+p.name)
		}
		fields = append(fields, zap.Strings("pools", where))
		e.mu.Lock()
		for _, p := range me.pools {
			p.view.Store(e.buildView(p))
		}
		e.mu.Unlock()
	}
	if c.Err != nil {
		fields = append(fields, zap.Error(c.Err))
	}
	if c.To == health.Down {
		e.log.Warn("geo member down: left out of answers", fields...)
	} else {
		e.log.Info("geo member up", fields...)
	}
}

func (e *Engine) onProbe(target string, err error, took time.Duration) {
	result := "ok"
	if err != nil {
		result = "fail"
	}
	e.m.probes.WithLabelValues(target, result).Inc()
	e.m.probeSeconds.Observe(took.Seconds())
}
