package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"netsim/internal/instance"
	"netsim/internal/testutil"
)

// TestSecondInstanceTouchesNothing covers issue 9 defect 13: a second
// netsim in the same directory re-issued the running one's certificate and
// left a GeoIP database behind before failing. Now it stops at the lock,
// before loading or writing anything, and says which process runs.
func TestSecondInstanceTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	first, err := instance.TakeLock(varDir)
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
	first.Unlock() // the lock itself (taken again after Unlock): internal/instance's TestLock
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

// TestSubcommandArgs: the subcommands that take no argument say which one
// they did not expect (before they touch a running netsim).
func TestSubcommandArgs(t *testing.T) {
	testutil.Commands(t, newRoot, []testutil.CommandCase{
		{Name: "fix", Args: []string{"fix", "extra"}, Err: `fix: unexpected argument "extra"`},
		{Name: "break --list", Args: []string{"break", "--list", "cname-loop"}, Err: `break: unexpected argument "cname-loop"`},
		{Name: "break needs a fault", Args: []string{"break"}, Err: "accepts 1 arg"},
		{Name: "scenario list", Args: []string{"scenario", "list", "extra"}, Err: `list: unexpected argument "extra"`},
		{Name: "check", Args: []string{"check", "extra"}, Err: `check: unexpected argument "extra"`},
	})
}
