package resolver

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnstest/wiretext"
	"netsim/dns/server"
	"netsim/internal/testutil"
)

// validatedQuestions are answers of every kind a validating resolver
// caches: secure positive, CNAME chain, NXDOMAIN and NODATA with their
// NSEC proofs, a wildcard answer (its NSEC in the authority), DNSKEY and
// DS sets, and an insecure answer below a DS-less delegation (sub.).
// (dns/cache's wire tests pin the records of the question's own DNSSEC
// type, kept for a client without DO.)
var validatedQuestions = []struct {
	name   string
	qtype  uint16
	secure bool
}{
	{"www.example.test.", dns.TypeA, true}, {"mail.example.test.", dns.TypeMX, true},
	{"alias.example.test.", dns.TypeA, true}, {"nope.example.test.", dns.TypeA, true},
	{"www.example.test.", dns.TypeTXT, true}, {"foo.apps.example.test.", dns.TypeA, true},
	{"example.test.", dns.TypeDNSKEY, true}, {"example.test.", dns.TypeDS, true},
	{"www.sub.example.test.", dns.TypeA, false},
}

// warmValidated resolves every validated question once (DO set) and
// checks its state.
func warmValidated(t *testing.T, r *Resolver) {
	t.Helper()
	for _, q := range validatedQuestions {
		m := ask(r, q.name, q.qtype, true, false, false)
		if m.Rcode == dns.RcodeServerFailure || m.AuthenticatedData != q.secure {
			code, text, _ := edeOf(m)
			t.Fatalf("warm-up %s %s: %s ad=%v (EDE %d %s), want ad=%v", q.name, dns.TypeToString[q.qtype], dns.RcodeToString[m.Rcode], m.AuthenticatedData, code, text, q.secure)
		}
	}
}

// A validated cache hit goes the packed way for every client: with DO
// (RRSIGs and NSEC proofs kept) and without (they are left out, but the
// question's own type), AD as RFC 6840 §5.7/§5.8 say (secure data, query
// with DO or AD), CD or not. The packed reply is exactly the full way's,
// TTLs counted down, for random case, IDs, flags and EDNS sizes.
func TestValidatedPackedHitMatchesFullWay(t *testing.T) {
	w, anchor, _ := signedWorld(t, []string{"sub.example.test."}, nil)
	clk := testutil.NewClock(time.Now()) // the signers sign on the real clock
	r := newMemResolver(t, w, "127.0.1.1", nil, WithTrustAnchor(anchor), WithClock(clk.Now))
	warmValidated(t, r)
	clk.Advance(7 * time.Second)
	for _, q := range validatedQuestions {
		for _, do := range []bool{false, true} {
			for _, ad := range []bool{false, true} {
				b, _, ok := r.AppendCached(nil, q.name, q.qtype, loopback, do, ad)
				if !ok {
					t.Fatalf("%s %s DO=%v AD=%v: not a packed hit after the warm-up", q.name, dns.TypeToString[q.qtype], do, ad)
				}
				m := new(dns.Msg)
				if err := m.Unpack(b); err != nil {
					t.Fatal(err)
				}
				if want := q.secure && (do || ad); m.AuthenticatedData != want {
					t.Errorf("%s %s DO=%v AD=%v: ad=%v, want %v", q.name, dns.TypeToString[q.qtype], do, ad, m.AuthenticatedData, want)
				}
				if q.secure && hasSig(m) != do {
					t.Errorf("%s %s DO=%v: RRSIGs in the reply %v, want %v", q.name, dns.TypeToString[q.qtype], do, hasSig(m), do)
				}
			}
		}
	}
	fast, full := fastAndFull(r)
	rnd := rand.New(rand.NewPCG(5, 6))
	upstream := w.total()
	for i := 0; i < 400; i++ {
		q := validatedQuestions[i%len(validatedQuestions)]
		m := wiretext.Query(rnd, q.name, q.qtype)
		m.RecursionDesired = true
		m.AuthenticatedData = rnd.IntN(2) == 0
		pkt, _ := m.Pack()
		proto := server.Protocol(rnd.IntN(2))
		got := fast.ServePacket(context.Background(), pkt, loopback, proto, nil)
		want := full.ServePacket(context.Background(), pkt, loopback, proto, nil)
		if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
			t.Fatalf("%s %s proto %s AD=%v CD=%v:\npacked:\n%s\nfull way:\n%s", m.Question[0].Name, dns.TypeToString[q.qtype], proto, m.AuthenticatedData, m.CheckingDisabled, g, w)
		}
	}
	if n := w.total() - upstream; n != 0 {
		t.Fatalf("%d upstream queries while answering from the cache, want 0", n)
	}
}

