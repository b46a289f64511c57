package server_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/zones"
)

// bigZone has an RRset too large for 512 bytes.
func bigZone(t testing.TB) *zones.Zone {
	var b strings.Builder
	b.WriteString("$TTL 60\n@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 127.0.0.1\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "big TXT \"record number %02d with some padding to make it long\"\n", i)
	}
	return dnstest.Zone(t, "big.test.", b.String())
}

func TestTruncationAndTCP(t *testing.T) {
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{bigZone(t)}, nil)
	q := func(edns uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("big.big.test.", dns.TypeTXT)
		if edns > 0 {
			m.SetEdns0(edns, false)
		}
		return m
	}
	cases := []struct {
		name     string
		network  string
		edns     uint16
		tc       bool
		maxBytes int
	}{
		{"no EDNS: 512 bytes, TC", "udp", 0, true, 512},
		{"EDNS 1232: TC", "udp", 1232, true, 1232},
		{"EDNS 4096: capped at 1232, TC (no fragments)", "udp", 4096, true, 1232},
		{"TCP: whole answer", "tcp", 0, false, 65535},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dnstest.Exchange(t, srv.Addr, c.network, q(c.edns))
			if r.Truncated != c.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, c.tc)
			}
			r.Compress = true
			if n := r.Len(); n > c.maxBytes {
				t.Errorf("reply is %d bytes, over the limit %d", n, c.maxBytes)
			}
			if !c.tc && len(r.Answer) != 40 {
				t.Errorf("got %d records, want all 40", len(r.Answer))
			}
			if c.tc && len(r.Answer) != 0 {
				t.Errorf("TC reply carries %d records of the RRset; RFC 2181 §9: none", len(r.Answer))
			}
			if c.edns > 0 && r.IsEdns0() == nil {
				t.Error("OPT not echoed")
			}
			if c.edns == 0 && r.IsEdns0() != nil {
				t.Error("OPT in a reply to a query without EDNS")
			}
		})
	}
}

// Additional records that do not fit are dropped without TC; the answer
// stays whole.
func TestAdditionalDroppedWithoutTC(t *testing.T) {
	var b strings.Builder
	b.WriteString("$TTL 60\n@ SOA ns0 hostmaster 1 2 3 4 60\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "@ NS ns%d.a-rather-long-label-to-use-space\nns%d.a-rather-long-label-to-use-space AAAA 2001:db8::%d\n", i, i, i+1)
	}
	b.WriteString("ns0 A 192.0.2.1\n")
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{dnstest.Zone(t, "ns.test.", b.String())}, nil)
	m := new(dns.Msg)
	m.SetQuestion("ns.test.", dns.TypeNS)
	r := dnstest.Exchange(t, srv.Addr, "udp", m)
	if r.Truncated || len(r.Answer) != 20 {
		t.Fatalf("TC %v, %d NS; want no TC and all 20", r.Truncated, len(r.Answer))
	}
	if len(r.Extra) >= 21 {
		t.Fatalf("all %d additional records fit in 512 bytes? the test zone is too small", len(r.Extra))
	}
}

func TestChaosIdentity(t *testing.T) {
	srv := dnstest.Start(t, "127.0.0.1:0", nil, nil)
	for _, c := range []struct {
		name  string
		rcode int
		want  string
	}{
		{"id.server.", dns.RcodeSuccess, "127.0.0.1:0"}, // host name, then the listener
		{"HOSTNAME.BIND.", dns.RcodeSuccess, "127.0.0.1:0"},
		{"version.bind.", dns.RcodeSuccess, "netsim dnsd"},
		{"authors.bind.", dns.RcodeRefused, ""},
	} {
		m := new(dns.Msg)
		m.SetQuestion(c.name, dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		r := dnstest.Exchange(t, srv.Addr, "udp", m)
		if r.Rcode != c.rcode {
			t.Errorf("%s: rcode %s", c.name, dns.RcodeToString[r.Rcode])
			continue
		}
		if c.want != "" && (len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].(*dns.TXT).Txt[0], c.want)) {
			t.Errorf("%s: answer %v, want …%s", c.name, r.Answer, c.want)
		}
	}
}

