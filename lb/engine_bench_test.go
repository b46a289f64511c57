package lb

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

// rawBackend answers every request head it reads with a fixed response,
// without allocating, so that a benchmark's allocations are lbd's.
func rawBackend(b *testing.B) net.Listener {
	ln := testutil.Listen(b)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nb1 v1\n")
	testutil.Serve(b, ln, func(c net.Conn) {
		var buf [8192]byte
		for {
			n, err := c.Read(buf[:])
			if err != nil {
				return
			}
			for k := bytes.Count(buf[:n], []byte("\r\n\r\n")); k > 0; k-- {
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
	return ln
}

// BenchmarkEngine sends keep-alive GETs over raw connections through
// lbd, on each engine, to a backend that allocates nothing: allocs/op is
// what lbd allocates per proxied request (the fast engine aims at 0).
//
//	go test -run '^$' -bench Engine -benchmem ./lb/
func BenchmarkEngine(b *testing.B) {
	be := rawBackend(b)
	defer be.Close()
	// routed: the request goes through a route (by path prefix); limited:
	// that route also has a rate limit (high enough never to refuse).
	routes := map[string][]RouteConfig{
		"": nil,
		"-routed": {{Name: "other", Match: RouteMatch{Host: "*.other.test"}, Pool: "web"},
			{Name: "bench", Match: RouteMatch{PathPrefix: "/bench"}, Pool: "web"}},
		"-limited": {{Name: "bench", Match: RouteMatch{PathPrefix: "/bench"}, Pool: "web",
			RateLimit: &RateLimitConfig{Requests: 1 << 30, Per: time.Second}}},
	}
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		for _, variant := range []string{"", "-routed", "-limited"} {
			b.Run(engine+variant, func(b *testing.B) {
				cfg := testConfig(be.Addr().String())
				cfg.Pools[0].Health.Type = "none"
				cfg.Frontends[0].BackendHeader = false
				cfg.Frontends[0].Engine = engine
				cfg.Frontends[0].Routes = routes[variant]
				cfg.Pools[0].Sticky.Mode = "none" // a new client's cookie costs an HMAC: not the proxy path
				srv, err := New(cfg, nil, prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				run(b, srv)
				benchKeepAlive(b, srv.Addr("http").String(), "/bench")
				b.StopTimer()
			})
		}
	}
}

// benchKeepAlive sends keep-alive GETs for path to addr over raw
// connections, in parallel, each answered with the body "b1 v1\n".
func benchKeepAlive(b *testing.B, addr, path string) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		var buf [4096]byte
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			n := 0
			for !bytes.HasSuffix(buf[:n], []byte("\r\n\r\nb1 v1\n")) {
				k, err := c.Read(buf[n:])
				if err != nil {
					b.Error(err)
					return
				}
				n += k
			}
		}
	})
}
