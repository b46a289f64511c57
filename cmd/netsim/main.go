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
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
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
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "netsim:", err)
		os.Exit(1)
	}
}

// newRoot is the netsim command: run the topology, or check its configs.
func newRoot() *cobra.Command {
	var logFormat, logLevel, dnsConfig, lbConfig string
	root := &cobra.Command{
		Use:   "netsim",
		Short: "the whole simulated internet on loopback: DNS hierarchy, resolver, load balancers, web servers (Ctrl-C stops it)",
		Long: "netsim runs root, TLD and authoritative name servers, a caching resolver, the load\n" +
			"balancer and its regional copies, and sample web servers, in one process on loopback.\n" +
			"It writes var/netsim.env (the admin tokens: source it) and var/root.hints.\n" +
			"NETSIM_TOKEN, when set, is the admin token of dnsd and of every lbd.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log, err := logging.New(logFormat, logLevel)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			lock, err := lockInstance(varDir)
			if err != nil {
				return err
			}
			defer lock.Unlock()
			if err := run(log, dnsConfig, lbConfig); err != nil {
				return err
			}
			return nil
		},
	}
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.NewReplacer(".", "-", "_", "-").Replace(name))
	})
	root.CompletionOptions.HiddenDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&logFormat, "log-format", "console", "log format: console or json")
	pf.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&dnsConfig, "dns-config", "", "dnsd config file (default: embedded configs/dnsd.yaml)")
	pf.StringVar(&lbConfig, "lb-config", "", "lbd config file (default: embedded configs/lbd.yaml)")
	root.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "load and validate the dnsd and lbd configs (and the zones), and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := dnsd.Load(dnsConfig, nil)
			if err != nil {
				return err
			}
			if _, err := cfg.LoadZones(); err != nil {
				return err
			}
			if _, err := lb.LoadConfig(lbConfig); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "config OK")
			return nil
		},
	})
	return root
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
	lcfg, err := lb.LoadConfig(lbConfig)
	if err != nil {
		return err
	}
	// before anything is written (certificates, the GeoIP database):
	// is another instance listening already?
	if err := probeBusy(endpoints(cfg, lcfg)); err != nil {
		return err
	}
	if err := classroomToken(&cfg.Admin.Token, &lcfg.Admin.Token); err != nil {
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
			} else {
				_ = d.Reload(next)
			}
			if next, err := lb.LoadConfig(lbConfig); err != nil {
				log.Error("lbd reload refused; the old config keeps serving", zap.Error(err))
			} else {
				for i := range next.Pools { // keep the cookie key: cookies stay valid
					for _, p := range lcfg.Pools {
						if p.Name == next.Pools[i].Name && next.Pools[i].Sticky.Secret == "" {
							next.Pools[i].Sticky.Secret = p.Sticky.Secret
						}
					}
				}
				_ = lbs.Reload(next)
				for i, rs := range regional {
					_ = rs.Reload(regionConfig(next, regions[i].addr, lbs.AdminToken(), lbs.DemoPKI()))
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
		env, err := writeEnv(varDir, d.Token(), lbs.AdminToken())
		if err != nil {
			log.Warn("token file not written", zap.Error(err))
		} else {
			defer os.Remove(env)
		}
		printBanner(os.Stdout, hints, env)
	}
	<-ctx.Done()
	log.Info("stopping")
	wg.Wait()
	close(errs)
	return <-errs // nil after a clean shutdown on SIGINT or SIGTERM: exit 0
}

// endpoints are the TCP addresses probed for a running instance: the admin
// APIs and the frontends.
func endpoints(cfg dnsd.Config, lcfg lb.Config) []endpoint {
	eps := []endpoint{{"dnsd admin", cfg.Admin.Listen}, {"lbd admin", lcfg.Admin.Listen}}
	for _, f := range lcfg.Frontends {
		eps = append(eps, endpoint{"lbd frontend", f.Listen})
	}
	return eps
}

func buildDNS(cfg dnsd.Config, log *zap.Logger) (*dnsd.Daemon, error) {
	return dnsd.New(cfg, log)
}
