// Command dnsd is the DNS daemon: authoritative zones and a recursive
// resolver on as many loopback addresses as configured. All behaviour lives
// in netsim/dns/...; this file is wiring: flags, config, logger, signals.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/logging"
)

func main() {
	root := &cobra.Command{
		Use:           "dnsd",
		Short:         "authoritative and recursive DNS server",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          serve,
	}
	dnsd.BindFlags(root.PersistentFlags())
	root.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "load the config and every zone, report problems, and exit",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := dnsd.Load(configPath(cmd), cmd.Flags())
			if err != nil {
				return err
			}
			zs, err := cfg.LoadZones()
			if err != nil {
				return err
			}
			for _, z := range zs {
				fmt.Printf("zone %s: %d records, serial %d (%s)\n", z.Origin, z.Len(), z.SOA.Serial, z.File)
				for _, w := range z.Warnings {
					fmt.Printf("  warning: %s\n", w)
				}
			}
			fmt.Println("config OK")
			return nil
		},
	})
	addTrace(root)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "dnsd:", err)
		os.Exit(1)
	}
}

func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	return p
}

func serve(cmd *cobra.Command, _ []string) error {
	path := configPath(cmd)
	cfg, err := dnsd.Load(path, cmd.Flags())
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	d, err := build(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			next, err := dnsd.Load(path, cmd.Flags())
			if err != nil {
				log.Error("reload refused; the old config keeps serving", zap.Error(err))
				continue
			}
			_ = d.Reload(next)
		}
	}()
	go func() {
		select {
		case <-d.Ready():
			log.Info("admin API", zap.String("addr", "http://"+d.AdminAddr()), zap.String("token", tokenNote(cfg, d)))
		case <-ctx.Done():
		}
	}()
	return d.Run(ctx)
}

func tokenNote(cfg dnsd.Config, d *dnsd.Daemon) string {
	if cfg.Admin.Token != "" {
		return "(from config)"
	}
	return d.Token()
}
