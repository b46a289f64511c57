package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pools: [{name: web, policy: fastest}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // error substring; "" = success
	}{
		{"embedded default", []string{"--check"}, ""},
		{"example config", []string{"-c", "../../configs/lbd.yaml", "--check"}, ""},
		{"bad policy", []string{"-c", bad, "--check"}, `pools[0].policy: "fastest"`},
		{"missing file", []string{"-c", filepath.Join(dir, "nope.yaml"), "--check"}, "no such file"},
		{"bad flag value", []string{"--check", "--log.level", "loud"}, "loud"},
		{"unknown flag", []string{"--frobnicate"}, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args)
			if tt.want == "" && err != nil {
				t.Fatalf("run(%q) = %v", tt.args, err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
