// Command netsim runs the whole simulated internet in one process, on
// loopback: the DNS hierarchy (root, TLD, authoritative servers), the
// resolver, sample web servers and the load balancer. Ctrl-C stops it all.
// All behaviour lives in packages; this is wiring.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/cli"
	"netsim/internal/instance"
	"netsim/internal/labs"
	"netsim/internal/sim"
	"netsim/internal/world"
	"netsim/lb"
	"netsim/scenario"
	"netsim/zones"
)

func main() { cli.Main(newRoot()) }

// newRoot is the netsim command: run the topology, or check its configs.
func newRoot() *cobra.Command {
	var logFormat, logLevel, dnsConfig, lbConfig, worldFile string
	var flat bool
	root := cli.Root("netsim", "the whole simulated internet on loopback: DNS hierarchy, resolver, load balancers, web servers (Ctrl-C stops it)",
		func(*cobra.Command) error {
			return cli.WithLogger(logFormat, logLevel, func(log *zap.Logger) error {
				lock, err := instance.TakeLock(varDir)
				if err != nil {
					return err
				}
				defer lock.Unlock()
				w, err := newWorld(worldFile, flat, log.Named("world"))
				if err != nil {
					return err
				}
				return run(log, dnsConfig, lbConfig, w)
			})
		})
	root.Long = "netsim runs root, TLD and authoritative name servers, a caching resolver, the load\n" +
		"balancer and its regional copies, and sample web servers, in one process on loopback.\n" +
		"It writes var/netsim.env (the admin tokens: source it) and var/root.hints.\n" +
		"NETSIM_TOKEN, when set, is the admin token of dnsd and of every lbd."
	pf := root.PersistentFlags()
	cli.LogFlags(pf, &logFormat, &logLevel)
	pf.StringVar(&dnsConfig, "dns-config", "", "dnsd config file (default: embedded configs/dnsd.yaml)")
	pf.StringVar(&lbConfig, "lb-config", "", "lbd config file (default: embedded configs/lbd.yaml)")
	pf.StringVar(&worldFile, "world", "", "world file: places and the latency, jitter, loss and bandwidth between them (default: the built-in world, internal/world/world.yaml)")
	root.Flags().BoolVar(&flat, "flat", false, "no distance: every server answers at loopback speed")
	root.AddCommand(scenario.Command())
	root.AddCommand(labs.Commands()...)
	root.AddCommand(cli.Check("load and validate the dnsd and lbd configs (and the zones), and exit", func(*cobra.Command) error {
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
		_, err = newWorld(worldFile, false, zap.NewNop())
		return err
	}))
	return root
}

func run(log *zap.Logger, dnsConfig, lbConfig string, w *world.World) error {
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
	if err := zonesDir(&cfg, log); err != nil {
		return err
	}
	keyFile, keySecret, err := sim.DemoKey(varDir)
	if err != nil {
		return err
	}
	if dnsConfig == "" { // the demo: nsupdate with the demo key changes example.test.
		sim.UseDemoKey(&cfg, keyFile)
	}
	keysDir(&cfg)
	var control string
	if err := classroomToken(&cfg.Admin.Token, &lcfg.Admin.Token, &control); err != nil {
		return err
	}
	top, err := sim.NewTopology(sim.Options{DNS: cfg, LB: lcfg, Log: log, ControlToken: control, World: w})
	if err != nil {
		return err
	}

	// SIGHUP reloads every part's config, all or nothing: a bad one is
	// refused and logged while the old ones keep serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			next, err := dnsd.Load(dnsConfig, nil)
			if err == nil {
				err = zonesDir(&next, log)
				keysDir(&next)
			}
			if err == nil && dnsConfig == "" {
				sim.UseDemoKey(&next, keyFile)
			}
			if err != nil {
				log.Error("reload refused; every part keeps its config", zap.String("part", "dnsd"), zap.Error(err))
				continue
			}
			lnext, err := lb.LoadConfig(lbConfig)
			if err != nil {
				log.Error("reload refused; every part keeps its config", zap.String("part", "lbd"), zap.Error(err))
				continue
			}
			if err := top.Reload(next, lnext); err != nil {
				log.Error("reload refused", zap.Error(err))
				continue
			}
			log.Info("reloaded dnsd and every lbd")
		}
	}()

	done := make(chan error, 1)
	go func() { done <- top.Run(ctx) }()
	select {
	case <-top.Ready():
		hints, err := writeHints()
		if err != nil {
			log.Warn("root hints file not written", zap.Error(err))
		}
		env, err := instance.WriteEnv(varDir, instance.Tokens{DNSD: top.DNS().Token(), LBD: top.LB().AdminToken(), Control: top.ControlToken()})
		if err != nil {
			log.Warn("token file not written", zap.Error(err))
		} else {
			defer os.Remove(env)
		}
		printBanner(os.Stdout, hints, env, !w.Flat())
		printKey(os.Stdout, keyFile, keySecret)
	case err := <-done:
		return err
	}
	return <-done // nil after a clean shutdown on SIGINT or SIGTERM: exit 0
}

// endpoints are the TCP addresses probed for a running instance: the admin
// APIs and the frontends.
func endpoints(cfg dnsd.Config, lcfg lb.Config) []endpoint {
	eps := []endpoint{{"dnsd admin", cfg.Admin.Listen}, {"lbd admin", lcfg.Admin.Listen}, {"netsim control API", sim.DefaultControl}}
	for _, f := range lcfg.Frontends {
		eps = append(eps, endpoint{"lbd frontend", f.Listen})
	}
	return eps
}

// zonesDir makes netsim serve var/zones/ when the dnsd config names no
// zones of its own: the demo zones are copied there on the first start, so
// the record API's changes are saved to files and outlive a restart (delete
// var/zones to start again from the demo zones).
func zonesDir(cfg *dnsd.Config, log *zap.Logger) error {
	if cfg.Zones.Dir != "" || len(cfg.Zones.Files) > 0 {
		return nil
	}
	dir := filepath.Join(varDir, "zones")
	wrote, err := zones.Seed(dir)
	if err != nil {
		return err
	}
	if len(wrote) > 0 {
		log.Info("demo zones copied; netsim serves them from there", zap.String("dir", dir), zap.Strings("files", wrote))
	}
	cfg.Zones.Dir = dir
	return nil
}

// keysDir keeps the DNSSEC keys of a signing dnsd under var/keys (made at
// the first start, kept after: delete them to roll every key) and writes
// the simulated root's trust anchor to var/root.key, for delv -a.
func keysDir(cfg *dnsd.Config) {
	if !cfg.DNSSEC.Enabled {
		return
	}
	if cfg.DNSSEC.KeyDir == "" {
		cfg.DNSSEC.KeyDir = filepath.Join(varDir, "keys")
	}
	if cfg.DNSSEC.RootKey == "" {
		cfg.DNSSEC.RootKey = filepath.Join(varDir, "root.key")
	}
}
