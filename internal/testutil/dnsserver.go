package testutil

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// ServeDNS answers DNS over UDP on 127.0.0.1 at a free port with h (a
// stand-in for a peer: a secondary that takes NOTIFYs, a resolver that
// records what it was sent) until the test ends. It returns the address
// once the server is serving.
func ServeDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("DNS server on " + pc.LocalAddr().String() + " did not start within 10s")
	}
	return pc.LocalAddr().String()
}
