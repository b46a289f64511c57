// Package instance is what a running netsim leaves in its directory (Dir)
// for itself and for the commands that act on it (netsim break and fix,
// netsim scenario): the instance lock, which names the running process,
// and the env file with the admin tokens. Writer and readers live here
// together so the files have one format.
package instance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Dir holds what a running netsim leaves for the user and for tools: the
// lock, the tokens (netsim.env), root hints and the demo PKI.
const Dir = "var"

// lockName is the instance lock's file in the directory.
const lockName = "netsim.lock"

// Lock is dir/netsim.lock held with flock(2) for as long as netsim runs,
// the pid of its holder written in it: a second netsim in the same
// directory sees it before it touches anything (certificates, GeoIP
// database, env file). The kernel drops the lock when the process ends,
// however it ends.
type Lock struct{ f *os.File }

// TakeLock takes the lock, or says which process holds it.
func TakeLock(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("netsim is already running from this directory (pid %s holds %s): "+
				"use that one, or stop it first (Ctrl-C in its terminal, or kill %s); nothing was changed", pid, path, pid)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock. The file stays: removing it could let two
// processes lock two different files of the same name.
func (l *Lock) Unlock() {
	_ = l.f.Truncate(0)
	_ = l.f.Close()
}

// HangUp sends SIGHUP (re-read the configs and zone files) to the netsim
// that holds dir's lock. A lock nobody holds means no netsim runs there,
// and the pid in it is not trusted.
func HangUp(dir string) error {
	lockFile := filepath.Join(dir, lockName)
	f, err := os.Open(lockFile)
	if err != nil {
		return fmt.Errorf("%s: %w (netsim not running from this directory?)", lockFile, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return fmt.Errorf("no netsim holds %s: nothing to send SIGHUP to", lockFile)
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("checking %s: %w", lockFile, err)
	}
	b, err := os.ReadFile(lockFile)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s holds %q, not a pid", lockFile, strings.TrimSpace(string(b)))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to netsim (pid %d): %w", pid, err)
	}
	return nil
}
