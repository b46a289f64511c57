package lb

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"netsim/internal/events"
)

// BenchmarkProxy compares a bare httputil.ReverseProxy with lbd's frontend
// over the same loopback client and backend, so the difference is what
// lbd's own layer costs per request (policy, state, metrics, headers).
//
//	go test -run '^$' -bench Proxy -benchmem ./lb/
func BenchmarkProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "b1 v1\n")
	}))
	defer be.Close()
	u, _ := url.Parse(be.URL)

	drive := func(b *testing.B, target string) {
		c := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
		b.ReportAllocs()
		b.ResetTimer()      // server start is not the proxy path
		defer b.StopTimer() // nor is its shutdown, which the caller runs next
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Get(target)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	b.Run("bare-reverseproxy", func(b *testing.B) {
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }}
		fe := httptest.NewServer(rp)
		defer fe.Close()
		drive(b, fe.URL+"/")
	})
	lbd := func(b *testing.B, subscribe bool) {
		cfg := testConfig(u.Host)
		cfg.Pools[0].Health.Type = "none"
		cfg.Frontends[0].BackendHeader = false
		srv := newServer(b, cfg)
		run(b, srv)
		if subscribe {
			defer events.ReadAll(b, srv.Events())()
		}
		drive(b, "http://"+srv.Addr("http").String()+"/")
		b.ReportMetric(float64(srv.Events().Dropped()), "dropped")
	}
	// lbd with nobody on its event stream, and with one subscriber that
	// reads every event (as netsim's page does)
	b.Run("lbd", func(b *testing.B) { lbd(b, false) })
	b.Run("lbd-events", func(b *testing.B) { lbd(b, true) })
}
