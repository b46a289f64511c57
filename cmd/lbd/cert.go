package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"netsim/internal/cli"
	nstls "netsim/tls"
)

// certCommand is `lbd cert`: it makes sure a directory holds the demo CA, a
// server certificate for the demo names and a client certificate
// (tls.EnsureDemoPKI: reused when still valid for 30 days and covering the
// names), then prints how to trust it.
func certCommand(out io.Writer) *cobra.Command {
	var dir string
	var names []string
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "make (or reuse) the demo CA and certificates and print how to trust them",
		Args:  cli.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return cert(dir, names, out) },
	}
	cmd.Flags().StringVar(&dir, "dir", nstls.DefaultPKIDir, "directory for ca.pem, server.pem, client.pem and their keys")
	cmd.Flags().StringSliceVar(&names, "names", nstls.DefaultDemoNames, "names and IP addresses of the server certificate")
	return cmd
}

func cert(dir string, names []string, out io.Writer) error {
	var clean []string
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			clean = append(clean, n)
		}
	}
	if len(clean) == 0 {
		return fmt.Errorf("cert: --names is empty")
	}
	pki, err := nstls.EnsureDemoPKI(dir, clean)
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
