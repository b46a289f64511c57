package server

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnstest/wiretext"
	"netsim/dns/ecs"
	"netsim/zones"
)

type allowRecursor struct{ allow bool }

func (r allowRecursor) Allowed(netip.Addr) bool                        { return r.allow }
func (r allowRecursor) ResolveCached(_, _ *dns.Msg, _ netip.Addr) bool { return true }
func (r allowRecursor) Resolve(context.Context, *dns.Msg, *dns.Msg, netip.Addr) {
}

// oneGeo manages one name and answers it with 192.0.2.99.
type oneGeo string

func (g oneGeo) Manages(qname string) bool { return qname == string(g) }
func (g oneGeo) Answer(req, resp *dns.Msg, _ string, _ netip.Addr, _ *dns.OPT) bool {
	resp.Authoritative = true
	resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 20}, A: []byte{192, 0, 2, 99}})
	return true
}

func packedHandlers(t testing.TB, rec Recursor) (fast, full *Handler) {
	t.Helper()
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	cookies := NewCookies()
	at := time.Unix(1_800_000_000, 0)
	cookies.now = func() time.Time { return at }
	fast = NewHandler("fast", auth.NewSet(zs), rec, NewMetrics(nil))
	full = NewHandler("full", auth.NewSet(zs), rec, NewMetrics(nil))
	fast.cookies, full.cookies = cookies, cookies
	ql := NewQueryLog(nil)
	ql.Set(QueryLogSettings{Enabled: true, Sample: 1})
	full.SetQueryLog(ql) // describing every answer: the full way
	return fast, full
}

// packedQuery is wiretext.Query for name and qtype with, in its OPT if
// it has one, a client cookie (one in three) and one of subnets (one in
// two; none when subnets is empty), packed.
func packedQuery(t testing.TB, r *rand.Rand, name string, qtype uint16, subnets []*dns.EDNS0_SUBNET) (*dns.Msg, []byte) {
	t.Helper()
	m := wiretext.Query(r, name, qtype)
	if opt := m.IsEdns0(); opt != nil {
		if r.IntN(3) == 0 {
			opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}
		if len(subnets) > 0 && r.IntN(2) == 0 {
			opt.Option = append(opt.Option, subnets[r.IntN(len(subnets))])
		}
	}
	pkt, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return m, pkt
}

type testQuestion struct {
	name  string
	qtype uint16
}

// packedQuestions are names of every kind in example.test.: records, CNAME
// chains, wildcards, NXDOMAIN, NODATA, a delegation, ANY.
var packedQuestions = []testQuestion{
	{"www.example.test.", dns.TypeA}, {"www.example.test.", dns.TypeAAAA}, {"mail.example.test.", dns.TypeMX},
	{"example.test.", dns.TypeMX}, {"example.test.", dns.TypeNS}, {"example.test.", dns.TypeSOA},
	{"alias.example.test.", dns.TypeA}, {"ext.example.test.", dns.TypeCNAME}, {"ext.example.test.", dns.TypeA},
	{"nope.example.test.", dns.TypeA}, {"www.example.test.", dns.TypeTXT}, {"x.apps.example.test.", dns.TypeA},
	{"www.sub.example.test.", dns.TypeA}, {"example.test.", dns.TypeANY},
}

