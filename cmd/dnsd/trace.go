package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/dns/resolver"
)

// addTrace adds `dnsd trace NAME [TYPE]`: a fresh iterative resolution from
// the configured root hints, every hop printed (server, zone, what it said,
// time) — what `dig +trace` cannot do on a hierarchy served on port 1053.
func addTrace(root *cobra.Command) {
	var asJSON bool
	var client string
	cmd := &cobra.Command{
		Use:   "trace NAME [TYPE]",
		Short: "resolve NAME from the root hints and print every hop (needs the hierarchy running: make run)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := dnsd.Load(configPath(cmd), cmd.Flags())
			if err != nil {
				return err
			}
			qtype := dns.TypeA
			if len(args) == 2 {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok {
					return fmt.Errorf("type %q is not a DNS record type (try A, AAAA, MX, NS, TXT)", args[1])
				}
				qtype = t
			}
			if a := cfg.Resolver.DNSSEC; a.Validate && a.TrustAnchorFile == "" {
				// validate as netsim's resolver does: from the anchor it wrote
				if _, err := os.Stat("var/root.key"); err == nil {
					cfg.Resolver.DNSSEC.TrustAnchorFile = "var/root.key"
				}
			}
			r, err := resolver.New(cfg.Resolver, zap.NewNop(), nil)
			if err != nil {
				return err
			}
			defer r.Close()
			var res *resolver.Resolution
			if client != "" {
				c, perr := netip.ParseAddr(client)
				if perr != nil {
					return fmt.Errorf("--client %q: not an IP address", client)
				}
				res, err = r.TraceFrom(context.Background(), args[0], qtype, c)
			} else {
				res, err = r.Trace(context.Background(), args[0], qtype)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if err := res.Format(os.Stdout); err != nil {
				return err
			}
			if res.Error != "" {
				return fmt.Errorf("resolution failed: %s", res.Error)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the resolution as JSON")
	cmd.Flags().StringVar(&client, "client", "", "resolve as if for this client address (its subnet goes upstream as EDNS Client Subnet), e.g. 127.0.10.5")
	root.AddCommand(cmd)
}
