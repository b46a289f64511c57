package labs

import (
	"fmt"
	"net"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"netsim/internal/cli"
	"netsim/internal/instance"
	"netsim/internal/sim"
	nstls "netsim/tls"
)

// Commands are `netsim break` and `netsim fix`.
func Commands() []*cobra.Command {
	var list bool
	brk := &cobra.Command{
		Use:   "break NAME",
		Short: "make a real fault in the running netsim (netsim break --list: which, and what each teaches)",
		Long: "break makes a misconfiguration in the netsim running from this directory, through\n" +
			"the same admin APIs, control API, web server knobs and files an operator would use,\n" +
			"and records it in var/break.json. `netsim fix` undoes every fault made.",
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cli.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				for _, f := range Faults() {
					fmt.Fprintf(w, "%s\t%s\n", f.Name, f.Teaches)
				}
				return w.Flush()
			}
			e, err := commandEnv(cmd)
			if err != nil {
				return err
			}
			return Break(cmd.Context(), e, args[0])
		},
	}
	brk.Flags().BoolVar(&list, "list", false, "list the faults, one a line: name and what it teaches")
	fix := &cobra.Command{
		Use:   "fix",
		Short: "undo every fault `netsim break` made, newest first, and flush the resolver cache where they left answers",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := commandEnv(cmd)
			if err != nil {
				return err
			}
			return Fix(cmd.Context(), e)
		},
	}
	return []*cobra.Command{brk, fix}
}

// commandEnv is DefaultEnv printing to cmd's output.
func commandEnv(cmd *cobra.Command) (*Env, error) {
	e, err := DefaultEnv()
	if err != nil {
		return nil, err
	}
	e.Out = cmd.OutOrStdout()
	return e, nil
}

// DefaultEnv is the netsim of `make run` in this directory: the default
// addresses, the tokens from the environment or var/netsim.env, and
// SIGHUP to the pid holding var/netsim.lock to re-read zone files.
func DefaultEnv() (*Env, error) {
	envFile := filepath.Join(instance.Dir, instance.EnvFile)
	tok, err := instance.ReadTokens(envFile)
	if err != nil {
		return nil, fmt.Errorf("no admin tokens: %s is missing (%w) and DNSD_TOKEN, LBD_TOKEN, NETSIM_CONTROL_TOKEN are not all set; is netsim running from this directory?", envFile, err)
	}
	e := &Env{
		DNSAdmin: "127.0.0.1:9153", DNSToken: tok.DNSD,
		Resolver: "127.0.0.1:1053",
		Control:  sim.DefaultControl, ControlTok: tok.Control,
		LBAdmins: map[string]string{"lbd": "127.0.0.1:8404"}, LBToken: tok.LBD,
		Webd:      map[string]string{},
		HTTPS:     "127.0.0.1:8443",
		PKIDir:    nstls.DefaultPKIDir,
		StateFile: filepath.Join(instance.Dir, "break.json"),
		Reload:    func() error { return instance.HangUp(instance.Dir) },
	}
	for _, r := range sim.Regions {
		e.LBAdmins["lbd-"+r.Name] = net.JoinHostPort(r.Addr, "8404")
	}
	for _, w := range sim.WebServers {
		e.Webd[w.Name] = w.Addr
	}
	return e, nil
}
