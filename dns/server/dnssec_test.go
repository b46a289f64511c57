package server_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnssec"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/zones"
)

// signedHandler serves the demo zones, each signed with its own keys.
func signedHandler(t testing.TB, geo server.Geo) (*server.Handler, map[string]*dnssec.Signer) {
	t.Helper()
	sg := dnstest.Sign(t, dnstest.Embedded(t))
	var pub []*zones.Zone
	for _, z := range sg.Zones {
		pub = append(pub, z)
	}
	h := server.NewHandler("signed", auth.NewSet(pub).WithSigners(sg.Signers), nil, server.NewMetrics(nil))
	if geo != nil {
		h.SetGeo(geo)
	}
	return h, sg.Signers
}

func doQuery(name string, qtype uint16, do bool, size uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(size, do)
	pkt, _ := m.Pack()
	return pkt
}

func made(signers map[string]*dnssec.Signer) uint64 {
	var n uint64
	for _, s := range signers {
		m, _ := s.Stats()
		n += m
	}
	return n
}

func serve(t testing.TB, h *server.Handler, pkt []byte, proto server.Protocol) *dns.Msg {
	t.Helper()
	b := h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), proto, make([]byte, 0, 65535))
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("reply: %v", err)
	}
	return m
}

// Popular answers are signed once: a thousand queries with DO for the
// same names (rotating RRsets, a wildcard, NXDOMAIN) make no signature
// after the first answer of each.
func TestSignedAnswersAreNotSignedPerQuery(t *testing.T) {
	h, signers := signedHandler(t, nil)
	names := []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"x.apps.example.test.", dns.TypeA}, {"nope.example.test.", dns.TypeA}, {"example.test.", dns.TypeDNSKEY}}
	for _, n := range names {
		r := serve(t, h, doQuery(n.name, n.qtype, true, 4096), server.UDP)
		if len(dnssec.Sigs(append(r.Answer, r.Ns...), r.Question[0].Name, dns.TypeRRSIG)) != 0 || !hasRRSIG(r) {
			t.Fatalf("%s: no RRSIG in a reply to DO: %v", n.name, r)
		}
	}
	before := made(signers)
	for i := 0; i < 1000; i++ {
		n := names[i%len(names)]
		serve(t, h, doQuery(n.name, n.qtype, true, 4096), server.UDP)
	}
	if after := made(signers); after != before {
		t.Fatalf("%d signatures made for 1000 repeated queries, want 0", after-before)
	}
}

func hasRRSIG(m *dns.Msg) bool {
	for _, rr := range append(m.Answer, m.Ns...) {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			return true
		}
	}
	return false
}

// geoTwo answers www with one of two addresses by the client, as GeoDNS
// does per region.
type geoTwo struct{}

func (geoTwo) Manages(q string) bool { return q == "www.example.test." }
func (geoTwo) Answer(req, resp *dns.Msg, _ string, client netip.Addr, _ *dns.OPT) bool {
	resp.Authoritative = true
	a := &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 20}, A: []byte{127, 0, 10, 1}}
	if client.As4()[3] == 2 {
		a.A = []byte{127, 0, 20, 1}
	}
	resp.Answer = append(resp.Answer, a)
	return true
}

// GeoDNS answers are signed, each variant once.
func TestGeoAnswersSignedPerVariant(t *testing.T) {
	h, signers := signedHandler(t, geoTwo{})
	pkt := doQuery("www.example.test.", dns.TypeA, true, 1232)
	for i := 0; i < 50; i++ {
		for _, c := range []string{"127.0.0.1", "127.0.0.2"} {
			b := h.ServePacket(context.Background(), pkt, netip.MustParseAddr(c), server.UDP, make([]byte, 0, 4096))
			m := new(dns.Msg)
			if err := m.Unpack(b); err != nil {
				t.Fatal(err)
			}
			sig := dnssec.Sigs(m.Answer, "www.example.test.", dns.TypeA)
			keys := []*dns.DNSKEY{}
			for _, k := range signers["example.test."].Keys().List {
				keys = append(keys, k.DNSKEY)
			}
			if _, err := dnssec.VerifyRRset(dnssec.RRset(m.Answer, "www.example.test.", dns.TypeA), sig, keys, "example.test.", time.Now()); err != nil {
				t.Fatalf("client %s: %v", c, err)
			}
		}
	}
	if m, _ := signers["example.test."].Stats(); m != 2 {
		t.Fatalf("%d signatures for 2 GeoDNS variants asked 50 times each, want 2", m)
	}
}

// A signed answer too big for the client's UDP size is truncated (TC),
// never sent without its signatures.
func TestSignedAnswerTruncates(t *testing.T) {
	h, _ := signedHandler(t, nil)
	r := serve(t, h, doQuery("nope.example.test.", dns.TypeA, true, 512), server.UDP)
	if !r.Truncated || len(r.Ns) != 0 {
		t.Fatalf("a 600-byte NXDOMAIN with DO to a 512-byte client: TC %v, %d authority records", r.Truncated, len(r.Ns))
	}
	r = serve(t, h, doQuery("nope.example.test.", dns.TypeA, true, 512), server.TCP)
	if r.Truncated || !hasRRSIG(r) {
		t.Fatalf("over TCP: TC %v, signed %v", r.Truncated, hasRRSIG(r))
	}
	r = serve(t, h, doQuery("nope.example.test.", dns.TypeA, false, 512), server.UDP)
	if r.Truncated || hasRRSIG(r) {
		t.Fatalf("without DO: TC %v, signed %v", r.Truncated, hasRRSIG(r))
	}
}

// BenchmarkSignedServePacket: answers with DO from signed zones. The
// signatures come from the packed answer (or the signer's cache): no
// signature is made per query (the benchmark fails if one is).
func BenchmarkSignedServePacket(b *testing.B) {
	h, signers := signedHandler(b, geoTwo{})
	client := netip.MustParseAddr("127.0.0.1")
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"mail.example.test.", dns.TypeMX}, {"nope.example.test.", dns.TypeA}, {"x.apps.example.test.", dns.TypeA}} {
		pkt := doQuery(q.name, q.qtype, true, 4096)
		b.Run(q.name+dns.TypeToString[q.qtype], func(b *testing.B) {
			out := make([]byte, 0, 4096)
			h.ServePacket(context.Background(), pkt, client, server.UDP, out)
			before := made(signers)
			b.ReportAllocs()
			for b.Loop() {
				if h.ServePacket(context.Background(), pkt, client, server.UDP, out) == nil {
					b.Fatal("no reply")
				}
			}
			if n := made(signers) - before; n != 0 {
				b.Fatalf("%d signatures made while serving the same answer", n)
			}
		})
	}
}