func TestEDNS(t *testing.T) {
	zs := dnstest.Embedded(t)
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)

	t.Run("DO copied, size advertised", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.SetEdns0(4096, true)
		r := dnstest.Exchange(t, srv.Addr, "udp", m)
		opt := r.IsEdns0()
		if opt == nil || !opt.Do() || opt.UDPSize() != 1232 || opt.Version() != 0 {
			t.Fatalf("OPT = %v", opt)
		}
	})
	t.Run("unknown version: BADVERS", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r := dnstest.Exchange(t, srv.Addr, "udp", m)
		if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 {
			t.Fatalf("rcode %s answers %d, want BADVERS and none", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	})
}

func TestBadInput(t *testing.T) {
	zs := dnstest.Embedded(t)
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)
	good := func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("www.example.test.", dns.TypeA); return m }
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	twoQ := good()
	twoQ.Question = append(twoQ.Question, twoQ.Question[0])
	noQ := good()
	noQ.Question = nil
	update := good()
	update.Opcode = dns.OpcodeUpdate
	notify := good()
	notify.Opcode = dns.OpcodeNotify
	resp := good()
	resp.Response = true
	chaos := good()
	chaos.Question[0].Qclass = dns.ClassCHAOS
	axfr := good()
	axfr.Question[0].Qtype = dns.TypeAXFR
	ixfr := good()
	ixfr.Question[0].Qtype = dns.TypeIXFR
	ixfr.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: "a.", Mbox: "b.", Serial: 1}}
	badOPT := good()
	badOPT.SetEdns0(1232, false)
	badOPT.IsEdns0().Hdr.Name = "example.test."
	// a name whose compression pointer points at itself
	loop := append(pack(good())[:12], 0xC0, 12, 0, 1, 0, 1)
	longName := pack(good())[:12]
	for i := 0; i < 100; i++ {
		longName = append(longName, 3, 'a', 'b', 'c')
	}
	longName = append(longName, 0, 0, 1, 0, 1)

	cases := []struct {
		name  string
		pkt   []byte
		rcode int // -1: no reply expected
	}{
		{"empty", nil, -1},
		{"runt", []byte{1, 2, 3}, -1},
		{"header only, no question", pack(noQ), dns.RcodeFormatError},
		{"two questions", pack(twoQ), dns.RcodeFormatError},
		{"truncated question", pack(good())[:20], dns.RcodeFormatError},
		{"compression loop", loop, dns.RcodeFormatError},
		{"UPDATE", pack(update), dns.RcodeNotImplemented},
		{"NOTIFY", pack(notify), dns.RcodeNotImplemented},
		{"a response", pack(resp), -1},
		{"class CHAOS, an A name", pack(chaos), dns.RcodeRefused},
		{"AXFR over UDP", pack(axfr), dns.RcodeRefused},
		{"IXFR with its SOA in authority", pack(ixfr), dns.RcodeRefused},
		{"OPT not owned by the root", pack(badOPT), dns.RcodeFormatError},
		{"name over 255 octets", longName, dns.RcodeFormatError},
		{"trailing bytes after a whole query are ignored", append(pack(good()), make([]byte, 3000)...), dns.RcodeSuccess},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wait := 5 * time.Second // a deadline for a failing test, not a speed check
			if c.rcode < 0 {
				wait = 200 * time.Millisecond
			}
			raw := dnstest.Raw(t, srv.Addr, c.pkt, wait)
			if c.rcode < 0 {
				if raw != nil {
					t.Fatalf("got a reply, want none")
				}
				return
			}
			if raw == nil {
				t.Fatal("no reply")
			}
			r := new(dns.Msg)
			if err := r.Unpack(raw); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if r.Rcode != c.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
		})
	}
	// and the server still answers
	c := dnstest.Case{Qname: "www.example.test.", Qtype: dns.TypeA, AA: true, Answer: []string{
		"www.example.test. 300 IN A 127.0.10.1", "www.example.test. 300 IN A 127.0.20.1", "www.example.test. 300 IN A 127.0.30.1"}}
	c.Check(t, dnstest.Exchange(t, srv.Addr, "udp", c.Msg()))
}

type fakeRecursor struct{ allow bool }

func (f fakeRecursor) Allowed(netip.Addr) bool                        { return f.allow }
func (f fakeRecursor) ResolveCached(_, _ *dns.Msg, _ netip.Addr) bool { return false }
func (f fakeRecursor) Resolve(_ context.Context, req, resp *dns.Msg, _ netip.Addr) {
	resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: []byte{192, 0, 2, 1}}}
}

