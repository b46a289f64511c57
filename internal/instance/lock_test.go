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
