package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Runner runs guide commands with bash in Dir, each in a process group of
// its own, and reports ok or FAIL per command to Out.
type Runner struct {
	Dir     string        // working directory: where netsim's var/ is
	Timeout time.Duration // per command, unless its block says otherwise
	Out     io.Writer
	Tail    int // output lines shown under a FAIL

	groups []int // process groups started, for Cleanup
}

// Result of one command.
type Result struct {
	Output string
	Err    error // nil when the command exited 0 and printed what the guide says
}

// Run runs one command and checks its output.
func (r *Runner) Run(ctx context.Context, c Command) Result {
	limit := r.Timeout
	if c.Timeout > 0 {
		limit = c.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", c.Text)
	cmd.Dir = r.Dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// a command that leaves a process in the background with the output
	// still open must not hold the runner
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
		// a group still alive holds a background process (its id is not
		// reused while it has members): remember it for Cleanup
		if syscall.Kill(-cmd.Process.Pid, 0) == nil {
			r.groups = append(r.groups, cmd.Process.Pid)
		}
	}
	res := Result{Output: buf.String()}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.Err = fmt.Errorf("%s:%d: timed out after %s (a longer wait: ```console timeout=60s)", c.File, c.Line, limit)
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		res.Err = fmt.Errorf("%s:%d: %v", c.File, c.Line, err)
	default:
		res.Err = Check(c, res.Output)
	}
	return res
}

// Report prints one line for the command and, on failure, why and the end
// of its output.
func (r *Runner) Report(c Command, res Result) {
	first, _, more := strings.Cut(c.Text, "\n")
	if more {
		first += " …"
	}
	if res.Err == nil {
		fmt.Fprintf(r.Out, "ok   - %s:%d $ %s\n", c.File, c.Line, first)
		return
	}
	fmt.Fprintf(r.Out, "FAIL - %s:%d $ %s\n       %v\n", c.File, c.Line, first, res.Err)
	lines := strings.Split(strings.TrimRight(res.Output, "\n"), "\n")
	if len(lines) > r.Tail {
		fmt.Fprintf(r.Out, "       (output: last %d of %d lines)\n", r.Tail, len(lines))
		lines = lines[len(lines)-r.Tail:]
	}
	for _, l := range lines {
		fmt.Fprintf(r.Out, "     | %s\n", l)
	}
}

// Cleanup stops what commands left running in the background (a guide
// that failed before its own clean-up step): every process group the
// runner started that was still alive when its command ended gets SIGTERM.
func (r *Runner) Cleanup() {
	for _, g := range r.groups {
		_ = syscall.Kill(-g, syscall.SIGTERM)
	}
	r.groups = nil
}
