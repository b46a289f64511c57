// Package cli is what the commands (dnsd, lbd, webd, netsim) share around
// their cobra roots: running the root, one flag-name style, the log flags,
// the logger's lifetime and SIGHUP reloads. Behaviour stays in packages;
// this is wiring.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/internal/logging"
)

// Main runs root with the process's arguments and exits 1, with
// "name: error" on stderr, when it fails.
func Main(root *cobra.Command) {
	if err := Run(root, os.Stderr); err != nil {
		os.Exit(1)
	}
}

// Run executes root and writes a failure as "name: error" to stderr.
func Run(root *cobra.Command, stderr io.Writer) error {
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(stderr, root.Name()+":", err)
	}
	return err
}

// Root is a command's root as every netsim command has it: no positional
// argument (NoArgs), no usage and no error printed by cobra on a failure
// (Main prints "name: error" once), "." and "_" in flag names read as "-"
// (Dashes), and no completion command listed. run is what it does.
func Root(use, short string, run func(cmd *cobra.Command) error) *cobra.Command {
	root := &cobra.Command{
		Use:           use,
		Short:         short,
		Args:          NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	Dashes(root)
	return root
}

// NoArgs refuses positional arguments: a command with subcommands says
// "unknown command" (a misspelt subcommand, likely), one without says
// which argument it did not expect.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return cobra.NoArgs(cmd, args)
	}
	if cmd.HasParent() {
		return fmt.Errorf("%s: unexpected argument %q", cmd.Name(), args[0])
	}
	return fmt.Errorf("unexpected argument %q", args[0])
}

// Check is the `check` subcommand of a daemon: check loads and validates
// the configuration (and may print what it found); "config OK" follows
// when it passes.
func Check(short string, check func(cmd *cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: short,
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := check(cmd); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "config OK")
			return nil
		},
	}
}

// Dashes makes "." and "_" in a flag name read as "-" on root and all its
// subcommands, so --log.level and --log_level are --log-level.
func Dashes(root *cobra.Command) {
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.NewReplacer(".", "-", "_", "-").Replace(name))
	})
}

// List splits a comma-separated flag value, trims the spaces around each
// item and drops the empty ones ("a, b,," is [a b]).
func List(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// LogFlags adds --log-format (console) and --log-level (info) for commands
// without a config file's log section.
func LogFlags(fs *pflag.FlagSet, format, level *string) {
	fs.StringVar(format, "log-format", "console", "log format: console or json")
	fs.StringVar(level, "log-level", "info", "log level: debug, info, warn or error")
}

// WithLogger builds the logger (logging.New), runs fn with it and flushes
// it when fn returns.
func WithLogger(format, level string, fn func(*zap.Logger) error) error {
	log, err := logging.New(format, level)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return fn(log)
}

// ReloadOnHUP calls reload on every SIGHUP until ctx ends; it returns at
// once and its goroutine stops with ctx. A reload error is logged: the
// running configuration stays.
func ReloadOnHUP(ctx context.Context, log *zap.Logger, reload func() error) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading")
				if err := reload(); err != nil {
					log.Error("reload refused; the running configuration stays", zap.Error(err))
				}
			}
		}
	}()
}
