package instance

import (
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var")
	first, err := TakeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = TakeLock(dir)
	if err == nil || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want 'already running' with our pid", err)
	}
	first.Unlock()
	again, err := TakeLock(dir)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	again.Unlock()
}

// TestHangUp: SIGHUP goes to the pid in a held lock, and to nobody when
// no netsim holds it or it names no pid.
func TestHangUp(t *testing.T) {
	dir := t.TempDir()
	if err := HangUp(dir); err == nil || !strings.Contains(err.Error(), "netsim not running") {
		t.Errorf("no lock file: %v, want 'netsim not running'", err)
	}
	lock := filepath.Join(dir, lockName)
	if err := os.WriteFile(lock, []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := HangUp(dir); err == nil || !strings.Contains(err.Error(), "no netsim holds") {
		t.Errorf("a lock nobody holds: %v, want 'no netsim holds'", err)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	l, err := TakeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := HangUp(dir); err != nil {
		t.Fatalf("HangUp with the lock held by this process: %v", err)
	}
	select {
	case <-hup:
	case <-time.After(10 * time.Second):
		t.Fatal("no SIGHUP reached the lock's holder")
	}
	if err := os.WriteFile(lock, []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := HangUp(dir); err == nil || !strings.Contains(err.Error(), `"not a pid"`) {
		t.Errorf("a held lock without a pid: %v", err)
	}
	l.Unlock()
}

// TestEnvRoundTrip: what WriteEnv writes (mode 0600, replaced in one
// step, quoted for sh) ReadTokens reads back; the environment wins.
func TestEnvRoundTrip(t *testing.T) {
	for _, n := range []string{"DNSD_TOKEN", "LBD_TOKEN", "NETSIM_CONTROL_TOKEN"} {
		t.Setenv(n, "")
	}
	dir := t.TempDir()
	p, err := WriteEnv(dir, Tokens{DNSD: "d0", LBD: "it's", Control: "c0"})
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
	if got, err := ReadTokens(p); err != nil || got != (Tokens{DNSD: "d0", LBD: "it's", Control: "c0"}) {
		t.Errorf("ReadTokens = %+v, %v; want what was written", got, err)
	}
	t.Setenv("LBD_TOKEN", "fromenv")
	if got, err := ReadTokens(p); err != nil || got != (Tokens{DNSD: "d0", LBD: "fromenv", Control: "c0"}) {
		t.Errorf("ReadTokens = %+v, %v; want LBD_TOKEN from the environment", got, err)
	}
	// a second write replaces the file and keeps the mode
	if _, err := WriteEnv(dir, Tokens{DNSD: "d1", LBD: "l1", Control: "c1"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "DNSD_TOKEN=d1 LBD_TOKEN=l1") {
		t.Errorf("rewritten env file:\n%s", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestReadTokens(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "netsim.env")
	if err := os.WriteFile(f, []byte("# by hand\nDNSD_TOKEN=abc\nexport LBD_TOKEN=\"s3cret\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"DNSD_TOKEN", "LBD_TOKEN", "NETSIM_CONTROL_TOKEN"} {
		t.Setenv(n, "")
	}
	if got, err := ReadTokens(f); err != nil || got != (Tokens{DNSD: "abc", LBD: "s3cret"}) {
		t.Errorf("one assignment a line: %+v, %v", got, err)
	}
	if _, err := ReadTokens(filepath.Join(dir, "nope.env")); err == nil {
		t.Error("a missing file: no error")
	}
	t.Setenv("DNSD_TOKEN", "d")
	t.Setenv("LBD_TOKEN", "l")
	t.Setenv("NETSIM_CONTROL_TOKEN", "c")
	if got, err := ReadTokens(filepath.Join(dir, "nope.env")); err != nil || got != (Tokens{"d", "l", "c"}) {
		t.Errorf("every token in the environment: %+v, %v; want them, the file unread", got, err)
	}
}
