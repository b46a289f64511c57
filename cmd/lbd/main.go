// Command lbd is the L7 HTTP load balancer. It only wires things up: flags,
// config, logger, signals. Everything else is in package netsim/lb.
//
//	lbd                          # embedded default: pool web over 127.0.0.1:9001-9003, :8080, admin :8404
//	lbd -c configs/lbd.yaml      # a config file; LBD_* env and flags override scalar keys
//	lbd -c my.yaml --check       # validate and exit
//
// SIGHUP reloads the config file (a bad one is refused and the old config
// keeps serving); SIGTERM or SIGINT drains in-flight requests and exits.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/internal/logging"
	"netsim/lb"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lbd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := pflag.NewFlagSet("lbd", pflag.ContinueOnError)
	path := fs.StringP("config", "c", "", "YAML config file (default: the embedded default config)")
	check := fs.Bool("check", false, "validate the config and exit")
	fs.String("admin.listen", "", "admin API address (admin.listen)")
	fs.String("admin.token", "", "admin API bearer token (admin.token; env LBD_ADMIN_TOKEN)")
	fs.Bool("admin.pprof", false, "serve /debug/pprof on the admin listener")
	fs.String("log.level", "", "debug, info, warn or error (log.level)")
	fs.String("log.format", "", "console or json (log.format)")
	fs.Bool("access_log.enabled", false, "log every (sampled) request")
	fs.Float64("access_log.sample_rate", 0, "fraction of requests logged, e.g. 0.01")
	fs.Int("runtime.gc_percent", 0, "GOGC for the process (runtime.gc_percent)")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return nil
		}
		return err
	}
	cfg, err := lb.LoadConfigFlags(*path, fs)
	if err != nil {
		return err
	}
	if *check {
		fmt.Println("config OK")
		return nil
	}
	log, err := logging.New(cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	applyRuntime(cfg.Runtime, log)

	srv, err := lb.New(cfg, log, nil)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading", zap.String("config", *path))
				next, err := lb.LoadConfigFlags(*path, fs)
				if err != nil {
					log.Error("reload refused; the running configuration stays", zap.Error(err))
					continue
				}
				_ = srv.Reload(next) // logs its own outcome
			}
		}
	}()
	return srv.Run(ctx)
}

func applyRuntime(rc lb.RuntimeConfig, log *zap.Logger) {
	if rc.GCPercent != 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(rc.GCPercent)
		log.Debug("GC percent set", zap.Int("gc_percent", rc.GCPercent))
	}
	if rc.MemoryLimit != "" && os.Getenv("GOMEMLIMIT") == "" {
		if n, err := lb.ParseBytes(rc.MemoryLimit); err == nil {
			debug.SetMemoryLimit(n)
		}
	}
}
