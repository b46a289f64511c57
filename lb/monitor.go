package lb

import (
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"netsim/lb/backend"
	"netsim/lb/health"
)

// startMonitor starts active checks for every backend of p.
func (s *Server) startMonitor(p *pool) {
	h := p.cfg.Health
	var chk health.Checker
	switch h.Type {
	case "http":
		hc := health.NewHTTP(h.Path, h.Host, h.ExpectStatus)
		if p.tlsCfg != nil {
			// Checks speak what the traffic speaks: TLS, verified.
			hc.Scheme = "https"
			hc.Client.Transport.(*http.Transport).TLSClientConfig = p.tlsCfg.Clone()
		}
		chk = hc
	case "tcp":
		chk = &health.TCP{Dialer: net.Dialer{}}
	}
	var agent *health.Agent
	if h.AgentPath != "" {
		agent = &health.Agent{Client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, IdleConnTimeout: 90 * time.Second}}, Path: h.AgentPath}
	}
	ok := s.met.checks
	dur := s.met.checkTime.WithLabelValues(p.name)
	p.monitor = health.NewMonitor(health.Config{Config: h.Config, Cooldown: p.cfg.Passive.Cooldown}, chk, agent, s.log.With(zap.String("pool", p.name)), func(b *backend.Backend, err error, took time.Duration) {
		r := "ok"
		if err != nil {
			r = "fail"
		}
		ok.WithLabelValues(p.name, b.ID(), r).Inc()
		dur.Observe(took.Seconds())
		s.publishHealth(p.name, b, err, took)
	})
	for _, m := range p.snap.Load().order {
		p.monitor.Add(m.b)
	}
}

// closeIdle returns the OnDrained hook of backends in pool: once a
// draining backend has nothing in flight, its kept-alive connections are
// closed so that it can shut down at once (an idle keep-alive connection
// that never carried a request keeps Go's http.Server.Shutdown waiting 5s).
func (s *Server) closeIdle(pool string) func(*backend.Backend) {
	return func(b *backend.Backend) {
		if p := s.pool(pool); p != nil {
			if m := p.snap.Load().byPtr[b]; m != nil {
				m.closeIdle()
			}
		}
	}
}

// observer logs and counts every state change of a backend in pool.
func (s *Server) observer(pool string) backend.Observer {
	return backend.ObserverFunc(func(b *backend.Backend, from, to backend.State, reason string) {
		s.met.changes.WithLabelValues(pool, b.ID(), to.String()).Inc()
		s.publishBackend(pool, b, from, to, reason)
		lvl := zap.InfoLevel
		if to == backend.Down {
			lvl = zap.WarnLevel
		}
		if ce := s.log.Check(lvl, "backend state changed"); ce != nil {
			ce.Write(zap.String("pool", pool), zap.String("backend", b.ID()), zap.String("address", b.Address()),
				zap.Stringer("from", from), zap.Stringer("to", to), zap.String("reason", reason))
		}
	})
}
