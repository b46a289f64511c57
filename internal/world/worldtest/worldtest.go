// Package worldtest builds small worlds for the tests of the servers that
// live in one (dns/server, lb, lb/l4).
package worldtest

import (
	"testing"
	"time"

	"netsim/internal/world"
)

// Pair is the world of the server tests: a client place at 127.0.60.0/24
// and a server place at 127.0.61.0/24, 30 ms apart one way (OneWay), with
// no jitter, unlimited bandwidth and lossPercent ("0" to "100") of the
// packets lost. 127.0.0.1 is in no place: it has no distance to anything.
func Pair(t testing.TB, lossPercent string) *world.World {
	t.Helper()
	return New(t, `world:
  places:
    - {name: client, prefixes: [127.0.60.0/24]}
    - {name: server, prefixes: [127.0.61.0/24]}
  default: {latency: 30ms, jitter: 0s, loss_percent: `+lossPercent+`, bandwidth: unlimited}
`)
}

// OneWay is the one-way latency between Pair's places.
const OneWay = 30 * time.Millisecond

// New parses yaml (a world file) and builds its world; an error fails the test.
func New(t testing.TB, yaml string) *world.World {
	t.Helper()
	c, err := world.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("world file: %v", err)
	}
	w, err := world.New(c, world.Options{})
	if err != nil {
		t.Fatalf("world: %v", err)
	}
	return w
}
