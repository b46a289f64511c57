// Command netsim runs the whole simulated internet in one process, on
// loopback: the DNS hierarchy (root, TLD, authoritative servers), the
// resolver, sample web servers and the load balancer. Ctrl-C stops it all.
// All behaviour lives in packages; this is wiring.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/api"
	"netsim/internal/echo"
	"netsim/internal/logging"
	"netsim/internal/webd"
	"netsim/lb"
	"netsim/lb/l4"
	nstls "netsim/tls"
)

// echoServers are the TCP backends of lbd's default L4 pool.
var echoServers = []struct{ id, addr string }{
	{"e1", "127.0.0.1:9101"}, {"e2", "127.0.0.1:9102"}, {"e3", "127.0.0.1:9103"},
}

// regions are the simulated regions: each has an lbd on its own address
// (the demo GeoIP database places 127.0.10.0/24 in Europe, and so on).
var regions = []struct{ name, addr string }{
	{"eu", "127.0.10.1"}, {"na", "127.0.20.1"}, {"as", "127.0.30.1"},
}

// regionConfig is the main lbd's config moved to a region's address, with
// the same admin token.
//
// The main lbd owns the demo PKI (its certificate names the main admin
// port's CRL); the regions serve the same certificate files instead of
// each re-issuing them.
func regionConfig(c lb.Config, addr, token string, pki *nstls.PKI) lb.Config {
	c.Frontends = append([]lb.FrontendConfig(nil), c.Frontends...)
	for i := range c.Frontends {
		if t := c.Frontends[i].TLS; t != nil && t.Demo && pki != nil {
			t2 := *t
			t2.Demo = false
			t2.Certs = append([]nstls.Pair{{Cert: pki.Cert, Key: pki.Key, Default: true}}, t.Certs...)
			c.Frontends[i].TLS = &t2
		}
		_, port, err := net.SplitHostPort(c.Frontends[i].Listen)
		if err != nil {
			port = "8080"
		}
		c.Frontends[i].Listen = net.JoinHostPort(addr, port)
	}
	_, port, err := net.SplitHostPort(c.Admin.Listen)
	if err != nil {
		port = "8404"
	}
	c.Admin.Listen = net.JoinHostPort(addr, port)
	c.Admin.Token = token
	c.L4 = l4.Config{} // the TCP demo runs on the main lbd only
	return c
}

// shareStickySecret gives every pool without a configured cookie secret one
// random secret, shared by the main and the regional lbds (they copy the
// config), so a sticky cookie set by one region is honoured by another.
func shareStickySecret(c lb.Config) {
	secret := api.NewToken()
	for i := range c.Pools {
		if c.Pools[i].Sticky.Secret == "" {
			c.Pools[i].Sticky.Secret = secret
		}
	}
}

// webServers are the sample backends lbd's default pool points at.
var webServers = []struct{ id, addr string }{
	{"b1", "127.0.0.1:9001"}, {"b2", "127.0.0.1:9002"}, {"b3", "127.0.0.1:9003"},
}

