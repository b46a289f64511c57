package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"netsim/internal/testutil"
)

func TestRunNamesTheCommand(t *testing.T) {
	root := &cobra.Command{Use: "demo", SilenceErrors: true, SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error { return errors.New("boom") }}
	root.SetArgs(nil)
	var stderr bytes.Buffer
	if err := Run(root, &stderr); err == nil {
		t.Fatal("Run: nil error from a failing command")
	}
	if got := stderr.String(); got != "demo: boom\n" {
		t.Fatalf("stderr %q, want %q", got, "demo: boom\n")
	}
}

func TestDashesAndLogFlags(t *testing.T) {
	var format, level string
	root := &cobra.Command{Use: "demo", RunE: func(*cobra.Command, []string) error { return nil }}
	LogFlags(root.Flags(), &format, &level)
	Dashes(root)
	root.SetArgs([]string{"--log.level", "debug", "--log_format", "json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if format != "json" || level != "debug" {
		t.Fatalf("format %q level %q, want json and debug", format, level)
	}
}

func TestWithLogger(t *testing.T) {
	ran := false
	if err := WithLogger("console", "loud", func(*zap.Logger) error { ran = true; return nil }); err == nil || ran {
		t.Fatalf("bad level: err %v, fn ran %v; want an error and no run", err, ran)
	}
	want := errors.New("fn failed")
	if err := WithLogger("json", "error", func(log *zap.Logger) error { ran = log != nil; return want }); !errors.Is(err, want) || !ran {
		t.Fatalf("err %v, fn ran with a logger %v; want fn's error and a run", err, ran)
	}
}

func TestReloadOnHUP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int32
	ReloadOnHUP(ctx, zap.NewNop(), func() error { n.Add(1); return errors.New("bad config") })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "one reload", 10*time.Second, func() bool { return n.Load() == 1 })
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{" a, b ,,c, ", []string{"a", "b", "c"}},
	} {
		if got := List(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRootCheckNoArgs: a root and its check subcommand refuse stray
// arguments (a root with subcommands as an unknown command), check prints
// "config OK" only when its check passes, and the root runs its function.
func TestRootCheckNoArgs(t *testing.T) {
	newRoot := func(check func(*cobra.Command) error) func() *cobra.Command {
		return func() *cobra.Command {
			root := Root("demo", "a demo", func(cmd *cobra.Command) error {
				_, err := io.WriteString(cmd.OutOrStdout(), "demo ran\n")
				return err
			})
			if check != nil {
				root.AddCommand(Check("check the demo", check))
			}
			return root
		}
	}
	pass := func(*cobra.Command) error { return nil }
	testutil.Commands(t, newRoot(pass), []testutil.CommandCase{
		{Name: "root runs", Out: "demo ran"},
		{Name: "stray argument to a root with subcommands", Args: []string{"serve"}, Err: `unknown command "serve"`},
		{Name: "stray argument to a subcommand", Args: []string{"check", "x"}, Err: `check: unexpected argument "x"`},
		{Name: "check passes", Args: []string{"check"}, Out: "config OK"},
	})
	testutil.Commands(t, newRoot(nil), []testutil.CommandCase{
		{Name: "stray argument to a root without subcommands", Args: []string{"serve"}, Err: `unexpected argument "serve"`},
	})
	root := newRoot(func(*cobra.Command) error { return errors.New("bad key") })()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"check"})
	if err := root.Execute(); err == nil || err.Error() != "bad key" || out.Len() != 0 {
		t.Fatalf("a failing check: error %v, printed %q; want bad key and nothing printed", err, out.String())
	}
}
