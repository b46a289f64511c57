package lb

import (
	ctls "crypto/tls"
	"errors"
	"fmt"
	"reflect"

	"go.uber.org/zap"

	"netsim/lb/l4"
	nstls "netsim/tls"
)

// Reload swaps in a new configuration without closing client connections.
// Backends that stay (same pool, id and address) keep their state set
// through the API (draining, maintenance), health, counters and
// connections; a weight changed in the file is applied, one unchanged in
// the file keeps its API value. Frontend listen addresses and server
// timeouts need a restart: a reload that changes a listen address is
// refused. On any error nothing running changes: Reload is Prepare, which
// loads and checks everything off to the side, then Commit, which swaps it
// in.
func (s *Server) Reload(cfg Config) error {
	p, err := s.Prepare(cfg)
	if err == nil {
		err = p.Commit()
	}
	return err
}

// Pending is a configuration loaded and checked by Prepare, not yet in
// force. Commit swaps it in; dropping it changes nothing. Several servers
// reload all or none by preparing each, then committing each.
type Pending struct {
	s        *Server
	cfg      *Config
	base     *Config // the running configuration Prepare checked against
	demo     []demoPlan
	stores   []*nstls.StoreUpdate    // per frontend; nil for plain HTTP
	tlsCfgs  map[string]*ctls.Config // pools' re-encryption configs
	l4       *l4.Pending
	routes   []*routeTable // per frontend
	edges    []*edge       // per frontend: its own cache and compression (its routes' are in routes)
	warnings []string
}

// DemoPKI is the demo PKI the configuration will use once committed (nil
// when no frontend uses one); its files are written by Commit.
func (p *Pending) DemoPKI() *nstls.PKI {
	if len(p.demo) == 0 {
		return nil
	}
	pki := p.demo[len(p.demo)-1].plan.PKI
	return &pki
}

// Prepare validates cfg against the running server and loads what it
// needs (certificates, CA files, the demo PKI's plan) without changing
// anything running or on disk. A refused reload is counted and logged.
func (s *Server) Prepare(cfg Config) (*Pending, error) {
	cfg.applyDefaults()
	p, err := s.prepare(&cfg)
	if err != nil {
		s.met.reloads.WithLabelValues("failure").Inc()
		s.log.Error("reload refused; the running configuration stays", zap.Error(err))
		return nil, err
	}
	return p, nil
}

func (s *Server) prepare(cfg *Config) (*Pending, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, errors.New("lbd has shut down")
	}
	old := s.cfg.Load()
	p := &Pending{s: s, cfg: cfg, base: old, tlsCfgs: map[string]*ctls.Config{}}
	if cfg.Admin.Listen != old.Admin.Listen || cfg.Admin.Token != old.Admin.Token || cfg.Admin.Lockout != old.Admin.Lockout {
		p.warnings = append(p.warnings, "admin.listen, admin.token and admin.lockout take effect on restart")
		cfg.Admin = old.Admin
	}
	if !reflect.DeepEqual(cfg.Log, old.Log) || !reflect.DeepEqual(cfg.Runtime, old.Runtime) {
		p.warnings = append(p.warnings, "log and runtime settings take effect on restart")
	}
	if (s.l4 == nil) != (len(cfg.L4.Frontends) == 0) {
		return nil, errors.New("l4.frontends: adding the first or removing the last TCP frontend needs a restart")
	}
	if s.l4 != nil {
		var err error
		if p.l4, err = s.l4.Prepare(cfg.L4); err != nil {
			return nil, err
		}
	}
	if err := p.checkFrontends(); err != nil {
		return nil, err
	}
	// Routes of the same name keep their hit counts, and their rate-limit
	// buckets while the rate_limit block is unchanged.
	p.routes = make([]*routeTable, len(cfg.Frontends))
	for i := range cfg.Frontends {
		p.routes[i] = s.compileRoutes(&cfg.Frontends[i], s.frontends[i].routes.Load())
	}
	p.edges = make([]*edge, len(cfg.Frontends))
	for i := range cfg.Frontends {
		f := s.frontends[i]
		e, err := buildEdges(f, &cfg.Frontends[i], p.routes[i], f.edge.Load(), f.routes.Load())
		if err != nil {
			return nil, fmt.Errorf("frontends[%d]: %w", i, err)
		}
		p.edges[i] = e
	}
	var err error
	if p.demo, err = s.planDemoPKI(cfg); err != nil {
		return nil, err
	}
	p.stores = make([]*nstls.StoreUpdate, len(cfg.Frontends))
	for i, fc := range cfg.Frontends {
		if fc.TLS == nil {
			continue
		}
		// Re-read the certificate files; one that fails fails the reload.
		if p.stores[i], err = s.frontends[i].store.Prepare(fc.TLS.Certs, demoLeaves(p.demo)...); err != nil {
			return nil, fmt.Errorf("frontends[%d].tls: %w", i, err)
		}
	}
	running := *s.pools.Load()
	for _, pc := range cfg.Pools {
		if op := running[pc.Name]; op != nil && reflect.DeepEqual(op.cfg.TLS, pc.TLS) {
			p.tlsCfgs[pc.Name] = op.tlsCfg
			continue
		}
		tc, err := backendTLS(pc.TLS)
		if err != nil {
			return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
		}
		p.tlsCfgs[pc.Name] = tc
	}
	return p, nil
}

