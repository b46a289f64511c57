// Command lbd is the L7 HTTP load balancer. It only wires things up: flags,
// config, logger, signals. Everything else is in package netsim/lb.
//
//	lbd                          # embedded default: pool web over 127.0.0.1:9001-9003, :8080, admin :8404
//	lbd -c configs/lbd.yaml      # a config file; LBD_* env and flags override scalar keys
//	lbd -c my.yaml --check       # validate and exit
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
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/internal/logging"
	"netsim/lb"
	nstls "netsim/tls"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lbd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "cert" {
		return cert(args[1:], os.Stdout)
	}
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
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage:\n  lbd [flags]        run the load balancer (SIGHUP reloads, SIGTERM drains)\n"+
			"  lbd cert [--dir var/pki] [--names a,b]   make or reuse the demo CA and certificates\n\nFlags:\n%s", fs.FlagUsages())
	}
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
	if pki := srv.DemoPKI(); pki != nil {
		fmt.Fprint(os.Stderr, "\n", pki.HowToTrust(), "\n")
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

// cert makes sure a directory holds the demo CA, a server certificate for
// the demo names and a client certificate (tls.EnsurePKI: reused when still
// valid for 30 days and covering the names), then prints how to trust it.
func cert(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("lbd cert", pflag.ContinueOnError)
	dir := fs.String("dir", nstls.DefaultPKIDir, "directory for ca.pem, server.pem, client.pem and their keys")
	names := fs.StringSlice("names", nstls.DefaultDemoNames, "names and IP addresses of the server certificate")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: lbd cert [--dir DIR] [--names a.example.test,*.example.test,127.0.0.1]\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cert: unexpected argument %q", fs.Arg(0))
	}
	var clean []string
	for _, n := range *names {
		if n = strings.TrimSpace(n); n != "" {
			clean = append(clean, n)
		}
	}
	if len(clean) == 0 {
		return fmt.Errorf("cert: --names is empty")
	}
	pki, err := nstls.EnsureDemoPKI(*dir, clean)
	if err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	switch {
	case pki.CreatedCA:
		fmt.Fprintf(out, "Created a new CA and certificates in %s.\n", pki.Dir)
	case pki.IssuedLeaf:
		fmt.Fprintf(out, "Issued new certificates from the existing CA in %s.\n", pki.Dir)
	default:
		fmt.Fprintf(out, "The certificates in %s are valid and cover the names; nothing written.\n", pki.Dir)
	}
	fmt.Fprint(out, pki.HowToTrust())
	return nil
}