// The packed answers are the answers the full way gives, for every shape
// of query the packed path serves: names of every kind (records, CNAME
// chains, wildcards, NXDOMAIN, NODATA, a delegation, ANY), mixed case,
// RD and CD, with and without EDNS, DO, small and large UDP sizes,
// cookies, Client Subnets, UDP and TCP, clients allowed to recurse or not, and GeoDNS
// owning a name or a CNAME's target.
func TestPackedMatchesFullWay(t *testing.T) {
	questions := append(packedQuestions[:len(packedQuestions):len(packedQuestions)],
		testQuestion{"sub.example.test.", dns.TypeNS}, testQuestion{"example.test.", dns.TypeCAA},
		testQuestion{"test.", dns.TypeNS}, testQuestion{"nothere.invalid.", dns.TypeA})
	r := rand.New(rand.NewPCG(1, 2))
	for _, geo := range []Geo{nil, oneGeo("www.example.test.")} {
		for _, allow := range []bool{false, true} {
			fast, full := packedHandlers(t, allowRecursor{allow})
			fast.SetGeo(geo)
			full.SetGeo(geo)
			served := 0
			for i := 0; i < 600; i++ {
				q := questions[i%len(questions)]
				m, pkt := packedQuery(t, r, q.name, q.qtype, testSubnets)
				proto := Protocol(r.IntN(2))
				client := netip.MustParseAddr("192.0.2.1")
				if _, _, _, ok := fast.serveCached(pkt, client, proto, nil, false); ok {
					served++
				}
				got := fast.ServePacket(context.Background(), pkt, client, proto, nil)
				want := full.ServePacket(context.Background(), pkt, client, proto, nil)
				if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
					t.Fatalf("geo %v allow %v, %s %s proto %s:\npacked:\n%s\nfull way:\n%s", geo, allow, m.Question[0].Name,
						dns.TypeToString[q.qtype], proto, g, w)
				}
			}
			if served < 300 {
				t.Errorf("geo %v allow %v: the packed path served %d of 600 queries, want most", geo, allow, served)
			}
		}
	}
}

// testSubnets are Client Subnet options of every family and length.
var testSubnets = []*dns.EDNS0_SUBNET{
	ecs.Option(netip.MustParsePrefix("81.2.69.142/32")), ecs.Option(netip.MustParsePrefix("127.0.20.0/24")),
	ecs.Option(netip.MustParsePrefix("10.0.0.0/7")), ecs.Option(netip.MustParsePrefix("2001:db8::/56")),
	ecs.Option(netip.MustParsePrefix("2001:db8::1/128")), ecs.Option(netip.MustParsePrefix("0.0.0.0/0")),
	{Code: dns.EDNS0SUBNET, Family: 0}, // dig's opt-out
}

// A query with a Client Subnet for a name the zones answer takes the
// packed path and gets the option back with scope 0, as the full way
// gives it: the answer holds for every subnet (RFC 7871 §7.2.1).
func TestPackedServesClientSubnet(t *testing.T) {
	fast, full := packedHandlers(t, allowRecursor{false})
	client := netip.MustParseAddr("192.0.2.1")
	for _, sub := range testSubnets {
		m := new(dns.Msg)
		m.SetQuestion("Mail.example.test.", dns.TypeMX)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = []dns.EDNS0{sub}
		pkt, _ := m.Pack()
		got, _, _, ok := fast.serveCached(pkt, client, UDP, nil, false)
		if !ok {
			t.Errorf("%v: the packed path did not serve it", sub)
			continue
		}
		want := full.ServePacket(context.Background(), pkt, client, UDP, nil)
		if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
			t.Errorf("%v:\npacked:\n%s\nfull way:\n%s", sub, g, w)
		}
		r := new(dns.Msg)
		if err := r.Unpack(got); err != nil {
			t.Fatal(err)
		}
		if o := ecs.Find(r); o == nil || o.SourceScope != 0 || o.SourceNetmask != sub.SourceNetmask {
			t.Errorf("%v: reply's option %v, want the query's with scope 0", sub, o)
		}
	}
}

// Round robin survives packing: successive answers lead with each
// address in turn, every address equally often.
func TestPackedRotation(t *testing.T) {
	h, _ := packedHandlers(t, nil)
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	pkt, _ := m.Pack()
	first := map[string]int{}
	for i := 0; i < 9; i++ {
		r := new(dns.Msg)
		if err := r.Unpack(h.ServePacket(context.Background(), pkt, netip.MustParseAddr("192.0.2.1"), UDP, nil)); err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) != 3 {
			t.Fatalf("answer %v, want the three addresses", r.Answer)
		}
		first[r.Answer[0].(*dns.A).A.String()]++
	}
	if len(first) != 3 || first["127.0.10.1"] != 3 || first["127.0.20.1"] != 3 {
		t.Errorf("leading addresses over 9 answers: %v, want each of the 3 three times", first)
	}
}