func TestDispatch(t *testing.T) {
	zs := dnstest.Embedded(t)
	cases := []struct {
		name  string
		rec   server.Recursor
		qname string
		rcode int
		aa    bool
		ra    bool
	}{
		{"own zone, no recursion", nil, "www.example.test.", dns.RcodeSuccess, true, false},
		{"other name, no recursion", nil, "www.example.org.", dns.RcodeRefused, false, false},
		{"other name, allowed client", fakeRecursor{true}, "www.example.org.", dns.RcodeSuccess, false, true},
		{"other name, client not allowed", fakeRecursor{false}, "www.example.org.", dns.RcodeRefused, false, false},
		{"own zone still answers a refused client", fakeRecursor{false}, "www.example.test.", dns.RcodeSuccess, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := server.NewHandler("test", auth.NewSet([]*zones.Zone{zs["example.test."]}), c.rec, nil)
			m := new(dns.Msg)
			m.SetQuestion(c.qname, dns.TypeA)
			pkt, _ := m.Pack()
			out := h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), server.UDP, nil)
			r := new(dns.Msg)
			if err := r.Unpack(out); err != nil {
				t.Fatal(err)
			}
			if r.Rcode != c.rcode || r.Authoritative != c.aa || r.RecursionAvailable != c.ra {
				t.Errorf("rcode %s aa %v ra %v, want %s %v %v", dns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable,
					dns.RcodeToString[c.rcode], c.aa, c.ra)
			}
			if r.Id != m.Id {
				t.Errorf("id %d, want %d", r.Id, m.Id)
			}
		})
	}
}

// FuzzServePacket: any bytes in give a reply that parses, or no reply;
// never a panic; and a UDP reply never exceeds what the query allows:
// min(advertised, 1,232) with EDNS, 512 without (RFC 6891, RFC 1035).
func FuzzServePacket(f *testing.F) {
	zs, err := zones.LoadEmbedded()
	if err != nil {
		f.Fatal(err)
	}
	h := server.NewHandler("fuzz", auth.NewSet(append(zs, bigZone(f))), nil, nil)
	h.OnPanic = func(p any, pkt []byte) { panic(fmt.Sprintf("%v on %x", p, pkt)) }
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"alias.example.test.", dns.TypeMX}, {"x.apps.example.test.", dns.TypeANY},
		{"www.sub.example.test.", dns.TypeA}, {"nope.test.", dns.TypeNS}, {".", dns.TypeNS}, {"big.big.test.", dns.TypeTXT}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		f.Add(b)
		for _, size := range []uint16{1232, 4096, 600} {
			m.SetEdns0(size, true)
			b, _ = m.Pack()
			f.Add(b)
			m.Extra = nil
		}
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(cookies(3), &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}})
		b, _ = m.Pack()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		out := h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), server.UDP, nil)
		if out == nil {
			return
		}
		if limit := dnstest.UDPLimit(pkt); len(out) > limit {
			t.Fatalf("UDP reply of %d bytes to a query that allows %d", len(out), limit)
		}
		r := new(dns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
	})
}

type fakeGeo struct{ calls int }

func (g *fakeGeo) Manages(qname string) bool { return qname == "www.example.test." }
func (g *fakeGeo) Answer(req, resp *dns.Msg, qname string, _ netip.Addr, _ *dns.OPT) bool {
	g.calls++
	resp.Authoritative = true
	resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 20}, A: []byte{192, 0, 2, 99}}}
	return true
}

