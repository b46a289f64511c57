package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"netsim/internal/cli"
)

// Command is `netsim scenario`: list the built-in scenarios and run one
// (by name or file) against the running stack or an in-process one.
func Command() *cobra.Command {
	root := &cobra.Command{
		Use:   "scenario",
		Short: "Rehearse a deploy, a canary or a crash under built-in load, and draw every request",
	}
	root.AddCommand(listCommand(), runCommand())
	return root
}

func listCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios, one line each",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scs, err := Builtins()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, sc := range scs {
				line := sc.Name
				for _, v := range sortedKeys(sc.Variants) {
					line += " [--" + v + "]"
				}
				fmt.Fprintf(w, "%-32s %s\n", line, firstSentence(sc.Description))
			}
			return nil
		},
	}
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

type runFlags struct {
	rate                     float64
	duration                 time.Duration
	noDrain, bad, standalone bool
	variant, out             string
	maxUnavailable, maxSurge int
	admin, token, front      string
	pool, envFile            string
	control, dnsAdmin        string
	resolver                 string
	peers                    []string
}

func runCommand() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run <name|file.yaml>",
		Short: "Run a scenario: load, steps, counts, expectations and a timeline page",
		Long: `Run a built-in scenario (see "scenario list") or a scenario file against the
running stack (make run), through lbd's admin API, or with --standalone
against an in-process stack of its own. A live line shows progress; at the
end come the counts, every expectation (the exit status is non-zero when one
fails) and the paths of the records (JSON Lines) and the timeline page.
--duration compresses or stretches the whole scenario, steps included.`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE:         func(cmd *cobra.Command, args []string) error { return f.run(cmd, args[0]) },
	}
	fl := cmd.Flags()
	fl.Float64Var(&f.rate, "rate", 0, "requests per second (default: the scenario's)")
	fl.DurationVar(&f.duration, "duration", 0, "load duration; the steps' times scale with it (default: the scenario's)")
	fl.BoolVar(&f.noDrain, "no-drain", false, "the no-drain variant: the deploy done wrong")
	fl.BoolVar(&f.bad, "bad", false, "the bad variant (canary: a v2 that fails)")
	fl.StringVar(&f.variant, "variant", "", "any variant the scenario file defines")
	fl.BoolVar(&f.standalone, "standalone", false, "start an in-process stack (webd backends + lbd on free loopback addresses) instead of using the running one")
	fl.StringVar(&f.out, "out", "var/scenarios", "directory for the records and the timeline")
	fl.IntVar(&f.maxUnavailable, "max-unavailable", -1, "rollouts: backends out at once (default: the scenario's)")
	fl.IntVar(&f.maxSurge, "max-surge", -1, "rollouts: extra new-version backends while rolling (default: the scenario's)")
	fl.StringVar(&f.admin, "lbd-admin", "http://127.0.0.1:8404", "running stack: lbd's admin API")
	fl.StringVar(&f.token, "lbd-token", "", "running stack: lbd's admin token (default: $LBD_TOKEN, else LBD_TOKEN in --env-file)")
	fl.StringVar(&f.front, "frontend", "http://127.0.0.1:8080/", "running stack: where the load goes when the scenario names no target")
	fl.StringVar(&f.pool, "pool", "web", "running stack: lbd's pool")
	fl.StringVar(&f.envFile, "env-file", "var/netsim.env", "running stack: the tokens (LBD_TOKEN, DNSD_TOKEN, NETSIM_CONTROL_TOKEN; the environment wins)")
	fl.StringVar(&f.control, "control", "http://127.0.0.1:8000", "running stack: netsim's control API (stop, kill, start a part)")
	fl.StringVar(&f.dnsAdmin, "dns-admin", "http://127.0.0.1:9153", "running stack: dnsd's admin API (records, cache, resolver knobs, metrics)")
	fl.StringVar(&f.resolver, "resolver", "127.0.0.1:1053", "running stack: the recursive resolver")
	fl.StringSliceVar(&f.peers, "regional-lbd-admins", []string{"http://127.0.10.1:8404", "http://127.0.20.1:8404", "http://127.0.30.1:8404"},
		"running stack: the other lbds fronting the same backends; backend actions apply on them too")
	return cmd
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (f *runFlags) run(cmd *cobra.Command, name string) error {
	sc, err := Open(name)
	if err != nil {
		return err
	}
	variant := f.variant
	for flag, v := range map[string]bool{"no-drain": f.noDrain, "bad": f.bad} {
		if v {
			if variant != "" && variant != flag {
				return fmt.Errorf("choose one variant: --%s and --%s", variant, flag)
			}
			variant = flag
		}
	}
	vsc, err := sc.WithVariant(variant) // what runs: its name and description head the output
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := cmd.OutOrStdout()

	var st Stack
	if f.standalone {
		if need := needsRunningStack(vsc); need != "" {
			return fmt.Errorf("scenario %s %s, which --standalone does not run: start the stack (make run) and run it without --standalone", vsc.Name, need)
		}
		s, err := StartStandalone(ctx, sc.Stack, nil)
		if err != nil {
			return err
		}
		st = s
		fmt.Fprintf(w, "standalone stack: lbd %s (admin %s), backends %d\n", s.Frontend(), s.Admin, len(sc.Stack.Backends))
	} else {
		if err := refuseBreak(filepath.Join(filepath.Dir(f.envFile), "break.json")); err != nil {
			return err
		}
		unlock, err := lock(filepath.Join(filepath.Dir(f.envFile), "scenario.lock"))
		if err != nil {
			return err
		}
		defer unlock()
		tok := tokens(f.envFile)
		token := f.token
		if token == "" {
			token = tok.LBD
		}
		peers := make([]string, len(f.peers))
		for i, p := range f.peers {
			peers[i] = trimURL(p)
		}
		st = &Netsim{
			LBD:     &LBD{Admin: trimURL(f.admin), Token: token, Pool: f.pool, Front: f.front},
			Control: trimURL(f.control), ControlToken: tok.Control,
			DNSAdmin: trimURL(f.dnsAdmin), DNSToken: tok.DNSD,
			Peers: peers, Resolver: f.resolver,
		}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		interrupted := ctx.Err() != nil && !f.standalone
		if interrupted {
			fmt.Fprintln(w, "interrupted: putting the stack back as it was found…")
		}
		if err := st.Close(cctx); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "scenario:", err)
		} else if interrupted {
			fmt.Fprintln(w, "the stack is back as it was found")
		}
	}()
	fmt.Fprintf(w, "%s: %s\n", vsc.Name, vsc.Description)
	res, err := Run(ctx, sc, st, Options{Variant: variant, Rate: f.rate, Duration: f.duration,
		MaxUnavailable: f.maxUnavailable, MaxSurge: f.maxSurge, Progress: w, TTY: isTTY(w)})
	if err != nil {
		return err
	}
	res.Summary(w)
	paths, err := Save(res, f.out)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintf(w, "  %s\n", p)
	}
	if !res.Passed() {
		n := 0
		for _, o := range res.Outcomes {
			if !o.Pass {
				n++
			}
		}
		if res.StepErr != nil {
			return fmt.Errorf("scenario %s failed: %v (%d expectation(s) failed)", res.Scenario.Name, res.StepErr, n)
		}
		return fmt.Errorf("scenario %s failed: %d expectation(s) failed", res.Scenario.Name, n)
	}
	return nil
}

