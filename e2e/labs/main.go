// Command labs runs the commands of the lab guides (docs/labs/*.md) against
// a running netsim and checks their output: every "$ " line of a block
// marked console, followed by the lines its output must contain ("…" for
// anything between). Blocks marked text or sh are not run. e2e/labs.sh
// starts netsim and runs this; it exits 1 when a command fails.
//
//	go run ./e2e/labs --dir /tmp/work docs/labs/*.md
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("labs", flag.ContinueOnError)
	dir := fs.String("dir", ".", "working directory of the commands (where netsim's var/ is)")
	timeout := fs.Duration("timeout", 30*time.Second, "per-command limit (a block may set its own: ```console timeout=60s)")
	tail := fs.Int("tail", 25, "output lines shown under a failed command")
	parseOnly := fs.Bool("parse", false, "only parse the guides and list their commands")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: labs [--dir DIR] [--timeout D] [--parse] GUIDE.md...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var all []Command
	for _, f := range fs.Args() {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "labs:", err)
			return 2
		}
		cmds, err := Parse(f, fh)
		fh.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "labs:", err)
			return 2
		}
		all = append(all, cmds...)
	}
	if *parseOnly {
		for _, c := range all {
			fmt.Printf("%s:%d $ %s (%d runs expected)\n", c.File, c.Line, c.Text, len(c.Want))
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := &Runner{Dir: *dir, Timeout: *timeout, Out: os.Stdout, Tail: *tail}
	defer r.Cleanup()
	pass, fail := 0, 0
	for _, c := range all {
		if ctx.Err() != nil {
			break
		}
		res := r.Run(ctx, c)
		r.Report(c, res)
		if res.Err != nil {
			fail++
		} else {
			pass++
		}
	}
	fmt.Printf("\nlabs: %d commands passed, %d failed\n", pass, fail)
	if fail > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}
