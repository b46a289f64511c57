// Package benchtool is what the benchmark commands (lb/l4/l4bench,
// tls/tlsbench) share: a mode word and its flags on the command line, and
// closed-loop load from a fixed number of workers for a fixed time.
package benchtool

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Main runs the mode that os.Args[1] names with the flags after it parsed
// into fs (whose name is the command's), under a context that SIGINT and
// SIGTERM end. No mode or an unknown one prints the usage and exits 2; a
// mode's error is printed as "name: error" and exits 1.
func Main(fs *flag.FlagSet, modes map[string]func(context.Context) error) {
	os.Exit(run(fs, modes, os.Args[1:], os.Stderr))
}

// run is Main without the process: args are os.Args[1:]; it returns the
// exit code.
func run(fs *flag.FlagSet, modes map[string]func(context.Context) error, args []string, stderr io.Writer) int {
	names := slices.Sorted(func(yield func(string) bool) {
		for m := range modes {
			if !yield(m) {
				return
			}
		}
	})
	if len(args) < 1 || modes[args[0]] == nil {
		fmt.Fprintf(stderr, "usage: %s %s [flags]\n", fs.Name(), strings.Join(names, "|"))
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := modes[args[0]](ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return 1
	}
	return 0
}

// Result counts a Loop's attempts.
type Result struct {
	OK, Failed int64
	// First is the first failure's error (nil if none failed).
	First error
	// Took is the loop's duration.
	Took time.Duration
}

// Line is the result as the bench scripts read it:
// "<what> OK failed Failed per_second N".
func (r Result) Line(what string) string {
	return fmt.Sprintf("%s %d failed %d per_second %.0f", what, r.OK, r.Failed, float64(r.OK)/r.Took.Seconds())
}

// Loop runs conc workers that each call one again and again until d has
// passed, and counts the calls that returned nil and those that did not.
func Loop(conc int, d time.Duration, one func() error) Result {
	var ok, failed atomic.Int64
	var first sync.Once
	var firstErr error
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := one(); err != nil {
					failed.Add(1)
					first.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return Result{OK: ok.Load(), Failed: failed.Load(), First: firstErr, Took: d}
}
