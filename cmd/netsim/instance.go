package main

import (
	"fmt"
	"net"
	"os"
	"time"

	"netsim/internal/instance"
)

// varDir holds what a running netsim leaves for the user and for tools:
// the lock, the tokens (netsim.env), root hints and the demo PKI.
const varDir = instance.Dir

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