func TestGeoOnlyWhereAuthoritative(t *testing.T) {
	zs := dnstest.Embedded(t)
	cases := []struct {
		zone   string
		qname  string
		geo    bool
		answer int
	}{
		{"example.test.", "www.example.test.", true, 1},
		{"example.test.", "mail.example.test.", false, 0}, // not a geo name: the zone answers (MX asked as A: NODATA)
		{".", "www.example.test.", false, 0},              // the root only refers, even for a geo name
		{"test.", "www.example.test.", false, 0},
		{"example.test.", "alias.example.test.", true, 3}, // alias → alias2 → www: the chain's end comes from geo
	}
	for _, c := range cases {
		t.Run(c.zone+" "+c.qname, func(t *testing.T) {
			g := &fakeGeo{}
			h := server.NewHandler("t", auth.NewSet([]*zones.Zone{zs[c.zone]}), nil, nil)
			h.SetGeo(g)
			m := new(dns.Msg)
			m.SetQuestion(c.qname, dns.TypeA)
			pkt, _ := m.Pack()
			r := new(dns.Msg)
			if err := r.Unpack(h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), server.UDP, nil)); err != nil {
				t.Fatal(err)
			}
			if (g.calls > 0) != c.geo {
				t.Errorf("geo consulted %d times, want consulted=%v", g.calls, c.geo)
			}
			if c.geo {
				last, ok := r.Answer[len(r.Answer)-1].(*dns.A)
				if len(r.Answer) != c.answer || !ok || last.A.String() != "192.0.2.99" {
					t.Errorf("answer %v", r.Answer)
				}
			}
		})
	}
}

// slowRecursor answers "hit." from its cache at once and holds every
// resolution until release is closed.
type slowRecursor struct{ release chan struct{} }

func (s slowRecursor) Allowed(netip.Addr) bool { return true }
func (s slowRecursor) fill(req, resp *dns.Msg) {
	resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: []byte{192, 0, 2, 7}}}
}
func (s slowRecursor) ResolveCached(req, resp *dns.Msg, _ netip.Addr) bool {
	if req.Question[0].Name == "hit." {
		s.fill(req, resp)
		return true
	}
	return false
}
func (s slowRecursor) Resolve(ctx context.Context, req, resp *dns.Msg, _ netip.Addr) {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	s.fill(req, resp)
}

// A resolution that takes long does not hold up cache hits behind it.
func TestSlowResolutionDoesNotBlockHits(t *testing.T) {
	rec := slowRecursor{release: make(chan struct{})}
	srv := dnstest.Start(t, "127.0.0.1:0", nil, rec)
	slow := make(chan *dns.Msg, 1)
	go func() {
		m := new(dns.Msg)
		m.SetQuestion("slow.", dns.TypeA)
		m.SetEdns0(1232, false) // a pending query with EDNS
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, srv.Addr)
		if err != nil {
			t.Error(err)
		}
		slow <- r
	}()
	for i := 0; i < 20; i++ { // all answered while "slow." is still pending
		m := new(dns.Msg)
		m.SetQuestion("hit.", dns.TypeA)
		if i%2 == 1 {
			m.SetEdns0(1232, false) // the EDNS path too
		}
		r := dnstest.Exchange(t, srv.Addr, "udp", m)
		if len(r.Answer) != 1 || !r.RecursionAvailable {
			t.Fatalf("hit %d: %v", i, r)
		}
	}
	select {
	case <-slow:
		t.Fatal("the slow resolution finished before it was released")
	default:
	}
	close(rec.release)
	if r := <-slow; r == nil || len(r.Answer) != 1 {
		t.Fatalf("slow answer %v", r)
	}
}

