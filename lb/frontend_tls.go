package lb

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	nstls "netsim/tls"
)

// DemoPKI returns the demo PKI an HTTPS frontend with demo: true uses (its
// paths, and HowToTrust for a banner); nil when none does.
func (s *Server) DemoPKI() *nstls.PKI { return s.demo.Load() }

// demoCRLPath is where the admin listener publishes the demo CA's CRL.
const demoCRLPath = "/pki/ca.crl"

// demoPlan is the demo PKI of one frontend, planned but not yet written.
type demoPlan struct {
	frontend string
	plan     *nstls.PKIPlan
}

// planDemoPKI works out (without writing) the demo PKI of every frontend
// with tls.demo and adds its server certificate to the frontend's pairs:
// the default one unless a configured pair is marked default.
func (s *Server) planDemoPKI(cfg *Config) ([]demoPlan, error) {
	cfg.Frontends = slices.Clone(cfg.Frontends) // the caller's Config shares the array
	var plans []demoPlan
	for i := range cfg.Frontends {
		t := cfg.Frontends[i].TLS
		if t == nil || !t.Demo {
			continue
		}
		// the certificate names where its CA's revocation list is published:
		// this lbd's admin listener serves it (/pki/ca.crl)
		plan, err := nstls.PlanPKI(nstls.PKIOptions{Dir: t.DemoDir, CRLURL: "http://" + cfg.Admin.Listen + demoCRLPath})
		if err != nil {
			return nil, fmt.Errorf("frontends[%d].tls.demo_dir: %w", i, err)
		}
		plans = append(plans, demoPlan{cfg.Frontends[i].Name, plan})
		hasDefault := false
		for _, c := range t.Certs {
			hasDefault = hasDefault || c.Default
		}
		// Copy: the caller's slice may be shared with another Config.
		t2 := *t
		t2.Certs = append([]nstls.Pair{{Cert: plan.PKI.Cert, Key: plan.PKI.Key, Default: !hasDefault}}, t.Certs...)
		cfg.Frontends[i].TLS = &t2
	}
	return plans, nil
}

// demoLeaves are the planned server certificates, for stores to serve
// before the files are written.
func demoLeaves(plans []demoPlan) []*nstls.Certificate {
	var out []*nstls.Certificate
	for _, d := range plans {
		out = append(out, d.plan.Server)
	}
	return out
}

// writeDemoPKI writes the planned files and makes the PKI the one served
// (a commit step).
func (s *Server) writeDemoPKI(plans []demoPlan) error {
	for _, d := range plans {
		if err := d.plan.Write(); err != nil {
			return fmt.Errorf("demo PKI of frontend %s: %w", d.frontend, err)
		}
	}
	for _, d := range plans {
		pki := d.plan.PKI
		if pki.CreatedCA || pki.IssuedLeaf {
			s.log.Info("demo PKI written", zap.String("dir", pki.Dir), zap.Bool("new_ca", pki.CreatedCA),
				zap.Strings("names", pki.Names), zap.Time("not_after", pki.NotAfter))
		}
		if old := s.demo.Load(); old == nil || old.Dir != pki.Dir || pki.CreatedCA || pki.IssuedLeaf {
			s.log.Info("HTTPS frontend uses the demo CA; clients trust it with e.g. curl --cacert", zap.String("frontend", d.frontend),
				zap.String("ca", pki.CACert), zap.String("cert", pki.Cert))
		}
		s.demo.Store(&pki)
	}
	return nil
}

// setupTLS loads a frontend's certificates and builds its TLS config.
func (s *Server) setupTLS(f *frontend, t *FrontendTLS) error {
	if s.tlsMet == nil {
		m, err := nstls.NewMetrics(s.reg)
		if err != nil {
			return fmt.Errorf("registering TLS metrics: %w", err)
		}
		s.tlsMet = m
		if s.tickets, err = nstls.NewTicketKeys(time.Hour, 4); err != nil {
			return err
		}
	}
	store, err := nstls.NewStore(t.Certs, nstls.StoreOptions{Log: s.log.With(zap.String("frontend", f.name)), Metrics: s.tlsMet})
	if err != nil {
		return err
	}
	cfg, err := nstls.ServerConfig(nstls.ServerOptions{
		Certs: store, ClientCAFile: t.ClientCA, ClientAuth: t.ClientAuth, Tickets: s.tickets, Metrics: s.tlsMet,
	})
	if err != nil {
		return err
	}
	// One TLS record per answer where it fits (16 KiB): the fast engine
	// writes an answer with one Write, which Go's dynamic record sizing
	// would otherwise split into ~1 KiB records, one write each, for the
	// first megabyte of every connection. The handshakes use the config
	// GetConfigForClient returns (netsim/tls): that is the one to set.
	cfg.DynamicRecordSizingDisabled = true
	if cfg.GetConfigForClient != nil {
		if inner, err := cfg.GetConfigForClient(nil); err == nil && inner != nil {
			inner.DynamicRecordSizingDisabled = true
		}
	}
	f.store, f.tlsCfg = store, cfg
	return nil
}
