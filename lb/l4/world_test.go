package l4

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/world/worldtest"
)

// A TCP frontend in a world: the first reply on a new connection comes
// two round trips after the connect (the handshake, then the line there
// and back). The echo backend (127.0.0.1) is in no place.
func TestWorldDelaysTCPFrontend(t *testing.T) {
	const rtt = 2 * worldtest.OneWay
	w := worldtest.Pair(t, "0")
	e := startEcho(t, "b1", false)
	s, err := New(Config{
		Pools:     []Pool{mkPool("echo", "round_robin", "", e)},
		Frontends: []Frontend{{Name: "tcp", Listen: "127.0.61.1:0", Pool: "echo"}},
	}, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	s.SetWorld(w)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, func(_ string, a net.Addr) { addrc <- a.String() }) }()
	t.Cleanup(func() { cancel(); <-errc })
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.60.5")}, Timeout: 5 * time.Second}
	start := time.Now()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if id := roundTrip(t, conn, "hello"); id != "b1" {
		t.Fatalf("reply from %q, want b1", id)
	}
	if took := time.Since(start); took < 2*rtt {
		t.Errorf("first reply after %v, want at least two round trips (%v)", took, 2*rtt)
	}
}
