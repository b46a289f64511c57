package server

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/rrl"
	"netsim/internal/testutil"
)

func rrlHandler(t *testing.T, rate, slip int) (*Handler, *testutil.Clock) {
	t.Helper()
	h, _ := packedHandlers(t, nil)
	clk := testutil.NewClock(time.Unix(1_800_000_000, 0))
	cfg := rrl.DefaultConfig()
	cfg.ResponsesPerSecond, cfg.NXDomainsPerSecond, cfg.ErrorsPerSecond, cfg.ReferralsPerSecond, cfg.Slip = rate, rate, rate, rate, slip
	l, err := rrl.New(cfg, false, rrl.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	h.SetRRL(l)
	return h, clk
}

func query(name string, qtype uint16, opts ...dns.EDNS0) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 4242
	if opts != nil {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = opts
	}
	b, _ := m.Pack()
	return b
}

// verdict of one reply: "answer", "slip" or "drop".
func verdict(t *testing.T, b []byte) (string, *dns.Msg) {
	t.Helper()
	if b == nil {
		return "drop", nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	if m.Truncated {
		return "slip", m
	}
	return "answer", m
}

// The packed way and the full way count a reply in the same account: a
// name answered both ways (the full way for queries with a Client Subnet
// option) gets the rate once, not twice; NXDOMAIN for random names is one
// account per zone; errors one per prefix; TCP is never counted.
func TestRRLBothWaysOneAccount(t *testing.T) {
	client := netip.MustParseAddr("127.0.50.1")
	ecsOpt := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}}
	for _, tc := range []struct {
		name  string
		pkt   func(i int) []byte
		proto Protocol
		want  int // answered of 20
	}{
		{"www A, packed and full way alternately", func(i int) []byte {
			if i%2 == 0 {
				return query("www.example.test.", dns.TypeA)
			}
			return query("www.example.test.", dns.TypeA, ecsOpt)
		}, UDP, 5},
		{"random NXDOMAIN names, one zone", func(i int) []byte { return query(fmt.Sprintf("nx%d.example.test.", i), dns.TypeA) }, UDP, 5},
		{"REFUSED for names of no zone", func(i int) []byte { return query(fmt.Sprintf("n%d.other.", i), dns.TypeA) }, UDP, 5},
		{"a referral, both ways", func(i int) []byte {
			if i%2 == 0 {
				return query("www.sub.example.test.", dns.TypeA)
			}
			return query("www.sub.example.test.", dns.TypeA, ecsOpt)
		}, UDP, 5},
		{"TCP is not limited", func(i int) []byte { return query("www.example.test.", dns.TypeA) }, TCP, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := rrlHandler(t, 5, 0)
			answered := 0
			for i := 0; i < 20; i++ {
				v, _ := verdict(t, h.ServePacket(context.Background(), tc.pkt(i), client, tc.proto, make([]byte, 0, 1232)))
				if v == "answer" {
					answered++
				}
			}
			if answered != tc.want {
				t.Errorf("%d of 20 answered, want %d", answered, tc.want)
			}
		})
	}
}

// A slip is the query's header and question with QR and TC, no records,
// and the client's cookie with a fresh server cookie, the same from the
// packed way and the full way; a valid cookie is never limited.
func TestRRLSlipAndCookie(t *testing.T) {
	client := netip.MustParseAddr("127.0.50.2")
	cc := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}
	ecsOpt := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}}
	h, _ := rrlHandler(t, 1, 1)
	serve := func(pkt []byte) (string, *dns.Msg) {
		return verdict(t, h.ServePacket(context.Background(), pkt, client, UDP, make([]byte, 0, 1232)))
	}
	if v, _ := serve(query("Www.Example.Test.", dns.TypeA, cc)); v != "answer" {
		t.Fatalf("first query: %s, want an answer", v)
	}
	v, packed := serve(query("Www.Example.Test.", dns.TypeA, cc))
	if v != "slip" {
		t.Fatalf("second query at rate 1, slip 1: %s, want a slip", v)
	}
	v, full := serve(query("Www.Example.Test.", dns.TypeA, cc, ecsOpt))
	if v != "slip" {
		t.Fatalf("full way, third query: %s, want a slip", v)
	}
	for way, m := range map[string]*dns.Msg{"packed": packed, "full": full} {
		if m.Id != 4242 || !m.Response || len(m.Answer)+len(m.Ns) != 0 || len(m.Question) != 1 || m.Question[0].Name != "Www.Example.Test." {
			t.Errorf("%s slip: %v, want ID 4242, QR, TC, the question as asked and no records", way, m)
		}
		opt := m.IsEdns0()
		if opt == nil || len(opt.Option) != 1 || opt.Option[0].Option() != dns.EDNS0COOKIE {
			t.Fatalf("%s slip: OPT %v, want the cookie alone", way, opt)
		}
	}
	// the slip's server cookie makes the client exempt
	back := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: packed.IsEdns0().Option[0].(*dns.EDNS0_COOKIE).Cookie}
	for i := 0; i < 20; i++ {
		pkt := query("www.example.test.", dns.TypeA, back)
		if i%2 == 1 {
			pkt = query("www.example.test.", dns.TypeA, back, ecsOpt)
		}
		if v, _ := serve(pkt); v != "answer" {
			t.Fatalf("query %d with a valid server cookie: %s, want an answer", i, v)
		}
	}
	// a forged server cookie is not
	forged := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708" + "01000000" + "00000000" + "0000000000000000"}
	if v, _ := serve(query("www.example.test.", dns.TypeA, forged)); v == "answer" {
		t.Errorf("a forged server cookie was answered past the rate")
	}
}

// Without a limiter the packed path still allocates nothing, and with one
// neither (TestPackedNoAllocation covers the former).
func TestRRLPackedNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool and the race detector allocate")
	}
	h, clk := rrlHandler(t, 1000, 2)
	pkt := query("mail.example.test.", dns.TypeMX)
	out := make([]byte, 0, 1232)
	client := netip.MustParseAddr("127.0.50.3")
	h.ServePacket(context.Background(), pkt, client, UDP, out)
	if n := testing.AllocsPerRun(200, func() {
		h.ServePacket(context.Background(), pkt, client, UDP, out)
		clk.Advance(time.Millisecond)
	}); n != 0 {
		t.Errorf("%.0f allocations per rate-limited packed answer, want 0", n)
	}
}

// The packed path with a rate limiter counting every answer (within the
// rate: a limiter that says yes costs its Check).
func BenchmarkServePacketRRL(b *testing.B) {
	h, _ := packedHandlers(b, nil)
	cfg := rrl.DefaultConfig()
	cfg.ResponsesPerSecond = 1_000_000
	l, _ := rrl.New(cfg, false)
	h.SetRRL(l)
	pkt := query("www.example.test.", dns.TypeA)
	out := make([]byte, 0, 1232)
	client := netip.MustParseAddr("127.0.50.1")
	b.ReportAllocs()
	for b.Loop() {
		h.ServePacket(context.Background(), pkt, client, UDP, out)
	}
}
