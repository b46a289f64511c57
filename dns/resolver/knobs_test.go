package resolver

import (
	"netsim/internal/testutil"

	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestThunderingHerd: N clients ask for a name whose cache entry has just
// expired, all while its refresh is in flight. With coalescing they share
// one upstream query; without it each client sends its own.
func TestThunderingHerd(t *testing.T) {
	const clients = 20
	for _, c := range []struct {
		coalesce bool
		want     int
	}{{true, 1}, {false, clients}} {
		t.Run(fmt.Sprintf("coalesce=%v", c.coalesce), func(t *testing.T) {
			w := embeddedWorld(t)
			clk := newTestClock()
			r, _ := newTestResolver(t, w, "127.0.1.1", func(cfg *Config) {
				// the held answers below must not time out and be retried,
				// and clients wait for the refresh rather than answer stale
				cfg.Timeout = 30 * time.Second
				cfg.UpstreamTimeout = 20 * time.Second
				cfg.StaleClientTimeout = 25 * time.Second
			}, WithClock(clk.Now))
			r.SetKnobs(Knobs{Coalesce: c.coalesce, Prefetch: false})
			auth1, auth2 := w.servers["127.0.3.1"], w.servers["127.0.3.2"]
			upstream := func() int {
				return auth1.count("www.example.test.", dns.TypeA) + auth2.count("www.example.test.", dns.TypeA)
			}
			if m := r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback); len(m.Answer) != 3 {
				t.Fatalf("warm-up: %v", m)
			}
			clk.Advance(301 * time.Second) // the 300 s entry has expired

			release := make(chan struct{})
			free := sync.OnceFunc(func() { close(release) })
			t.Cleanup(free) // a failed wait below must not leave the clients blocked
			var held atomic.Int64
			hold := func(*dns.Msg, bool) (*dns.Msg, bool) { held.Add(1); <-release; return nil, false }
			auth1.setHook(hold)
			auth2.setHook(hold)
			var wg sync.WaitGroup
			replies := make([]*dns.Msg, clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
				}()
			}
			if c.coalesce {
				testutil.WaitFor(t, "every client to join the one refresh", 5*time.Second, func() bool { return testutil.Value(t, r.m.coalesced) >= clients-1 })
			} else {
				testutil.WaitFor(t, "every client's own upstream query", 5*time.Second, func() bool { return held.Load() >= clients })
			}
			free()
			wg.Wait()
			for i, m := range replies {
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 3 || m.Answer[0].Header().Ttl < 299 {
					t.Fatalf("client %d got %v, want the refreshed answer", i, m)
				}
			}
			if got := upstream() - 1; got != c.want {
				t.Fatalf("%d clients for an expired name caused %d upstream queries with coalesce=%v, want %d", clients, got, c.coalesce, c.want)
			}
		})
	}
}

// TestPrefetchKnob: with prefetch switched off at run time, a popular
// entry near its expiry is not refreshed early.
func TestPrefetchKnob(t *testing.T) {
	w := embeddedWorld(t)
	clk := newTestClock()
	r, _ := newTestResolver(t, w, "127.0.1.1", func(c *Config) { c.PrefetchMinHits = 1 }, WithClock(clk.Now))
	r.SetKnobs(Knobs{Coalesce: true, Prefetch: false})
	for range 3 {
		r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	}
	clk.Advance(275 * time.Second) // 25 s of 300 left: under the 10 % threshold
	for range 3 {
		r.Answer(context.Background(), query("www.example.test", dns.TypeA), loopback)
	}
	n := w.servers["127.0.3.1"].count("www.example.test.", dns.TypeA) + w.servers["127.0.3.2"].count("www.example.test.", dns.TypeA)
	if testutil.Value(t, r.m.prefetches) != 0 || n != 1 {
		t.Fatalf("prefetch off: %v prefetches, %d upstream queries; want 0 and 1", testutil.Value(t, r.m.prefetches), n)
	}
}

func TestKnobRoutes(t *testing.T) {
	w := embeddedWorld(t)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	mux := http.NewServeMux()
	r.RegisterKnobRoutes(mux)
	do := func(method, body string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, "/api/v1/resolver", strings.NewReader(body)))
		return rec.Code, strings.Join(strings.Fields(rec.Body.String()), " ")
	}
	if st, b := do("GET", ""); st != 200 || b != `{ "data": { "coalesce": true, "prefetch": true } }` {
		t.Fatalf("GET: %d %s", st, b)
	}
	if st, b := do("PATCH", `{"coalesce":false}`); st != 200 || b != `{ "data": { "coalesce": false, "prefetch": true } }` {
		t.Fatalf("PATCH coalesce: %d %s", st, b)
	}
	if st, b := do("PATCH", `{"prefetch":false}`); st != 200 || b != `{ "data": { "coalesce": false, "prefetch": false } }` {
		t.Fatalf("PATCH prefetch: %d %s", st, b)
	}
	if k := r.Knobs(); k.Coalesce || k.Prefetch {
		t.Fatalf("knobs after PATCH: %+v", k)
	}
	for body, want := range map[string]string{
		`{}`:                       "nothing to change",
		`{"coalesce":"no"}`:        `field \"coalesce\" must be bool`,
		`{"coalesce":false,"x":1}`: `unknown field \"x\"`,
	} {
		if st, b := do("PATCH", body); st != 400 || !strings.Contains(b, want) {
			t.Errorf("PATCH %s: %d %s, want 400 saying %s", body, st, b, want)
		}
	}
	if st, _ := do("POST", `{}`); st != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", st)
	}
}
