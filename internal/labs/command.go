package labs

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"netsim/internal/sim"
	nstls "netsim/tls"
)

// varDir is netsim's directory of run-time files (cmd/netsim).
const varDir = "var"

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
				return cobra.NoArgs(cmd, args)
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
		Args:  cobra.NoArgs,
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
	tok, err := tokens(filepath.Join(varDir, "netsim.env"))
	if err != nil {
		return nil, err
	}
	e := &Env{
		DNSAdmin: "127.0.0.1:9153", DNSToken: tok["DNSD_TOKEN"],
		Resolver: "127.0.0.1:1053",
		Control:  sim.DefaultControl, ControlTok: tok["NETSIM_CONTROL_TOKEN"],
		LBAdmins: map[string]string{"lbd": "127.0.0.1:8404"}, LBToken: tok["LBD_TOKEN"],
		Webd:      map[string]string{},
		HTTPS:     "127.0.0.1:8443",
		PKIDir:    nstls.DefaultPKIDir,
		StateFile: filepath.Join(varDir, "break.json"),
		Reload:    func() error { return hangUp(filepath.Join(varDir, "netsim.lock")) },
	}
	for _, r := range sim.Regions {
		e.LBAdmins["lbd-"+r.Name] = net.JoinHostPort(r.Addr, "8404")
	}
	for _, w := range sim.WebServers {
		e.Webd[w.Name] = w.Addr
	}
	return e, nil
}

// tokens are DNSD_TOKEN, LBD_TOKEN and NETSIM_CONTROL_TOKEN from the
// environment, or else from the env file netsim writes.
func tokens(envFile string) (map[string]string, error) {
	names := []string{"DNSD_TOKEN", "LBD_TOKEN", "NETSIM_CONTROL_TOKEN"}
	out := map[string]string{}
	missing := false
	for _, n := range names {
		out[n] = os.Getenv(n)
		missing = missing || out[n] == ""
	}
	if !missing {
		return out, nil
	}
	f, err := os.Open(envFile)
	if err != nil {
		return nil, fmt.Errorf("no admin tokens: %s is missing (%w) and DNSD_TOKEN, LBD_TOKEN, NETSIM_CONTROL_TOKEN are not all set; is netsim running from this directory?", envFile, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' { // shellQuote's form (tokens have no spaces)
				v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
			}
			if cur, known := out[k]; known && cur == "" {
				out[k] = v
			}
		}
	}
	return out, sc.Err()
}

// hangUp sends SIGHUP to the netsim that holds lockFile. A lock nobody
// holds means no netsim runs there, and its pid is not trusted.
func hangUp(lockFile string) error {
	f, err := os.Open(lockFile)
	if err != nil {
		return fmt.Errorf("%s: %w (netsim not running from this directory?)", lockFile, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return fmt.Errorf("no netsim holds %s: nothing to send SIGHUP to", lockFile)
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("checking %s: %w", lockFile, err)
	}
	b, err := os.ReadFile(lockFile)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s holds %q, not a pid", lockFile, strings.TrimSpace(string(b)))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to netsim (pid %d): %w", pid, err)
	}
	return nil
}
