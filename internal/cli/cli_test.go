package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
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
	var ran bool
	var bad error
	newRoot := func(withCheck bool) *cobra.Command {
		root := Root("demo", "a demo", func(*cobra.Command) error { ran = true; return nil })
		if withCheck {
			root.AddCommand(Check("check the demo", func(*cobra.Command) error { return bad }))
		}
		return root
	}
	for _, tc := range []struct {
		name      string
		withCheck bool
		args      []string
		bad       error
		out, err  string // "" err: success
		ran       bool
	}{
		{"root runs", true, nil, nil, "", "", true},
		{"stray argument to a root with subcommands", true, []string{"serve"}, nil, "", `unknown command "serve"`, false},
		{"stray argument to a root without", false, []string{"serve"}, nil, "", `unexpected argument "serve"`, false},
		{"stray argument to a subcommand", true, []string{"check", "x"}, nil, "", `check: unexpected argument "x"`, false},
		{"check passes", true, []string{"check"}, nil, "config OK\n", "", false},
		{"check fails", true, []string{"check"}, errors.New("bad key"), "", "bad key", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran, bad = false, tc.bad
			root := newRoot(tc.withCheck)
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tc.args)
			err := root.Execute()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("demo %q = %v", tc.args, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("demo %q = %v, want an error containing %q", tc.args, err, tc.err)
			case out.String() != tc.out:
				t.Fatalf("demo %q printed %q, want %q", tc.args, out.String(), tc.out)
			case ran != tc.ran:
				t.Fatalf("demo %q: root ran %v, want %v", tc.args, ran, tc.ran)
			}
		})
	}
}
