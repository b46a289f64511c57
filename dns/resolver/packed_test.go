package resolver

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnstest/wiretext"
	"netsim/dns/server"
)

// A cache hit answered in wire form (AppendCached, through dns/server's
// packed path) is the reply the full way gives: same header, question in
// the client's case, same records with the same TTLs counted down, the
// server's OPT; and it is a hit on every name the warm-up resolved.
func TestPackedHitMatchesFullWay(t *testing.T) {
	w := memEmbeddedWorld(t)
	clk := newTestClock()
	r := newMemResolver(t, w, "127.0.1.1", nil, WithClock(clk.Now))
	questions := []question{
		{"www.example.test.", dns.TypeA}, {"www.example.test.", dns.TypeAAAA}, {"mail.example.test.", dns.TypeMX},
		{"alias.example.test.", dns.TypeA}, {"nope.example.test.", dns.TypeA}, {"info.example.test.", dns.TypeTXT},
		{"www.sub.example.test.", dns.TypeA}, {"example.test.", dns.TypeNS}, {"www.example.test.", dns.TypeTXT},
	}
	for _, q := range questions {
		if m := r.Answer(context.Background(), query(q.name, q.qtype), loopback); m.Rcode == dns.RcodeServerFailure {
			t.Fatalf("warm-up %s %s: %v", q.name, dns.TypeToString[q.qtype], m)
		}
	}
	clk.Advance(7 * time.Second) // the TTLs count down on both ways
	for _, q := range questions {
		if _, _, ok := r.AppendCached(nil, q.name, q.qtype, loopback, false, false); !ok {
			t.Errorf("%s %s: not a packed hit after the warm-up", q.name, dns.TypeToString[q.qtype])
		}
	}
	fast, full := fastAndFull(r)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		q := questions[i%len(questions)]
		m := wiretext.Query(rnd, q.name, q.qtype)
		pkt, _ := m.Pack()
		proto := server.Protocol(rnd.IntN(2))
		got := fast.ServePacket(context.Background(), pkt, loopback, proto, nil)
		want := full.ServePacket(context.Background(), pkt, loopback, proto, nil)
		if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
			t.Fatalf("%s %s proto %s:\npacked:\n%s\nfull way:\n%s", m.Question[0].Name, dns.TypeToString[q.qtype], proto, g, w)
		}
	}
}

// A packed cache hit costs no allocation.
func TestPackedHitNoAllocation(t *testing.T) {
	w := memEmbeddedWorld(t)
	r := newMemResolver(t, w, "127.0.1.1", nil)
	if m := r.Answer(context.Background(), query("mail.example.test.", dns.TypeMX), loopback); len(m.Answer) != 2 {
		t.Fatalf("warm-up: %v", m)
	}
	h, pkt, out := recursiveHandler(r), recursiveQuery("mail.example.test.", dns.TypeMX), make([]byte, 0, 1232)
	h.ServePacket(context.Background(), pkt, loopback, server.UDP, out) // packs it
	if n := testing.AllocsPerRun(100, func() { h.ServePacket(context.Background(), pkt, loopback, server.UDP, out) }); n != 0 {
		t.Errorf("%.0f allocations per packed cache hit, want 0", n)
	}
}

// fastAndFull are two handlers recursing through r: fast as a listener
// has it (packed cache hits), full describing every answer in its query
// log, which makes it answer the full way.
func fastAndFull(r *Resolver) (fast, full *server.Handler) {
	fast, full = recursiveHandler(r), recursiveHandler(r)
	ql := server.NewQueryLog(nil)
	ql.Set(server.QueryLogSettings{Enabled: true, Sample: 1})
	full.SetQueryLog(ql)
	return fast, full
}

// recursiveHandler is a listener's handler with no zones, recursing
// through r.
func recursiveHandler(r *Resolver) *server.Handler {
	return server.NewHandler("packed", auth.NewSet(nil), r, server.NewMetrics(nil))
}

// recursiveQuery is a packed RD query with EDNS (1232 bytes, no DO).
func recursiveQuery(name string, qtype uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	pkt, _ := m.Pack()
	return pkt
}

// BenchmarkPackedHit is a recursive query for three rotating addresses
// answered from the cache through dns/server's packed path
// (AppendCached): the resolver's hit path, without sockets.
func BenchmarkPackedHit(b *testing.B) {
	h, pkt, out := recursiveHandler(offlineResolver(b)), recursiveQuery("www.example.test.", dns.TypeA), make([]byte, 0, 1232)
	b.ReportAllocs()
	for b.Loop() {
		if len(h.ServePacket(context.Background(), pkt, loopback, server.UDP, out)) == 0 {
			b.Fatal("no reply")
		}
	}
}
