package lb

import (
	"net/http"
	"testing"
	"time"

	"netsim/internal/world/worldtest"
)

// A frontend in a world: a new connection's first response costs two
// round trips (connect, then request and response), the next one one.
// Timers never fire early, so the lower bounds are exact.
func TestWorldDelaysFrontend(t *testing.T) {
	const rtt = 2 * worldtest.OneWay
	be := startWebd(t, "b1", "v1", "127.0.0.1:0")
	cfg := testConfig(be.addr)
	cfg.Frontends[0].Listen = "127.0.61.1:0"
	srv := newServer(t, cfg)
	srv.SetWorld(worldtest.Pair(t, "0")) // the backend (127.0.0.1) is in no place: no distance
	run(t, srv)
	c := clientFrom("127.0.60.5")
	defer c.CloseIdleConnections()
	url := "http://" + srv.Addr("http").String() + "/"
	for i, want := range []time.Duration{2 * rtt, rtt} {
		start := time.Now()
		resp, _ := do(t, c, http.MethodGet, url)
		if took := time.Since(start); resp.StatusCode != http.StatusOK || took < want {
			t.Errorf("request %d: %s after %v, want 200 after at least %v", i+1, resp.Status, took, want)
		}
	}
}
