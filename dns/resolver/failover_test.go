package resolver

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
)

// After one of a zone's two servers crashes, the resolver goes to the
// live one without waiting: at most the first question after the crash
// waits for ns1, and then no longer than ns1's adaptive RTO (not the
// fixed upstream_timeout); later ones go straight to ns2, whether the
// questions come at once or spread over time (when the dead server is
// probed again, no client waits for the probe). When ns1 comes back, it
// is asked again. The bubble's clock measures the waits: a live in-memory
// server answers in zero time, so a question that took any time waited
// for ns1.
func TestFailoverAfterCrash(t *testing.T) {
	for _, mode := range []string{"silent", "refused"} {
		for _, spread := range []time.Duration{0, 50 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/every_%s", mode, spread), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { testFailoverAfterCrash(t, mode, spread) })
			})
		}
	}
}

func testFailoverAfterCrash(t *testing.T, mode string, spread time.Duration) {
	const questions = 200
	w := memEmbeddedWorld(t)
	upstream := DefaultConfig().UpstreamTimeout
	r := newMemResolver(t, w, "127.0.1.1", func(c *Config) {
		c.Timeout, c.UpstreamTimeout = DefaultConfig().Timeout, upstream
	})
	ns1, ns2 := w.servers["127.0.3.1"], w.servers["127.0.3.2"]
	ask := func(name string) time.Duration {
		start := time.Now()
		m := r.Answer(context.Background(), query(name, dns.TypeA), loopback)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			t.Fatalf("%s: %s %v", name, dns.RcodeToString[m.Rcode], m.Answer)
		}
		return time.Since(start)
	}
	for i := 0; ns1.queries.Load() < 3 || ns2.queries.Load() < 3; i++ {
		if i == 200 {
			t.Fatalf("the two servers of example.test. were not shared: %d and %d queries", ns1.queries.Load(), ns2.queries.Load())
		}
		ask(fmt.Sprintf("warm%d.apps.example.test.", i))
	}
	switch mode {
	case "silent":
		ns1.setHook(func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true })
	case "refused":
		ns1.stopped.Store(true)
	}
	waited, worst := 0, time.Duration(0)
	for i := range questions {
		if d := ask(fmt.Sprintf("q%d.apps.example.test.", i)); d > 0 {
			waited++
			worst = max(worst, d)
		}
		time.Sleep(spread) // the bubble's clock: questions spread over time
	}
	t.Logf("%s, a question every %s: %d of %d questions waited for the dead server, the longest %s (upstream_timeout %s); ns1 asked %d times",
		mode, spread, waited, questions, worst, upstream, ns1.queries.Load())
	if waited > 1 {
		t.Errorf("%d of %d questions after the crash waited for the dead server (longest %s), want at most the first", waited, questions, worst)
	}
	if worst >= upstream/2 {
		t.Errorf("the wait for the dead server was %s, want it bounded by its RTO (well under upstream_timeout %s)", worst, upstream)
	}
	synctest.Wait() // probes in flight end
	// ns1 comes back: within a minute (the longest backoff) it is asked again
	ns1.setHook(nil)
	ns1.stopped.Store(false)
	before := ns1.queries.Load()
	for i := 0; ns1.queries.Load() == before; i++ {
		if i == 120 {
			t.Fatal("ns1 was not asked again within a minute of coming back")
		}
		if d := ask(fmt.Sprintf("back%d.apps.example.test.", i)); d > 0 {
			t.Fatalf("a question waited %s after ns1 came back", d)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
