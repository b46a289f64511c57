// Command lbd is the L7 HTTP load balancer. It only wires things up: flags,
// config, logger, signals. Everything else is in package netsim/lb.
//
//	lbd                          # embedded default: pool web over 127.0.0.1:9001-9003, :8080, admin :8404
//	lbd -c configs/lbd.yaml      # a config file; LBD_* env and flags override scalar keys
//	lbd check -c my.yaml         # validate and exit (the old --check still works)
//	lbd cert [--dir var/pki] [--names a,b]  # make (or reuse) the demo CA and certificates, print how to trust them
//
// SIGHUP reloads the config file (a bad one is refused and the old config
// keeps serving); SIGTERM or SIGINT drains in-flight requests and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"netsim/internal/cli"
	"netsim/lb"
)

func main() { cli.Main(newRoot(os.Stdout)) }

// newRoot is the lbd command and its subcommands; out is where check and
// cert print.
func newRoot(out io.Writer) *cobra.Command {
	var checkFlag bool
	check := cli.Check("load and validate the config, print problems, and exit", func(cmd *cobra.Command) error {
		_, err := lb.LoadConfigFlags(configPath(cmd), cmd.Flags())
		return err
	})
	root := cli.Root("lbd", "L4/L7 load balancer (SIGHUP reloads the config, SIGTERM drains and exits)", func(cmd *cobra.Command) error {
		if checkFlag {
			return check.RunE(cmd, nil)
		}
		return serve(cmd)
	})
	root.Long = "lbd is the L4/L7 load balancer. Without a subcommand it serves; flags override\n" +
		"the config file's keys, which override the embedded default (LBD_* env in between)."
	root.SetOut(out)
	// --log-level and --log.level are one flag (and lb looks keys up as
	// "log.level"): cli.Root reads "." and "_" in a flag name as "-".
	pf := root.PersistentFlags()
	pf.StringP("config", "c", "", "YAML config file (default: the embedded default config)")
	pf.String("log-level", "", "debug, info, warn or error (log.level)")
	pf.String("log-format", "", "console or json (log.format)")
	pf.String("admin-listen", "", "admin API address (admin.listen)")
	pf.String("admin-token", "", "admin API bearer token (admin.token; env LBD_ADMIN_TOKEN)")
	pf.Bool("admin-pprof", false, "serve /debug/pprof on the admin listener (admin.pprof)")
	pf.Bool("access-log-enabled", false, "log every (sampled) request (access_log.enabled)")
	pf.Float64("access-log-sample-rate", 0, "fraction of requests logged, e.g. 0.01 (access_log.sample_rate)")
	pf.Int("runtime-gc-percent", 0, "GOGC for the process (runtime.gc_percent)")
	pf.String("runtime-memory-limit", "", "GOMEMLIMIT for the process, e.g. 512MiB (runtime.memory_limit)")
	root.Flags().BoolVar(&checkFlag, "check", false, "validate the config and exit")
	_ = root.Flags().MarkDeprecated("check", "use `lbd check`")
	root.AddCommand(check, certCommand(out))
	return root
}

func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	return p
}

func serve(cmd *cobra.Command) error {
	path, flags := configPath(cmd), cmd.Flags()
	cfg, err := lb.LoadConfigFlags(path, flags)
	if err != nil {
		return err
	}
	return cli.WithLogger(cfg.Log.Format, cfg.Log.Level, func(log *zap.Logger) error {
		applyRuntime(cfg.Runtime, log)
		srv, err := lb.New(cfg, log, nil)
		if err != nil {
			return err
		}
		if pki := srv.DemoPKI(); pki != nil {
			fmt.Fprint(os.Stderr, "\n", pki.HowToTrust(), "\n")
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		cli.ReloadOnHUP(ctx, log.With(zap.String("config", path)), func() error {
			next, err := lb.LoadConfigFlags(path, flags)
			if err != nil {
				return err
			}
			_ = srv.Reload(next) // logs its own outcome
			return nil
		})
		return srv.Run(ctx)
	})
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
