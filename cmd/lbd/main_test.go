package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"netsim/internal/testutil"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pools: [{name: web, policy: fastest}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Commands(t, func() *cobra.Command { return newRoot(io.Discard) }, []testutil.CommandCase{
		{Name: "embedded default", Args: []string{"check"}, Out: "config OK"},
		{Name: "old --check flag", Args: []string{"--check"}, Out: "config OK"},
		{Name: "example config", Args: []string{"check", "-c", "../../configs/lbd.yaml"}, Out: "config OK"},
		{Name: "example config, old order", Args: []string{"-c", "../../configs/lbd.yaml", "--check"}, Out: "config OK"},
		{Name: "long config flag", Args: []string{"check", "--config", "../../configs/lbd.yaml"}, Out: "config OK"},
		{Name: "bad policy", Args: []string{"check", "-c", bad}, Err: `pools[0].policy: "fastest"`},
		{Name: "missing file", Args: []string{"check", "-c", filepath.Join(dir, "nope.yaml")}, Err: "no such file"},
		{Name: "bad flag value", Args: []string{"check", "--log-level", "loud"}, Err: "loud"},
		{Name: "old flag name still works", Args: []string{"--check", "--log.level", "loud"}, Err: "loud"},
		{Name: "old underscore flag name", Args: []string{"check", "--access_log.sample_rate", "2"}, Err: "sample_rate"},
		{Name: "new underscore flag name", Args: []string{"check", "--access-log-sample-rate", "2"}, Err: "sample_rate"},
		{Name: "unknown flag", Args: []string{"--frobnicate"}, Err: "unknown flag"},
		{Name: "stray argument", Args: []string{"serve"}, Err: "unknown command"},
	})
}

func TestCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	tests := []struct {
		name string
		args []string
		want string // output (or error) substring
		err  bool
	}{
		{"creates", []string{"--dir", dir}, "Created a new CA", false},
		{"reuses", []string{"--dir", dir}, "nothing written", false},
		{"new names, same CA", []string{"--dir", dir, "--names", "www.example.test,127.0.0.1"}, "Issued new certificates from the existing CA", false},
		{"stray argument", []string{"--dir", dir, "extra"}, `unexpected argument "extra"`, true},
		{"empty names", []string{"--dir", dir, "--names", ","}, "--names is empty", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			root := newRoot(&out)
			root.SetArgs(append([]string{"cert"}, tt.args...))
			err := root.Execute()
			got := out.String()
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tt.err || !strings.Contains(got, tt.want) {
				t.Fatalf("lbd cert %q = %v, output %q; want %q", tt.args, err, out.String(), tt.want)
			}
			if !tt.err && !strings.Contains(got, "--cacert "+filepath.Join(dir, "ca.pem")) {
				t.Fatalf("output does not say how to trust the CA: %q", got)
			}
		})
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestHelpListsSubcommands(t *testing.T) {
	var out strings.Builder
	root := newRoot(io.Discard)
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "--help", out.String(), "check", "cert", "--config", "-c,", "--log-level")
}
