package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestRunner(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		cmd  Command
		err  string // "" = ok
	}{
		{"output matches", Command{Text: "echo 'b1 v1'", Want: []Run{{{2, "b1 v1"}}}}, ""},
		{"stderr counts as output", Command{Text: "echo oops >&2", Want: []Run{{{2, "oops"}}}}, ""},
		{"continuation lines run as one command", Command{Text: "echo a \\\nb", Want: []Run{{{2, "a b"}}}}, ""},
		{"runs in the given directory", Command{Text: "pwd", Want: []Run{{{2, dir}}}}, ""},
		{"wrong output", Command{Text: "echo b2", Want: []Run{{{9, "b1"}}}}, "g.md:9: expected a line containing \"b1\""},
		{"non-zero exit", Command{Text: "exit 3"}, "g.md:1: exit status 3"},
		{"timeout", Command{Text: "sleep 30", Timeout: 200 * time.Millisecond}, "g.md:1: timed out after 200ms"},
		{"a background process with the output open does not hold the runner", Command{Text: "sleep 30 & echo started", Want: []Run{{{2, "started"}}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := &Runner{Dir: dir, Timeout: 10 * time.Second, Out: &out, Tail: 5}
			defer r.Cleanup()
			tt.cmd.File, tt.cmd.Line = "g.md", 1
			res := r.Run(context.Background(), tt.cmd)
			r.Report(tt.cmd, res)
			switch {
			case tt.err == "" && res.Err != nil:
				t.Fatalf("Run: %v; report:\n%s", res.Err, out.String())
			case tt.err != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.err)):
				t.Fatalf("Run error = %v, want one containing %q", res.Err, tt.err)
			}
			prefix := "ok   - g.md:1 $ "
			if tt.err != "" {
				prefix = "FAIL - g.md:1 $ "
			}
			if !strings.HasPrefix(out.String(), prefix) {
				t.Errorf("report %q, want it to start %q", out.String(), prefix)
			}
		})
	}
}
