package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// varDir holds what a running netsim leaves for the user and for tools:
// the lock, the tokens (netsim.env), root hints and the demo PKI.
const varDir = "var"

// instanceLock is var/netsim.lock held with flock(2) for as long as netsim
// runs: a second netsim in the same directory sees it before it touches
// anything (certificates, GeoIP database, env file). The kernel drops the
// lock when the process ends, however it ends.
type instanceLock struct{ f *os.File }

// lockInstance takes the lock, or says which process holds it.
func lockInstance(dir string) (*instanceLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "netsim.lock")
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
	return &instanceLock{f: f}, nil
}

// Unlock releases the lock. The file stays: removing it could let two
// processes lock two different files of the same name.
func (l *instanceLock) Unlock() {
	_ = l.f.Truncate(0)
	_ = l.f.Close()
}

// endpoint is an address netsim is about to listen on.
type endpoint struct{ what, addr string }

// probeBusy refuses to start when something already accepts TCP
// connections on one of the addresses: another netsim (from another
// directory) or a dnsd or lbd started by hand.
func probeBusy(eps []endpoint) error {
	for _, ep := range eps {
		c, err := net.DialTimeout("tcp", ep.addr, 300*time.Millisecond)
		if err != nil {
			continue
		}
		c.Close()
		return fmt.Errorf("%s (%s) already accepts connections: another netsim, dnsd or lbd is running; "+
			"stop it first (or give netsim other addresses with --dns-config/--lb-config); nothing was changed", ep.addr, ep.what)
	}
	return nil
}

// classroomToken sets each empty token to NETSIM_TOKEN when that is set:
// one fixed admin token for dnsd, every lbd and netsim's control API, so a class can use the same
// one all term. A token set in a config file stays.
func classroomToken(tokens ...*string) error {
	tok := os.Getenv("NETSIM_TOKEN")
	for _, r := range tok {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("NETSIM_TOKEN %q: a token must not contain spaces or control characters", tok)
		}
	}
	for _, t := range tokens {
		if *t == "" {
			*t = tok
		}
	}
	return nil
}

// writeEnv writes var/netsim.env (mode 0600: it holds the admin tokens)
// for `source var/netsim.env`, replacing it in one step.
func writeEnv(dir, dnsdToken, lbdToken, controlToken string) (string, error) {
	f, err := os.CreateTemp(dir, ".netsim.env-*")
	if err != nil {
		return "", err
	}
	body := fmt.Sprintf("# written by netsim (pid %d) at start; removed when it stops\n"+
		"export DNSD_TOKEN=%s LBD_TOKEN=%s NETSIM_CONTROL_TOKEN=%s\n",
		os.Getpid(), shellQuote(dnsdToken), shellQuote(lbdToken), shellQuote(controlToken))
	_, werr := f.WriteString(body)
	cerr := f.Close()
	path := filepath.Join(dir, "netsim.env")
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o600)); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return path, nil
}

// shellQuote quotes s for sh when it holds anything beyond [A-Za-z0-9._-].
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