// checkFrontends refuses what needs a restart: another number of
// frontends, a changed name or listen address, HTTP to HTTPS.
func (p *Pending) checkFrontends() error {
	s, cfg, old := p.s, p.cfg, p.base
	if len(cfg.Frontends) != len(s.frontends) {
		return fmt.Errorf("frontends: %d configured, %d running: adding or removing frontends needs a restart", len(cfg.Frontends), len(s.frontends))
	}
	for i, fc := range cfg.Frontends {
		of := old.Frontends[i]
		if fc.Name != of.Name || fc.Listen != of.Listen {
			return fmt.Errorf("frontends[%d]: %s on %s → %s on %s: changing a frontend's name or listen address needs a restart",
				i, of.Name, of.Listen, fc.Name, fc.Listen)
		}
		if (fc.TLS == nil) != (of.TLS == nil) {
			return fmt.Errorf("frontends[%d] (%s): switching between HTTP and HTTPS needs a restart", i, fc.Name)
		}
		if fc.H2C != of.H2C || fc.engine() != of.engine() || fc.MaxConnections != of.MaxConnections || fc.ReadHeaderTimeout != of.ReadHeaderTimeout ||
			fc.ReadTimeout != of.ReadTimeout || fc.WriteTimeout != of.WriteTimeout || fc.IdleTimeout != of.IdleTimeout {
			p.warnings = append(p.warnings, "frontend "+fc.Name+": connection settings (h2c, engine, max_connections, timeouts) take effect on restart")
		}
		if fc.TLS != nil && (fc.TLS.ClientCA != of.TLS.ClientCA || fc.TLS.ClientAuth != of.TLS.ClientAuth) {
			p.warnings = append(p.warnings, "frontend "+fc.Name+": client_ca and client_auth take effect on restart")
		}
	}
	return nil
}

// Commit swaps the prepared configuration in. It fails, changing nothing
// running, when the server shut down, when another reload committed since
// Prepare (prepare again), or when the demo PKI's files cannot be written;
// after that nothing can fail.
func (p *Pending) Commit() error {
	err := p.commit()
	s := p.s
	if err != nil {
		s.met.reloads.WithLabelValues("failure").Inc()
		s.log.Error("reload refused; the running configuration stays", zap.Error(err))
		return err
	}
	s.met.reloads.WithLabelValues("success").Inc()
	s.met.reloadStamp.SetToCurrentTime()
	for _, w := range p.warnings {
		s.log.Warn(w)
	}
	s.log.Info("configuration reloaded", zap.Int("pools", len(p.cfg.Pools)), zap.Int("frontends", len(p.cfg.Frontends)))
	return nil
}

func (p *Pending) commit() error {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("lbd has shut down")
	}
	if s.cfg.Load() != p.base {
		return errors.New("another reload was committed since this one was prepared; prepare it again")
	}
	if err := s.writeDemoPKI(p.demo); err != nil {
		return err
	}
	if p.l4 != nil {
		// fails only when the TCP frontends have shut down
		if err := p.l4.Commit(); err != nil {
			return fmt.Errorf("l4: %w", err)
		}
	}
	for _, u := range p.stores {
		if u != nil {
			u.Commit()
		}
	}
	pools, visible, err := s.apply(p.cfg, *s.pools.Load(), p.tlsCfgs)
	if err != nil {
		return err // policies and TLS were checked by Prepare
	}
	defer s.pools.Store(&pools) // once the routes that name dropped pools are gone
	for i, f := range s.frontends {
		fc := p.cfg.Frontends[i]
		f.cfg.Store(&fc)
		p.routes[i].pools = visible // before it is published
		old := f.routes.Swap(p.routes[i])
		f.swapEdge(p.edges[i], old, p.routes[i])
		for _, r := range old.routes {
			if !p.routes[i].has(r.name) {
				s.met.routeHits.DeleteLabelValues(f.name, r.name)
			}
		}
	}
	return nil
}
