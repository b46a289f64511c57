package main

import (
	"testing"

	"netsim/internal/testutil"
)

func TestCommandLine(t *testing.T) {
	testutil.Commands(t, newRoot, []testutil.CommandCase{
		{Name: "help lists subcommands and flags", Args: []string{"--help"}, Out: "check"},
		{Name: "help lists trace", Args: []string{"--help"}, Out: "trace"},
		{Name: "help shows -c", Args: []string{"--help"}, Out: "-c, --config"},
		{Name: "check the embedded config", Args: []string{"check"}, Out: "config OK"},
		{Name: "check -c", Args: []string{"check", "-c", "../../configs/dnsd.yaml"}, Out: "config OK"},
		{Name: "check --config", Args: []string{"check", "--config", "../../configs/dnsd.yaml"}, Out: "config OK"},
		{Name: "bad log level names the value", Args: []string{"check", "--log-level", "loud"}, Err: `"loud"`},
		{Name: "dotted flag name still works", Args: []string{"check", "--log.level", "loud"}, Err: `"loud"`},
		{Name: "stray argument", Args: []string{"nonsense"}, Err: "unknown command"},
		{Name: "trace needs a name", Args: []string{"trace"}, Err: "arg"},
	})
}