// A new zone set (a reload, a record change) is answered at once: nothing
// packed from the old one is served.
func TestPackedInvalidatedBySetZones(t *testing.T) {
	zone := func(addr string) *auth.Set {
		z, err := zones.Parse(strings.NewReader("$TTL 60\n@ SOA ns h 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\nwww A "+addr+"\n"), "t.test.", "test", false)
		if err != nil {
			t.Fatal(err)
		}
		return auth.NewSet([]*zones.Zone{z})
	}
	h := NewHandler("t", zone("192.0.2.10"), nil, NewMetrics(nil))
	m := new(dns.Msg)
	m.SetQuestion("www.t.test.", dns.TypeA)
	pkt, _ := m.Pack()
	ask := func() string {
		r := new(dns.Msg)
		if err := r.Unpack(h.ServePacket(context.Background(), pkt, netip.MustParseAddr("192.0.2.1"), UDP, nil)); err != nil || len(r.Answer) != 1 {
			t.Fatalf("reply %v, %v", r, err)
		}
		return r.Answer[0].(*dns.A).A.String()
	}
	if got := ask(); got != "192.0.2.10" {
		t.Fatalf("before: %s", got)
	}
	h.SetZones(zone("192.0.2.20"))
	if got := ask(); got != "192.0.2.20" {
		t.Errorf("after the swap: %s, want 192.0.2.20 (the packed answer of the old set was served)", got)
	}
}

// A packed answer costs no allocation, cookie and Client Subnet or not.
func TestPackedNoAllocation(t *testing.T) {
	h, _ := packedHandlers(t, allowRecursor{true})
	client := netip.MustParseAddr("192.0.2.1")
	out := make([]byte, 0, 1232)
	for _, cookie := range []bool{false, true} {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeMX)
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = []dns.EDNS0{testSubnets[0]}
		if cookie {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}
		pkt, _ := m.Pack()
		h.ServePacket(context.Background(), pkt, client, UDP, out) // packs it
		if cookie && raceEnabled {
			continue // the cookie's HMAC comes from a sync.Pool
		}
		if n := testing.AllocsPerRun(100, func() { h.ServePacket(context.Background(), pkt, client, UDP, out) }); n != 0 {
			t.Errorf("cookie %v: %.0f allocations per packed answer, want 0", cookie, n)
		}
	}
}

// Whatever the bytes, a query the packed path serves gets the answer the
// full way gives.
func FuzzPackedMatchesFullWay(f *testing.F) {
	for _, q := range []string{"www.example.test.", "Mail.Example.test.", "nx.example.test.", "x.apps.example.test."} {
		m := new(dns.Msg)
		m.SetQuestion(q, dns.TypeA)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
		b, _ = m.Pack()
		f.Add(b)
		for _, sub := range testSubnets[:4] {
			m.IsEdns0().Option = []dns.EDNS0{sub}
			b, _ = m.Pack()
			f.Add(b)
		}
	}
	var fast, full *Handler
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if fast == nil {
			fast, full = packedHandlers(t, allowRecursor{true})
		}
		client := netip.MustParseAddr("192.0.2.1")
		if _, _, _, ok := fast.serveCached(pkt, client, UDP, nil, false); !ok {
			return
		}
		got := fast.ServePacket(context.Background(), pkt, client, UDP, nil)
		want := full.ServePacket(context.Background(), pkt, client, UDP, nil)
		if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
			t.Fatalf("packed:\n%s\nfull way:\n%s", g, w)
		}
	})
}
