package benchtool

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var got string
	newFS := func() (*flag.FlagSet, *string) {
		fs := flag.NewFlagSet("tool", flag.ContinueOnError)
		return fs, fs.String("x", "def", "")
	}
	cases := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		wantSeen string
	}{
		{"no mode", nil, 2, "usage: tool fail|ok [flags]\n", ""},
		{"unknown mode", []string{"nope"}, 2, "usage: tool fail|ok [flags]\n", ""},
		{"ok with a flag", []string{"ok", "-x", "y"}, 0, "", "y"},
		{"failing mode", []string{"fail"}, 1, "tool: broken\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got = ""
			fs, x := newFS()
			modes := map[string]func(context.Context) error{
				"ok":   func(context.Context) error { got = *x; return nil },
				"fail": func(context.Context) error { return errors.New("broken") },
			}
			var stderr bytes.Buffer
			if code := run(fs, modes, tc.args, &stderr); code != tc.code || stderr.String() != tc.stderr || got != tc.wantSeen {
				t.Fatalf("code %d stderr %q flag %q; want %d %q %q", code, stderr.String(), got, tc.code, tc.stderr, tc.wantSeen)
			}
		})
	}
}

func TestLoop(t *testing.T) {
	var n atomic.Int64
	boom := errors.New("every third fails")
	r := Loop(4, 200*time.Millisecond, func() error {
		if n.Add(1)%3 == 0 {
			return boom
		}
		return nil
	})
	if r.OK+r.Failed != n.Load() || r.OK == 0 || r.Failed == 0 || !errors.Is(r.First, boom) {
		t.Fatalf("result %+v after %d calls", r, n.Load())
	}
	if line := r.Line("conns"); !strings.HasPrefix(line, "conns ") || !strings.Contains(line, " per_second ") {
		t.Fatalf("line %q", line)
	}
}