// Pipelined TCP queries: a reply that is ready goes out before one still
// resolving (RFC 7766 §6.2.1.1).
func TestTCPPipelinedOutOfOrder(t *testing.T) {
	rec := slowRecursor{release: make(chan struct{})}
	srv := dnstest.Start(t, "127.0.0.1:0", nil, rec)
	conn, err := dns.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	slow, hit := new(dns.Msg), new(dns.Msg)
	slow.SetQuestion("slow.", dns.TypeA)
	hit.SetQuestion("hit.", dns.TypeA)
	for _, m := range []*dns.Msg{slow, hit} {
		if err := conn.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	first, err := conn.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	if first.Id != hit.Id {
		t.Fatalf("first reply is for %s; the ready one should overtake the slow one", first.Question[0].Name)
	}
	close(rec.release)
	second, err := conn.ReadMsg()
	if err != nil || second.Id != slow.Id {
		t.Fatalf("second reply %v, %v", second, err)
	}
}

func TestCookiesAndSubnetEcho(t *testing.T) {
	zs := dnstest.Embedded(t)
	srv := dnstest.Start(t, "127.0.0.1:0", []*zones.Zone{zs["example.test."]}, nil)
	ask := func(opts ...dns.EDNS0) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("mail.example.test.", dns.TypeMX)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = opts
		return dnstest.Exchange(t, srv.Addr, "udp", m)
	}
	cookieOf := func(r *dns.Msg) string {
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if c, ok := e.(*dns.EDNS0_COOKIE); ok {
					return c.Cookie
				}
			}
		}
		return ""
	}
	cc := "0102030405060708"
	r := ask(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cc})
	got := cookieOf(r)
	if r.Rcode != dns.RcodeSuccess || len(got) != 2*(8+16) || got[:16] != cc {
		t.Fatalf("rcode %s cookie %q: want the client cookie and a 16-byte server cookie", dns.RcodeToString[r.Rcode], got)
	}
	// sending it back is accepted (and refreshed)
	if r2 := ask(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: got}); r2.Rcode != dns.RcodeSuccess || cookieOf(r2)[:16] != cc {
		t.Fatalf("returning the server cookie: %s %q", dns.RcodeToString[r2.Rcode], cookieOf(r2))
	}
	for _, bad := range []string{"01020304050607", "0102030405060708" + "0102"} { // 7 bytes; 10 bytes
		if r := ask(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: bad}); r.Rcode != dns.RcodeFormatError {
			t.Errorf("cookie of %d bytes: %s, want FORMERR (RFC 7873 §5.2.2)", len(bad)/2, dns.RcodeToString[r.Rcode])
		}
	}
	// a client subnet on a name nothing tailors comes back with scope 0
	r = ask(&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("81.2.69.0").To4()})
	var sub *dns.EDNS0_SUBNET
	for _, e := range r.IsEdns0().Option {
		if s, ok := e.(*dns.EDNS0_SUBNET); ok {
			sub = s
		}
	}
	if sub == nil || sub.SourceScope != 0 || sub.SourceNetmask != 24 {
		t.Fatalf("ECS echo %v, want 81.2.69.0/24 scope 0", sub)
	}
	// and a malformed one (a scope in a query) is FORMERR
	r = ask(&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 16, Address: net.ParseIP("81.2.69.0").To4()})
	if r.Rcode != dns.RcodeFormatError {
		t.Errorf("malformed ECS: %s, want FORMERR", dns.RcodeToString[r.Rcode])
	}
}

// countingRecursor counts the queries that reach it.
type countingRecursor struct{ calls int }

func (c *countingRecursor) Allowed(netip.Addr) bool                        { return true }
func (c *countingRecursor) ResolveCached(_, _ *dns.Msg, _ netip.Addr) bool { c.calls++; return false }
func (c *countingRecursor) Resolve(_ context.Context, _, resp *dns.Msg, _ netip.Addr) {
	c.calls++
	resp.Rcode = dns.RcodeServerFailure
}

// The server validates once, before any answer source: a query the
// recursor must not see is answered without it (the answer contract).
func TestRecursorSeesOnlyValidQueries(t *testing.T) {
	for _, c := range []struct {
		name   string
		qclass uint16
		qtype  uint16
		rcode  int
	}{
		{"class ANY", dns.ClassANY, dns.TypeA, dns.RcodeRefused},
		{"class HESIOD", dns.ClassHESIOD, dns.TypeA, dns.RcodeRefused},
		{"AXFR", dns.ClassINET, dns.TypeAXFR, dns.RcodeRefused},
		{"type 0", dns.ClassINET, 0, dns.RcodeFormatError},
		{"TSIG", dns.ClassINET, dns.TypeTSIG, dns.RcodeFormatError},
		{"a valid query", dns.ClassINET, dns.TypeA, dns.RcodeServerFailure},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &countingRecursor{}
			h := server.NewHandler("t", nil, rec, nil)
			m := new(dns.Msg)
			m.SetQuestion("www.example.org.", c.qtype)
			m.Question[0].Qclass = c.qclass
			pkt, _ := m.Pack()
			r := new(dns.Msg)
			if err := r.Unpack(h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), server.UDP, nil)); err != nil {
				t.Fatal(err)
			}
			if r.Rcode != c.rcode || r.Id != m.Id || !r.RecursionAvailable {
				t.Errorf("rcode %s id %d ra %v, want %s, id %d, RA", dns.RcodeToString[r.Rcode], r.Id, r.RecursionAvailable, dns.RcodeToString[c.rcode], m.Id)
			}
			if want := c.rcode == dns.RcodeServerFailure; (rec.calls > 0) != want {
				t.Errorf("recursor asked %d times, want asked=%v", rec.calls, want)
			}
		})
	}
}
