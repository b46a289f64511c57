package geo

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
	"netsim/internal/testutil"
)

// miniServer is the smallest authoritative server that wires a Hook the
// way dns/server does: build the reply and its OPT, let the hook answer,
// otherwise answer from "zone" records.
type miniServer struct {
	hook *Hook
	zone map[string][]dns.RR
}

func (s *miniServer) handle(req *dns.Msg, client netip.Addr) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	var ropt *dns.OPT
	if req.IsEdns0() != nil {
		ropt = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		ropt.SetUDPSize(1232)
		defer func() { resp.Extra = append(resp.Extra, ropt) }()
	}
	q := req.Question[0]
	qname := strings.ToLower(q.Name)
	if s.hook.Answer(req, resp, qname, client, ropt) {
		return resp
	}
	resp.Authoritative = true
	for _, rr := range s.zone[qname] {
		if rr.Header().Rrtype == q.Qtype {
			resp.Answer = append(resp.Answer, rr)
		}
	}
	return resp
}

func (s *miniServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	ap, _ := netip.ParseAddrPort(w.RemoteAddr().String())
	_ = w.WriteMsg(s.handle(req, ap.Addr()))
}

func startMini(t *testing.T, h *Hook) string {
	t.Helper()
	ms := &miniServer{hook: h, zone: map[string][]dns.RR{}}
	rr, _ := dns.NewRR("plain.example.test. 300 IN A 127.0.0.9")
	ms.zone["plain.example.test."] = []dns.RR{rr}
	return testutil.ServeDNS(t, ms)
}

func TestHookOverTheWire(t *testing.T) {
	e, err := New(wwwConfig(), demoLocator(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startMini(t, NewHook(e))
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		subnet string // "" no ECS
		want   string // first answer address
		scope  int    // -1: no ECS option expected in the reply
	}{
		{"ECS 81.2.69.142/32 -> EU with scope 31", "www.example.test.", dns.TypeA, "81.2.69.142/32", "127.0.10.1", 31},
		{"ECS NA /24 -> NA with scope 24", "www.example.test.", dns.TypeA, "127.0.20.0/24", "127.0.20.1", 24},
		{"no ECS: source 127.0.0.1 -> default", "www.example.test.", dns.TypeA, "", "127.0.0.80", -1},
		{"mixed case keeps its case", "WwW.Example.Test.", dns.TypeA, "127.0.30.0/24", "127.0.30.1", 24},
		{"plain name from the zone", "plain.example.test.", dns.TypeA, "127.0.20.0/24", "127.0.0.9", -1},
	}
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tt.qname, tt.qtype)
			m.SetEdns0(1232, false)
			if tt.subnet != "" {
				m.IsEdns0().Option = append(m.IsEdns0().Option, ecs.Option(netip.MustParsePrefix(tt.subnet)))
			}
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				t.Fatalf("reply %s", r)
			}
			a := r.Answer[0].(*dns.A)
			if a.A.String() != tt.want || a.Hdr.Name != tt.qname {
				t.Fatalf("answer %s, want %s owned by %s", a, tt.want, tt.qname)
			}
			got := ecs.Find(r)
			switch {
			case tt.scope < 0 && got != nil:
				t.Fatalf("unexpected ECS in reply: %v", got)
			case tt.scope >= 0 && (got == nil || int(got.SourceScope) != tt.scope):
				t.Fatalf("reply ECS %v, want scope %d", got, tt.scope)
			}
		})
	}
	// A malformed option is FORMERR.
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 24, Address: net.ParseIP("81.2.69.0")})
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeFormatError {
		t.Fatalf("scope set in query: rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
	}
}

// TestDig runs the commands with dig itself when it is installed:
// -b picks the "region" by source address, +subnet sends ECS.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("skipped: dig not installed (apt-get install dnsutils)")
	}
	e, err := New(wwwConfig(), demoLocator(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startMini(t, NewHook(e))
	host, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"client in Europe", []string{"-b", "127.0.10.5", "www.example.test", "A"}, []string{"127.0.10.1"}},
		{"client in North America", []string{"-b", "127.0.20.5", "www.example.test", "A"}, []string{"127.0.20.1"}},
		{"ECS from MaxMind's test data", []string{"www.example.test", "A", "+subnet=81.2.69.142/32"}, []string{"127.0.10.1", "CLIENT-SUBNET: 81.2.69.142/32/31"}},
		{"ECS opt-out", []string{"www.example.test", "A", "+subnet=0.0.0.0/0"}, []string{"127.0.0.80", "CLIENT-SUBNET: 0.0.0.0/0/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append([]string{"@" + host, "-p", port, "+tries=2", "+time=3"}, tt.args...)
			out, err := exec.CommandContext(ctx, dig, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("dig %v: %v\n%s", args, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("dig %v output lacks %q:\n%s", args, w, out)
				}
			}
		})
	}
}

// BenchmarkWire compares a plain zone answer with a geo answer with ECS
// through unpack → answer → pack, the per-query work of a server minus
// the socket.
func BenchmarkWire(b *testing.B) {
	e, err := New(wwwConfig(), demoLocator(b), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ms := &miniServer{hook: NewHook(e), zone: map[string][]dns.RR{}}
	rr, _ := dns.NewRR("plain.example.test. 300 IN A 127.0.0.9")
	ms.zone["plain.example.test."] = []dns.RR{rr}
	for _, c := range []struct{ name, qname, subnet string }{
		{"plain", "plain.example.test.", "81.2.69.0/24"},
		{"geo-ecs", "www.example.test.", "81.2.69.0/24"},
	} {
		m := new(dns.Msg)
		m.SetQuestion(c.qname, dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, ecs.Option(netip.MustParsePrefix(c.subnet)))
		wire, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		client := netip.MustParseAddr("127.0.0.1")
		buf := make([]byte, 0, 1232)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := new(dns.Msg)
				if err := req.Unpack(wire); err != nil {
					b.Fatal(err)
				}
				resp := ms.handle(req, client)
				if _, err := resp.PackBuffer(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
