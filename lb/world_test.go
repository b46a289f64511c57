package lb

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/world"
)

// A client at 127.0.60.0/24 is 30 ms (one way, no jitter) from a frontend
// at 127.0.61.0/24; the backend (127.0.0.1) is in no place: no distance.
const worldYAML = `world:
  places:
    - {name: client, prefixes: [127.0.60.0/24]}
    - {name: lbd, prefixes: [127.0.61.0/24]}
  default: {latency: 30ms, jitter: 0s, bandwidth: unlimited}
`

func newTestWorld(t *testing.T) *world.World {
	t.Helper()
	c, err := world.Parse([]byte(worldYAML))
	if err != nil {
		t.Fatal(err)
	}
	w, err := world.New(c, world.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A frontend in a world: a new connection's first response costs two
// round trips (connect, then request and response), the next one one.
// Timers never fire early, so the lower bounds are exact.
func TestWorldDelaysFrontend(t *testing.T) {
	const rtt = 60 * time.Millisecond
	be := startWebd(t, "b1", "v1", "127.0.0.1:0")
	cfg := testConfig(be.addr)
	cfg.Frontends[0].Listen = "127.0.61.1:0"
	srv, err := New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv.SetWorld(newTestWorld(t))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-errc })
	select {
	case <-srv.Ready():
	case err := <-errc:
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.60.5")}}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	defer c.CloseIdleConnections()
	url := "http://" + srv.Addr("http").String() + "/"
	for i, want := range []time.Duration{2 * rtt, rtt} {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if took := time.Since(start); resp.StatusCode != http.StatusOK || took < want {
			t.Errorf("request %d: %s after %v, want 200 after at least %v", i+1, resp.Status, took, want)
		}
	}
}