func main() {
	fs := pflag.NewFlagSet("netsim", pflag.ExitOnError)
	logFormat := fs.String("log-format", "console", "log format: console or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	dnsConfig := fs.String("dns-config", "", "dnsd config file (default: embedded configs/dnsd.yaml)")
	lbConfig := fs.String("lb-config", "", "lbd config file (default: embedded configs/lbd.yaml)")
	_ = fs.Parse(os.Args[1:])

	log, err := logging.New(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netsim:", err)
		os.Exit(2)
	}
	if err := run(log, *dnsConfig, *lbConfig); err != nil {
		log.Error("netsim stopped", zap.Error(err))
		os.Exit(1)
	}
}

// component is one part of the topology.
type component struct {
	name string
	run  func(ctx context.Context) error
}

func run(log *zap.Logger, dnsConfig, lbConfig string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg, err := dnsd.Load(dnsConfig, nil)
	if err != nil {
		return err
	}
	d, err := buildDNS(cfg, log.Named("dnsd"))
	if err != nil {
		return err
	}
	var comps []component

	// sample web servers b1..b3, v1, on 127.0.0.1:9001-9003
	webReady := make(chan struct{}, len(webServers))
	for _, ws := range webServers {
		srv := webd.New(webd.Options{ID: ws.id, Version: "v1", Log: log.Named("webd").With(zap.String("id", ws.id))})
		comps = append(comps, component{name: "webd " + ws.id, run: func(ctx context.Context) error {
			return srv.ListenAndServe(ctx, ws.addr, func(net.Addr) { webReady <- struct{}{} })
		}})
	}
	// TCP echo backends e1..e3 for lbd's L4 frontend
	for _, es := range echoServers {
		srv := &echo.Server{ID: es.id}
		comps = append(comps, component{name: "echo " + es.id, run: func(ctx context.Context) error {
			return srv.ListenAndServe(ctx, es.addr, nil)
		}})
	}
	lcfg, err := lb.LoadConfig(lbConfig)
	if err != nil {
		return err
	}
	shareStickySecret(lcfg)
	lbs, err := lb.New(lcfg, log.Named("lbd"), nil)
	if err != nil {
		return err
	}
	// one lbd per simulated region, in front of the same sample servers;
	// GeoDNS sends each region's clients to its own (configs/dnsd.yaml geo:)
	regional := make([]*lb.Server, 0, len(regions))
	for _, r := range regions {
		rc := regionConfig(lcfg, r.addr, lbs.AdminToken(), lbs.DemoPKI())
		rs, err := lb.New(rc, log.Named("lbd-"+r.name), nil)
		if err != nil {
			return fmt.Errorf("lbd %s: %w", r.name, err)
		}
		regional = append(regional, rs)
	}
	webUp := make(chan struct{})
	comps = append(comps, component{name: "webd ready", run: func(ctx context.Context) error {
		for range webServers {
			select {
			case <-webReady:
			case <-ctx.Done():
				return nil
			}
		}
		close(webUp)
		return nil
	}})
	for i, s := range append([]*lb.Server{lbs}, regional...) {
		name := "lbd"
		if i > 0 {
			name = "lbd " + regions[i-1].name
		}
		comps = append(comps, component{name: name, run: func(ctx context.Context) error {
			// start after the web servers listen, so the first health checks pass
			select {
			case <-webUp:
			case <-ctx.Done():
				return nil
			}
			return s.Run(ctx)
		}})
	}

	// dnsd starts once the load balancers listen, so GeoDNS's first health
	// probes find them up
	comps = append(comps, component{name: "dnsd", run: func(ctx context.Context) error {
		for _, s := range append([]*lb.Server{lbs}, regional...) {
			select {
			case <-s.Ready():
			case <-ctx.Done():
				return nil
			}
		}
		return d.Run(ctx)
	}})

	// SIGHUP reloads every part's config; a bad one is refused and logged
	// while the old one keeps serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if next, err := dnsd.Load(dnsConfig, nil); err != nil {
				log.Error("dnsd reload refused; the old config keeps serving", zap.Error(err))
			} else if err := d.Reload(next); err != nil {
				log.Error("dnsd reload refused; the old config keeps serving", zap.Error(err))
			}
			next, err := lb.LoadConfig(lbConfig)
			if err != nil {
				log.Error("lbd reload refused; every lbd keeps its config", zap.Error(err))
				continue
			}
			for i := range next.Pools { // keep the cookie key: cookies stay valid
				for _, p := range lcfg.Pools {
					if p.Name == next.Pools[i].Name && next.Pools[i].Sticky.Secret == "" {
						next.Pools[i].Sticky.Secret = p.Sticky.Secret
					}
				}
			}
			// Validate all four lbds, then apply all: never a partial reload.
			main, err := lbs.Prepare(next)
			if err != nil {
				log.Error("lbd reload refused; every lbd keeps its config", zap.Error(err))
				continue
			}
			pending, names := []*lb.Pending{main}, []string{"lbd"}
			for i, rs := range regional {
				p, perr := rs.Prepare(regionConfig(next, regions[i].addr, lbs.AdminToken(), main.DemoPKI()))
				if perr != nil {
					log.Error("lbd reload refused; every lbd keeps its config", zap.String("lbd", "lbd-"+regions[i].name), zap.Error(perr))
					err = perr
					break
				}
				pending, names = append(pending, p), append(names, "lbd-"+regions[i].name)
			}
			if err != nil {
				continue
			}
			for i, p := range pending {
				if err := p.Commit(); err != nil {
					log.Error("lbd reload stopped at commit; the lbds listed kept their new config",
						zap.String("lbd", names[i]), zap.Strings("reloaded", names[:i]), zap.Error(err))
					break
				}
			}
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(comps))
	for _, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", c.name, err)
				cancel() // one part failing stops the whole topology
			}
		}()
	}
	ready := true
	readies := []<-chan struct{}{d.Ready(), lbs.Ready()}
	for _, s := range regional {
		readies = append(readies, s.Ready())
	}
	for _, ch := range readies {
		select {
		case <-ch:
		case <-ctx.Done():
			ready = false
		}
	}
	if ready {
		hints, err := writeHints()
		if err != nil {
			log.Warn("root hints file not written", zap.Error(err))
		}
		printBanner(os.Stdout, d, lbs, hints)
	}
	<-ctx.Done()
	log.Info("stopping")
	wg.Wait()
	close(errs)
	return <-errs
}

func buildDNS(cfg dnsd.Config, log *zap.Logger) (*dnsd.Daemon, error) {
	return dnsd.New(cfg, log)
}
