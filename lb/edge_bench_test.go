package lb

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/lb/httpcache"
)

// BenchmarkEngineCacheHit: keep-alive GETs answered from the cache, on
// each engine (the backend is asked once); allocs/op is lbd's per hit.
//
//	go test -run '^$' -bench EngineCacheHit -benchmem ./lb/
func BenchmarkEngineCacheHit(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	origin := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "text/css")
		_, _ = io.WriteString(w, "b1 v1\n")
	})}
	go func() { _ = origin.Serve(ln) }()
	defer origin.Close()
	for _, engine := range []string{EngineFast, EngineNetHTTP} {
		b.Run(engine, func(b *testing.B) {
			cfg := testConfig(ln.Addr().String())
			cfg.Pools[0].Health.Type = "none"
			cfg.Frontends[0].BackendHeader = false
			cfg.Frontends[0].Engine = engine
			cfg.Frontends[0].Cache = &httpcache.Config{}
			cfg.Pools[0].Sticky.Mode = "none"
			srv, err := New(cfg, nil, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			run(b, srv)
			benchKeepAlive(b, srv.Addr("http").String(), "/app.css")
			b.StopTimer()
		})
	}
}
