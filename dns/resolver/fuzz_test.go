package resolver

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/cache"
)

// offlineResolver has a warm cache and root hints nobody listens on; RD=0
// queries never leave the process.
func offlineResolver(tb testing.TB) *Resolver {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.RootHints = []string{"127.0.101.250"}
	r, err := New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	m := new(dns.Msg)
	m.Answer = []dns.RR{
		mustRR("www.example.test. 300 IN A 127.0.10.1"),
		mustRR("www.example.test. 300 IN A 127.0.20.1"),
		mustRR("www.example.test. 300 IN A 127.0.30.1"),
	}
	if _, err := r.cache.Set(cache.Key{Name: "www.example.test.", Type: dns.TypeA, Class: dns.ClassINET}, m); err != nil {
		tb.Fatal(err)
	}
	d := new(dns.Msg)
	d.Ns = []dns.RR{mustRR("example.test. 3600 IN NS ns1.example.test.")}
	d.Extra = []dns.RR{mustRR("ns1.example.test. 3600 IN A 127.0.3.1")}
	if _, err := r.cache.Set(cache.Key{Name: "example.test.", Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation}, d); err != nil {
		tb.Fatal(err)
	}
	return r
}

// FuzzAnswer: any packet a client can send gets a reply (never nil, never
// a panic) with its ID, from the cache-only (RD=0) path.
func FuzzAnswer(f *testing.F) {
	seeds := []*dns.Msg{
		query("www.example.test", dns.TypeA),
		query("WWW.EXAMPLE.TEST", dns.TypeA),
		query("mail.example.test", dns.TypeMX),
		query("example.test", dns.TypeAXFR),
		func() *dns.Msg { m := query("x.test", dns.TypeA); m.Opcode = dns.OpcodeNotify; return m }(),
		func() *dns.Msg {
			m := query("x.test", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}(),
		func() *dns.Msg { m := query("x.test", dns.TypeA); m.SetEdns0(1232, true); return m }(),
		ecsQuery("www.example.test", "127.0.10.0/24"),
		ecsQuery("www.example.test", "2001:db8::/56"),
		ecsQuery("www.example.test", "0.0.0.0/0"),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	r := offlineResolver(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(pkt); err != nil {
			return // the server drops or FORMERRs these before the resolver
		}
		req.RecursionDesired = false
		resp := r.Answer(context.Background(), req, loopback)
		if resp == nil || !resp.Response || resp.Id != req.Id || !resp.RecursionAvailable {
			t.Fatalf("bad reply %v to %v", resp, req)
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
	})
}

// FuzzUpstreamReply feeds arbitrary upstream replies to the code that
// judges them: classification, glue and bailiwick filtering, CNAME
// walking and caching. Nothing may panic, and nothing outside the zone's
// bailiwick or off the question's CNAME chain may survive the filter.
func FuzzUpstreamReply(f *testing.F) {
	ref := new(dns.Msg)
	ref.SetQuestion("www.example.test.", dns.TypeA)
	ref.Response = true
	ref.Ns = []dns.RR{mustRR("example.test. 172800 IN NS ns1.example.test."), mustRR("example.test. 172800 IN NS ns.evil.")}
	ref.Extra = []dns.RR{mustRR("ns1.example.test. 172800 IN A 127.0.3.1"), mustRR("ns.evil. 172800 IN A 6.6.6.6")}
	ans := new(dns.Msg)
	ans.SetQuestion("www.example.test.", dns.TypeA)
	ans.Response, ans.Authoritative = true, true
	ans.Answer = []dns.RR{mustRR("www.example.test. 300 IN CNAME a.example.test."), mustRR("a.example.test. 300 IN A 192.0.2.1"), mustRR("www.other. 300 IN A 6.6.6.6")}
	neg := new(dns.Msg)
	neg.SetQuestion("www.example.test.", dns.TypeA)
	neg.Response, neg.Authoritative, neg.Rcode = true, true, dns.RcodeNameError
	neg.Ns = []dns.RR{mustRR("example.test. 300 IN SOA ns1.example.test. h.example.test. 1 2 3 4 60")}
	for _, m := range []*dns.Msg{ref, ans, neg} {
		b, _ := m.Pack()
		f.Add(b)
	}
	r := offlineResolver(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		m := new(dns.Msg)
		if m.Unpack(pkt) != nil {
			return
		}
		for _, zone := range []string{"test.", "example.test."} {
			d := &delegation{zone: zone}
			v, cut := classify(d, "www.example.test.", m)
			switch v {
			case vReferral:
				if !isSub(cut, zone) || cut == zone || !isSub("www.example.test.", cut) {
					t.Fatalf("referral to %q accepted from zone %s", cut, zone)
				}
				nd := r.delegationFrom(cut, m.Ns, m.Extra)
				for owner := range nd.glue {
					if !isSub(owner, cut) {
						t.Fatalf("glue for %s kept in a referral to %s", owner, cut)
					}
				}
			case vAnswer:
				out := r.inBailiwick(d, "www.example.test.", m)
				for _, rr := range append(append([]dns.RR{}, out.Answer...), out.Ns...) {
					if !isSub(strings.ToLower(rr.Header().Name), zone) {
						t.Fatalf("out-of-bailiwick %s kept", rr)
					}
				}
				_, _ = r.cache.Set(cache.Key{Name: "fuzz.example.test.", Type: dns.TypeA, Class: dns.ClassINET}, out)
				if chain, _, _, err := followChain(out.Answer, "www.example.test.", qtypeOf(m)); err == nil && len(chain) != len(out.Answer) {
					t.Fatalf("records off the question's chain kept: %v", out.Answer)
				}
			}
		}
	})
}

// BenchmarkAnswerCacheHit is the hot path: a cache hit through Answer.
func BenchmarkAnswerCacheHit(b *testing.B) {
	r := offlineResolver(b)
	client := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := query("www.example.test", dns.TypeA)
		for pb.Next() {
			resp := r.Answer(context.Background(), req, client)
			if len(resp.Answer) != 3 {
				b.Fatal("miss")
			}
		}
	})
}
