// Package labs is netsim's fault labs: `netsim break NAME` makes a real
// misconfiguration in the running stack and `netsim fix` undoes every one
// made. A fault acts only as an operator would: dnsd's record API, netsim's
// control API, the web servers' knobs, the certificate files lbd watches,
// and a SIGHUP to netsim. The daemons never know a lab runs.
//
// What a break changed is kept in a state file (var/break.json), with
// enough to undo it exactly: the record sets as they were, the knobs as they
// were, the original bytes of the files it rewrote.
package labs

import (
	"io"
	"net/http"
	"time"
)

// Env is where the running stack is and how to reach it.
type Env struct {
	DNSAdmin, DNSToken  string            // dnsd's admin API, host:port, and its token
	Resolver            string            // the recursive resolver, host:port
	Control, ControlTok string            // netsim's control API, host:port, and its token
	LBAdmins            map[string]string // every lbd's admin API by part name ("lbd", "lbd-eu", …)
	LBToken             string
	Webd                map[string]string // sample web servers by id, host:port
	HTTPS               string            // the main lbd's HTTPS frontend, host:port
	PKIDir              string            // the demo PKI the HTTPS frontends serve from
	StateFile           string            // var/break.json
	// Reload makes dnsd re-read its zone files (netsim: SIGHUP); nil: zone
	// files rewritten by a break are not put back byte for byte.
	Reload func() error
	// FlapPeriod is flapping-health's period (default 10s).
	FlapPeriod time.Duration
	// SlowLatency is slow-backend's added latency (default 2s).
	SlowLatency time.Duration
	// CertLife is how long expired-cert's certificate is valid once
	// written (default 10s: the store must load it while valid).
	CertLife time.Duration
	// Wait bounds each wait for the stack to settle (default 60s).
	Wait time.Duration
	// Out receives what break and fix do, for people (nil: discarded).
	Out    io.Writer
	Client *http.Client // nil: a client with a 10 s timeout
}

func (e *Env) defaults() {
	if e.FlapPeriod <= 0 {
		e.FlapPeriod = 10 * time.Second
	}
	if e.SlowLatency <= 0 {
		e.SlowLatency = 2 * time.Second
	}
	if e.CertLife <= 0 {
		e.CertLife = 10 * time.Second
	}
	if e.Wait <= 0 {
		e.Wait = 60 * time.Second
	}
	if e.Out == nil {
		e.Out = io.Discard
	}
	if e.Client == nil {
		e.Client = &http.Client{Timeout: 10 * time.Second}
	}
}
