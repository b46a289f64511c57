package main

import (
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		out  string // output substring on success
		err  string // error substring; "" = success
	}{
		{"help lists subcommands and flags", []string{"--help"}, "check", ""},
		{"help lists trace", []string{"--help"}, "trace", ""},
		{"help shows -c", []string{"--help"}, "-c, --config", ""},
		{"check the embedded config", []string{"check"}, "config OK", ""},
		{"check -c", []string{"check", "-c", "../../configs/dnsd.yaml"}, "config OK", ""},
		{"check --config", []string{"check", "--config", "../../configs/dnsd.yaml"}, "config OK", ""},
		{"bad log level names the value", []string{"check", "--log-level", "loud"}, "", `"loud"`},
		{"dotted flag name still works", []string{"check", "--log.level", "loud"}, "", `"loud"`},
		{"stray argument", []string{"nonsense"}, "", "unknown command"},
		{"trace needs a name", []string{"trace"}, "", "arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			root := newRoot()
			root.SetOut(&out)
			root.SetArgs(tt.args)
			err := root.Execute()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("dnsd %q = %v", tt.args, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("dnsd %q = %v, want an error containing %q", tt.args, err, tt.err)
			case !strings.Contains(out.String(), tt.out):
				t.Fatalf("dnsd %q printed %q, want %q", tt.args, out.String(), tt.out)
			}
		})
	}
}
