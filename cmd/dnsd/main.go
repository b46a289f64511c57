// Command dnsd is the DNS daemon: authoritative zones and a recursive
// resolver on as many loopback addresses as configured. All behaviour lives
// in netsim/dns/...; this file is wiring: flags, config, logger, signals.
package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/cli"
)

func main() { cli.Main(newRoot()) }

// newRoot is the dnsd command: serve by default, check and trace.
func newRoot() *cobra.Command {
	root := cli.Root("dnsd", "authoritative and recursive DNS server (SIGHUP reloads, SIGTERM stops)", serve)
	bindFlags(root)
	root.AddCommand(cli.Check("load the config and every zone, report problems, and exit", func(cmd *cobra.Command) error {
		cfg, err := dnsd.Load(configPath(cmd), cmd.Flags())
		if err != nil {
			return err
		}
		zs, err := cfg.LoadZones()
		if err != nil {
			return err
		}
		for _, z := range zs {
			fmt.Fprintf(cmd.OutOrStdout(), "zone %s: %d records, serial %d (%s)\n", z.Origin, z.Len(), z.SOA.Serial, z.File)
			for _, w := range z.Warnings {
				fmt.Fprintf(cmd.OutOrStdout(), "  warning: %s\n", w)
			}
		}
		return nil
	}))
	addTrace(root)
	return root
}

// bindFlags adds dnsd's flags (dnsd.BindFlags) to every command, with -c
// for --config as in lbd; cli.Root reads "." and "_" in a flag name as
// "-", so --log.level is --log-level.
func bindFlags(root *cobra.Command) {
	fs := pflag.NewFlagSet("dnsd", pflag.ContinueOnError)
	dnsd.BindFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" {
			f.Shorthand = "c"
		}
		root.PersistentFlags().AddFlag(f)
	})
}

func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	return p
}

func serve(cmd *cobra.Command) error {
	path := configPath(cmd)
	cfg, err := dnsd.Load(path, cmd.Flags())
	if err != nil {
		return err
	}
	return cli.WithLogger(cfg.Log.Format, cfg.Log.Level, func(log *zap.Logger) error {
		d, err := build(cfg, log)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		cli.ReloadOnHUP(ctx, log, func() error {
			next, err := dnsd.Load(path, cmd.Flags())
			if err != nil {
				return err
			}
			_ = d.Reload(next) // logs its own outcome
			return nil
		})
		go func() {
			select {
			case <-d.Ready():
				log.Info("admin API", zap.String("addr", "http://"+d.AdminAddr()), zap.String("token", tokenNote(cfg, d)))
			case <-ctx.Done():
			}
		}()
		return d.Run(ctx)
	})
}

func tokenNote(cfg dnsd.Config, d *dnsd.Daemon) string {
	if cfg.Admin.Token != "" {
		return "(from config)"
	}
	return d.Token()
}