// refuseBreak refuses to run while `netsim break` has faults active: it
// keeps them in path (var/break.json) until `netsim fix`.
func refuseBreak(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("a `netsim break` is active (%s lists its faults): a scenario on a broken stack measures the break, not the scenario; run `netsim fix` first", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checking for an active break (%s): %w", path, err)
	}
	return nil
}

// needsRunningStack says what of the running stack a scenario needs
// (dnsd, the regional lbds), or "" when --standalone can run it.
func needsRunningStack(sc *Scenario) string {
	if len(sc.Watch) > 0 || sc.Load.Resolver != "" {
		return "resolves names through dnsd's resolver"
	}
	var need string
	var walk func([]Step)
	walk = func(steps []Step) {
		for _, s := range steps {
			switch s.Action {
			case ActStopRegion, ActStartRegion:
				need = "stops and starts a regional lbd"
			case ActDNS, ActFlushCache, ActResolver, ActHerd:
				need = "needs dnsd (" + string(s.Action) + ")"
			}
			if s.Analyze != nil {
				walk(s.Analyze.Rollback)
			}
		}
	}
	walk(sc.Setup)
	walk(sc.Steps)
	return need
}

// lock refuses a second scenario against the same running stack.
func lock(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	for range 2 {
		fd, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(fd, "%d\n", os.Getpid())
			fd.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		b, _ := os.ReadFile(path)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			return nil, fmt.Errorf("another scenario (pid %d) is running against this stack (%s); wait for it or stop it", pid, path)
		}
		os.Remove(path) // left by a scenario that died
	}
	return nil, fmt.Errorf("could not take the scenario lock %s", path)
}

// Save writes the records (JSON Lines), the timeline page and its SVG
// under dir and returns their paths.
func Save(res *Result, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, strings.ReplaceAll(strings.ReplaceAll(res.Scenario.Name, " --", "-"), " ", "-")+"-"+res.Start.Format("20060102-150405"))
	rf, err := os.Create(base + ".jsonl")
	if err != nil {
		return nil, err
	}
	if err := WriteJSONL(rf, res.Records); err != nil {
		rf.Close()
		return nil, err
	}
	if err := rf.Close(); err != nil {
		return nil, err
	}
	svg := Timeline(res)
	if err := os.WriteFile(base+".svg", svg, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(base+".html", TimelinePage(res, svg), 0o644); err != nil {
		return nil, err
	}
	return []string{"records:  " + base + ".jsonl", "timeline: " + base + ".html", "svg:      " + base + ".svg"}, nil
}
