package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"netsim/internal/testutil"
)

// TestSecondInstanceTouchesNothing covers issue 9 defect 13: a second
// netsim in the same directory re-issued the running one's certificate and
// left a GeoIP database behind before failing. Now it stops at the lock,
// before loading or writing anything, and says which process runs.
func TestSecondInstanceTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	first, err := lockInstance(varDir)
	if err != nil {
		t.Fatal(err)
	}
	root := newRoot()
	root.SetArgs([]string{"--log-level", "error"})
	err = root.Execute()
	if err == nil || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second netsim: %v, want 'already running' with our pid", err)
	}
	ents, _ := os.ReadDir(varDir)
	if len(ents) != 1 || ents[0].Name() != "netsim.lock" {
		t.Errorf("second netsim wrote to var/: %v", ents)
	}
	first.Unlock()
	again, err := lockInstance(varDir)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	again.Unlock()
}

func TestProbeBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := ln.Addr().String()
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freeAddr := free.Addr().String()
	free.Close()
	defer ln.Close()
	if err := probeBusy([]endpoint{{"x", freeAddr}}); err != nil {
		t.Errorf("free address reported busy: %v", err)
	}
	err = probeBusy([]endpoint{{"x", freeAddr}, {"lbd admin", busy}})
	if err == nil || !strings.Contains(err.Error(), busy+" (lbd admin) already accepts connections") {
		t.Errorf("busy address: %v", err)
	}
}

func TestWriteEnv(t *testing.T) {
	dir := t.TempDir()
	p, err := writeEnv(dir, "d0", "it's", "c0")
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "netsim.env") {
		t.Errorf("path %s", p)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), `export DNSD_TOKEN=d0 LBD_TOKEN='it'\''s' NETSIM_CONTROL_TOKEN=c0`+"\n") {
		t.Errorf("env file:\n%s", b)
	}
	// a second write replaces the file and keeps the mode
	if _, err := writeEnv(dir, "d1", "l1", "c1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "DNSD_TOKEN=d1 LBD_TOKEN=l1") {
		t.Errorf("rewritten env file:\n%s", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestClassroomToken(t *testing.T) {
	t.Setenv("NETSIM_TOKEN", "class-2026")
	dnsd, lbd := "", "from-config"
	if err := classroomToken(&dnsd, &lbd); err != nil || dnsd != "class-2026" || lbd != "from-config" {
		t.Errorf("got %q %q, %v; want the class token where none was configured", dnsd, lbd, err)
	}
	t.Setenv("NETSIM_TOKEN", "")
	empty := ""
	if err := classroomToken(&empty); err != nil || empty != "" {
		t.Errorf("unset NETSIM_TOKEN: %q, %v", empty, err)
	}
	t.Setenv("NETSIM_TOKEN", "two words")
	if err := classroomToken(&empty); err == nil || !strings.Contains(err.Error(), `"two words"`) {
		t.Errorf("a token with a space: %v", err)
	}
}

func TestHelpListsCheck(t *testing.T) {
	var out strings.Builder
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "--help", out.String(), "check", "--log-level", "--dns-config", "--lb-config", "NETSIM_TOKEN")
}
