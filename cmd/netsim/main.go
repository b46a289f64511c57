// Command netsim runs the whole simulated internet in one process, on
// loopback: the DNS hierarchy (root, TLD, authoritative servers), the
// resolver, sample web servers and the load balancer. Ctrl-C stops it all.
// All behaviour lives in packages; this is wiring.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/logging"
)

func main() {
	fs := pflag.NewFlagSet("netsim", pflag.ExitOnError)
	logFormat := fs.String("log-format", "console", "log format: console or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	dnsConfig := fs.String("dns-config", "", "dnsd config file (default: embedded configs/dnsd.yaml)")
	_ = fs.Parse(os.Args[1:])

	log, err := logging.New(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netsim:", err)
		os.Exit(2)
	}
	if err := run(log, *dnsConfig); err != nil {
		log.Error("netsim stopped", zap.Error(err))
		os.Exit(1)
	}
}

// component is one part of the topology.
type component struct {
	name string
	run  func(ctx context.Context) error
}

func run(log *zap.Logger, dnsConfig string) error {
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
	comps := []component{{name: "dnsd", run: d.Run}}

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
	select {
	case <-d.Ready():
		hints, err := writeHints()
		if err != nil {
			log.Warn("root hints file not written", zap.Error(err))
		}
		printBanner(os.Stdout, d, hints)
	case <-ctx.Done():
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