// A validated hit for a client without DO, with AD or without, costs no
// allocation: it is the packed form without the DNSSEC records.
func TestValidatedPlainHitNoAllocation(t *testing.T) {
	w, anchor, _ := signedWorld(t, []string{"sub.example.test."}, nil)
	r := validating(t, w, anchor)
	warmValidated(t, r)
	h, out := recursiveHandler(r), make([]byte, 0, 1232)
	for _, ad := range []bool{false, true} {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeMX)
		m.RecursionDesired, m.AuthenticatedData = true, ad
		m.SetEdns0(1232, false)
		pkt, _ := m.Pack()
		reply := new(dns.Msg)
		if err := reply.Unpack(h.ServePacket(context.Background(), pkt, loopback, server.UDP, out)); err != nil || reply.AuthenticatedData != ad || hasSig(reply) || len(reply.Answer) != 2 {
			t.Fatalf("AD=%v: %v ad=%v signed=%v %v", ad, err, reply.AuthenticatedData, hasSig(reply), reply.Answer)
		}
		if n := testing.AllocsPerRun(100, func() { h.ServePacket(context.Background(), pkt, loopback, server.UDP, out) }); n != 0 {
			t.Errorf("AD=%v: %.0f allocations per validated hit without DO, want 0 (the full way)", ad, n)
		}
	}
}

// Bogus data is never in the cache, so never packed: without CD every
// client gets SERVFAIL with the EDE, before and after a CD query fetched
// the data unvalidated (which is not cached either).
func TestBogusNeverPacked(t *testing.T) {
	w, anchor, _ := signedWorld(t, nil, nil)
	w.servers["127.0.3.1"].setHook(forge(w.servers["127.0.3.1"]))
	w.servers["127.0.3.2"].setHook(forge(w.servers["127.0.3.2"]))
	r := validating(t, w, anchor)
	h := recursiveHandler(r)
	serve := func(do, ad, cd bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.RecursionDesired, m.AuthenticatedData, m.CheckingDisabled = true, ad, cd
		m.SetEdns0(1232, do)
		pkt, _ := m.Pack()
		reply := new(dns.Msg)
		if err := reply.Unpack(h.ServePacket(context.Background(), pkt, loopback, server.UDP, nil)); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	for round, cd := range []bool{false, true, false} {
		for _, do := range []bool{false, true} {
			for _, ad := range []bool{false, true} {
				m := serve(do, ad, cd)
				switch code, _, hasEDE := edeOf(m); {
				case cd && (m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || len(m.Answer) == 0):
					t.Fatalf("round %d CD DO=%v AD=%v: %s ad=%v %v; want the data, no ad", round, do, ad, dns.RcodeToString[m.Rcode], m.AuthenticatedData, m.Answer)
				case !cd && (m.Rcode != dns.RcodeServerFailure || !hasEDE || m.AuthenticatedData):
					t.Fatalf("round %d DO=%v AD=%v: %s ad=%v EDE %d; want SERVFAIL with its EDE", round, do, ad, dns.RcodeToString[m.Rcode], m.AuthenticatedData, code)
				}
				if _, _, ok := r.AppendCached(nil, "www.example.test.", dns.TypeA, loopback, do, ad); ok {
					t.Fatalf("round %d DO=%v AD=%v: bogus data is a packed hit", round, do, ad)
				}
			}
		}
	}
}

// The TTLs a packed validated hit gives are the ones clamped to the
// signatures' expiry, for DO clients and others.
func TestValidatedPackedHitTTLClamped(t *testing.T) {
	w, anchor, _ := signedWorld(t, nil, clampSigner(90*time.Second))
	r := validating(t, w, anchor)
	ask(r, "www.example.test.", dns.TypeA, true, false, false)
	for _, do := range []bool{false, true} {
		b, _, ok := r.AppendCached(nil, "www.example.test.", dns.TypeA, loopback, do, true)
		m := new(dns.Msg)
		if !ok || m.Unpack(b) != nil || !m.AuthenticatedData || len(m.Answer) == 0 {
			t.Fatalf("DO=%v: packed hit %v: %v", do, ok, m)
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl > 90 {
				t.Fatalf("DO=%v: %s: TTL %d outlives its signature (90 s left)", do, rr, rr.Header().Ttl)
			}
		}
	}
}

// BenchmarkValidatedHit: a cache hit of a validated (secure) answer
// through dns/server, for a client without DO (the RRSIGs are left out),
// one without DO that set AD (ad, no RRSIGs) and one with DO (both).
func BenchmarkValidatedHit(b *testing.B) {
	for _, c := range []struct {
		name   string
		do, ad bool
	}{{"plain", false, false}, {"AD", false, true}, {"DO", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			w, anchor, _ := signedWorld(b, nil, nil)
			cfg := DefaultConfig()
			cfg.RootHints, cfg.Port = []string{"127.0.1.1"}, int(w.port)
			r, err := New(cfg, nil, nil, WithDialer(w.dial), WithTrustAnchor(anchor))
			if err != nil {
				b.Fatal(err)
			}
			r.Start(context.Background())
			b.Cleanup(func() { _ = r.Close() })
			h := recursiveHandler(r)
			m := new(dns.Msg)
			m.SetQuestion("www.example.test.", dns.TypeA)
			m.RecursionDesired, m.AuthenticatedData = true, c.ad
			m.SetEdns0(1232, c.do)
			pkt, _ := m.Pack()
			out := make([]byte, 0, 1232)
			first := new(dns.Msg)
			if err := first.Unpack(h.ServePacket(context.Background(), pkt, loopback, server.UDP, out)); err != nil || first.AuthenticatedData != (c.do || c.ad) {
				b.Fatalf("%v %v", err, first)
			}
			b.ReportAllocs()
			for b.Loop() {
				if len(h.ServePacket(context.Background(), pkt, loopback, server.UDP, out)) == 0 {
					b.Fatal("no reply")
				}
			}
		})
	}
}
