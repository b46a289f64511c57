package l4

import (
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// build makes the pools of cfg. Backends of old with the same pool, id and
// address are kept (with their state set through the API, health, counters
// and open connections); weight and max_conns come from cfg.
func (s *Server) build(cfg Config, old *generation) (*generation, error) {
	g := &generation{cfg: cfg, pools: map[string]*pool{}}
	for _, pc := range cfg.Pools {
		var prev *pool
		if old != nil {
			prev = old.pools[pc.Name]
		}
		p, err := newPool(pc, s, prev)
		if err != nil {
			return nil, err
		}
		g.pools[pc.Name] = p
		g.order = append(g.order, pc.Name)
	}
	return g, nil
}

// Reload swaps in a new configuration without closing connections. Pools
// are rebuilt; a backend that stays (same pool, id and address) keeps its
// state set through the API (draining, maintenance, with the drain
// deadline still running), health and counters. Frontends' pools, SNI
// routes, trusted PROXY peers, per-client caps and timeouts change for new
// connections; a frontend's name, listen address and max_conns need a
// restart (a reload changing the first two, or the number of frontends, is
// refused). Connections to a backend that the new config drops run until
// they close. On error the running configuration stays. It is Prepare
// followed by Commit.
func (s *Server) Reload(cfg Config) error {
	p, err := s.Prepare(cfg)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Pending is a validated configuration not yet in force: Prepare checks
// everything a reload can refuse, and Commit swaps it in.
type Pending struct {
	s   *Server
	cfg Config
}

// Prepare validates cfg against the running frontends; nothing running
// changes.
func (s *Server) Prepare(cfg Config) (*Pending, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Frontends) != len(s.fes) {
		return nil, fmt.Errorf("l4.frontends: %d configured, %d running: adding or removing TCP frontends needs a restart", len(cfg.Frontends), len(s.fes))
	}
	for i, fc := range cfg.Frontends {
		if of := s.fes[i].cfg; fc.Name != of.Name || fc.Listen != of.Listen {
			return nil, fmt.Errorf("l4.frontends[%d]: %s on %s → %s on %s: changing a TCP frontend's name or listen address needs a restart",
				i, of.Name, of.Listen, fc.Name, fc.Listen)
		}
	}
	for _, pc := range cfg.Pools {
		if _, err := newPolicy(pc.Policy); err != nil {
			return nil, fmt.Errorf("l4.pools %s: %w", pc.Name, err)
		}
	}
	return &Pending{s: s, cfg: cfg}, nil
}

// Commit builds the pools around the running backends and swaps them in,
// in one step for new connections. It fails only when the server has shut
// down.
func (pd *Pending) Commit() error {
	s, cfg := pd.s, pd.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("l4: server has shut down")
	}
	old := s.gen.Load()
	g, err := s.build(cfg, old)
	if err != nil {
		return err // checked by Prepare
	}
	for _, name := range g.order {
		g.pools[name].carryOver()
	}
	if s.serveCtx != nil {
		for _, name := range g.order {
			g.pools[name].monitorAll()
		}
	}
	s.gen.Store(g)
	for i, f := range s.fes {
		if cfg.Frontends[i].MaxConns != f.cfg.MaxConns {
			s.log.Warn("tcp frontend max_conns takes effect on restart", zap.String("frontend", f.cfg.Name))
		}
		f.rt.Store(newRoutes(cfg.Frontends[i], g))
	}
	for _, name := range old.order {
		op := old.pools[name]
		op.monitor.Stop()
		np := g.pools[name]
		for _, b := range op.backends {
			if np == nil || np.byID[b.ID()] != b {
				s.log.Info("tcp backend removed by reload; its open connections run until they close",
					zap.String("pool", name), zap.String("backend", b.ID()))
			}
		}
	}
	s.log.Info("tcp configuration reloaded", zap.Int("pools", len(cfg.Pools)), zap.Int("frontends", len(cfg.Frontends)))
	return nil
}
