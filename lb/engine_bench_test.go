package lb

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"netsim/internal/testutil"
	"netsim/lb/httpcache"
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
				benchKeepAlive(b, engine, be.Addr().String(), "/bench", func(c *Config) { c.Frontends[0].Routes = routes[variant] })
			})
		}
	}
}

// BenchmarkEngineCacheHit: keep-alive GETs answered from the cache, on
// each engine (the backend is asked once); allocs/op is lbd's per hit.
//
//	go test -run '^$' -bench EngineCacheHit -benchmem ./lb/
func BenchmarkEngineCacheHit(b *testing.B) {
	ln := testutil.Listen(b)
	origin := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "text/css")
		_, _ = io.WriteString(w, "b1 v1\n")
	})}
	go func() { _ = origin.Serve(ln) }()
	defer origin.Close()
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		b.Run(engine, func(b *testing.B) {
			benchKeepAlive(b, engine, ln.Addr().String(), "/app.css", func(c *Config) { c.Frontends[0].Cache = &httpcache.Config{} })
		})
	}
}

// benchKeepAlive runs the engineConfig (no X-LB-Backend field either;
// mod changes it further) in front of backend and sends it keep-alive
// GETs for path over raw connections, in parallel, each answered with
// the body "b1 v1\n". A new client's sticky cookie would cost an HMAC:
// not the proxy path.
func benchKeepAlive(b *testing.B, engine, backend, path string, mod func(*Config)) {
	_, addr := engineLB(b, engine, backend, func(c *Config) { c.Frontends[0].BackendHeader = false }, mod)
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
	b.StopTimer() // the server's shutdown is not the proxy path
}
