package resolver

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/internal/events"
)

func drain(s *events.Subscription) []events.Event {
	var out []events.Event
	for len(s.C()) > 0 {
		out = append(out, (<-s.C()).Event)
	}
	return out
}

// One resolution walks root, TLD and authoritative: three dns.upstream
// events with one id, the cache set events, and ResolveExplained says
// miss, then hit; a flush is one event.
func TestResolverEvents(t *testing.T) { synctest.Test(t, testResolverEvents) }

func testResolverEvents(t *testing.T) {
	w := memEmbeddedWorld(t)
	bus := events.New(events.Options{Buffer: 256})
	r := newMemResolver(t, w, "127.0.1.1", nil, WithEvents(bus))
	sub := bus.Subscribe("dns.upstream", "dns.cache")
	defer sub.Close()

	explain := func() string {
		req := query("www.example.test.", dns.TypeA)
		resp := reply(req, dns.RcodeSuccess)
		return r.ResolveExplained(context.Background(), req, resp, loopback)
	}
	if how := explain(); how != "miss" {
		t.Fatalf("first query: %q, want miss", how)
	}
	var ups []*UpstreamEvent
	sets := map[string]bool{}
	for _, e := range drain(sub) {
		switch e := e.(type) {
		case *UpstreamEvent:
			ups = append(ups, e)
		case *CacheEvent:
			if e.Op == "set" {
				sets[e.Name+" "+e.QType+" "+e.Kind] = e.TTL > 0
			}
		}
	}
	var steps []string
	for _, u := range ups {
		steps = append(steps, u.Server+" "+u.Zone+" "+u.Outcome)
		if u.ID != ups[0].ID || u.ID == 0 || u.Name != "www.example.test." || u.QType != "A" {
			t.Fatalf("upstream event %+v (first id %d)", u, ups[0].ID)
		}
	}
	want := "127.0.1.1:53 . referral|127.0.2.1:53 test. referral|"
	if got := strings.Join(steps, "|"); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "example.test. answer") {
		t.Fatalf("steps %s", got)
	}
	if !sets["www.example.test. A "] {
		t.Fatalf("no set event with a TTL for the answer; sets: %v", sets)
	}
	if how := explain(); how != "hit" {
		t.Fatalf("second query: %q, want hit", how)
	}
	if got := drain(sub); len(got) != 0 {
		t.Fatalf("a cache hit published %d events", len(got))
	}
	r.Cache().Flush()
	got := drain(sub)
	if len(got) != 1 || got[0].(*CacheEvent).Op != "flush" || got[0].(*CacheEvent).Name != "" {
		t.Fatalf("flush: %+v", got)
	}
}

// Clients asking for a name whose resolution is in flight are told
// "coalesced".
func TestExplainCoalesced(t *testing.T) { synctest.Test(t, testExplainCoalesced) }

func testExplainCoalesced(t *testing.T) {
	w := memEmbeddedWorld(t)
	r := newMemResolver(t, w, "127.0.1.1", nil)
	results := make(chan string, 5)
	for i := 0; i < 5; i++ {
		go func() {
			req := query("www.example.test.", dns.TypeA)
			results <- r.ResolveExplained(context.Background(), req, reply(req, dns.RcodeSuccess), loopback)
		}()
	}
	count := map[string]int{}
	for i := 0; i < 5; i++ {
		count[<-results]++
	}
	if count["miss"]+count["coalesced"]+count["hit"] != 5 || count["miss"] != 1 {
		t.Fatalf("outcomes %v, want one miss and the rest coalesced (or hit)", count)
	}
}

// A client that missed the cache just before a resolution of its name
// stored the answer, and reaches join just after that resolution left
// r.flights, must not start a second one: join looks in the cache again
// under the lock the flight leaves by. (TestExplainCoalesced saw two
// misses for one burst under load: this is that interleaving, made
// certain by calling join after the first resolution has finished.)
func TestJoinAfterFlightFinished(t *testing.T) { synctest.Test(t, testJoinAfterFlightFinished) }

func testJoinAfterFlightFinished(t *testing.T) {
	w := memEmbeddedWorld(t)
	r := newMemResolver(t, w, "127.0.1.1", nil)
	auth := func() int {
		return w.servers["127.0.3.1"].count("www.example.test.", dns.TypeA) + w.servers["127.0.3.2"].count("www.example.test.", dns.TypeA)
	}
	req := query("www.example.test.", dns.TypeA)
	if how := r.ResolveExplained(context.Background(), req, reply(req, dns.RcodeSuccess), loopback); how != "miss" {
		t.Fatalf("first question: %s, want miss", how)
	}
	asked := auth()
	k := cache.Key{Name: "www.example.test.", Type: dns.TypeA, Class: dns.ClassINET}
	sub, err := r.subnet(req, loopback)
	if err != nil {
		t.Fatal(err)
	}
	f, joined := r.join(k, true, sub, false)
	<-f.done
	synctest.Wait()
	if joined || !f.cached || f.msg == nil || f.err != nil {
		t.Errorf("join after the flight: joined %v, cached %v, msg %v, err %v; want the cached answer", joined, f.cached, f.msg != nil, f.err)
	}
	if n := auth(); n != asked {
		t.Errorf("join started a second resolution: %d questions to the authority, want %d", n, asked)
	}
}
