package resolver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
	"netsim/internal/testutil"
)

// geoHook answers www.example.test A by the ECS subnet like a GeoDNS
// server: 127.0.10.0/24 → 127.0.10.1, 127.0.20.0/24 → 127.0.20.1, anyone
// else → 192.0.2.99, echoing the option with the scope of the network the
// decision holds for. It records the subnets it was sent.
type geoHook struct {
	mu   sync.Mutex
	seen []string
	// mangle, when set, changes the echoed option (a broken server)
	mangle func(o *dns.EDNS0_SUBNET)
}

func (g *geoHook) hook(req *dns.Msg, _ bool) (*dns.Msg, bool) {
	q := req.Question[0]
	q.Name = strings.ToLower(q.Name) // 0x20
	o := ecs.Find(req)
	g.mu.Lock()
	if o != nil {
		g.seen = append(g.seen, q.Name+" "+o.Address.String()+"/"+itoa8(o.SourceNetmask))
	} else {
		g.seen = append(g.seen, q.Name+" none")
	}
	g.mu.Unlock()
	if !strings.EqualFold(q.Name, "www.example.test.") || q.Qtype != dns.TypeA {
		return nil, false // the zone's own answer, without ECS
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	addr, scope := "192.0.2.99", uint8(16)
	if o != nil {
		a, _ := netip.AddrFromSlice(o.Address)
		switch {
		case netip.MustParsePrefix("127.0.10.0/24").Contains(a.Unmap()):
			addr, scope = "127.0.10.1", 24
		case netip.MustParsePrefix("127.0.20.0/24").Contains(a.Unmap()):
			addr, scope = "127.0.20.1", 24
		}
	}
	m.Answer = []dns.RR{mustRR("www.example.test. 300 IN A " + addr)}
	if o != nil {
		reply := ecs.Reply(o, scope)
		if g.mangle != nil {
			g.mangle(reply)
		}
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, reply)
	}
	return m, false
}

func (g *geoHook) sent() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...)
}

func itoa8(n uint8) string { return net.IPv4(0, 0, 0, n).String()[6:] }

func ecsQuery(name, subnet string) *dns.Msg {
	m := query(name, dns.TypeA)
	m.SetEdns0(1232, false)
	if subnet != "" {
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, ecs.Option(netip.MustParsePrefix(subnet)))
	}
	return m
}

func TestECSSubnetsGetTheirOwnAnswers(t *testing.T) {
	w := embeddedWorld(t)
	g := &geoHook{}
	w.servers["127.0.3.1"].setHook(g.hook)
	w.servers["127.0.3.2"].setHook(g.hook)
	r, _ := newTestResolver(t, w, "127.0.1.1", nil)
	auth := func() int {
		return w.servers["127.0.3.1"].count("www.example.test.", dns.TypeA) + w.servers["127.0.3.2"].count("www.example.test.", dns.TypeA)
	}
	cases := []struct {
		name      string
		client    string
		req       *dns.Msg
		want      string
		upstreams int // auth queries for www so far
	}{
		{"eu client", "127.0.10.5", query("www.example.test", dns.TypeA), "127.0.10.1", 1},
		{"na client is not served the eu answer", "127.0.20.5", query("www.example.test", dns.TypeA), "127.0.20.1", 2},
		{"another eu client: from cache", "127.0.10.77", query("www.example.test", dns.TypeA), "127.0.10.1", 2},
		{"another na client: from cache", "127.0.20.200", query("www.example.test", dns.TypeA), "127.0.20.1", 2},
		{"client's own ecs option decides", "127.0.0.1", ecsQuery("www.example.test", "127.0.20.0/24"), "127.0.20.1", 2},
		{"elsewhere: default, scope /16", "127.0.30.5", query("www.example.test", dns.TypeA), "192.0.2.99", 3},
		{"same /16: from cache", "127.0.31.5", query("www.example.test", dns.TypeA), "192.0.2.99", 3},
		{"eu again after the default was cached", "127.0.10.9", query("www.example.test", dns.TypeA), "127.0.10.1", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := r.Answer(context.Background(), tc.req, netip.MustParseAddr(tc.client))
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != tc.want {
				t.Fatalf("answer %v, want %s", m.Answer, tc.want)
			}
			if auth() != tc.upstreams {
				t.Fatalf("%d upstream queries for www, want %d", auth(), tc.upstreams)
			}
		})
	}
	sent := strings.Join(g.sent(), "\n")
	for _, s := range []string{"www.example.test. 127.0.10.0/24", "www.example.test. 127.0.20.0/24", "www.example.test. 127.0.30.0/24"} {
		if !strings.Contains(sent, s) {
			t.Errorf("authoritative server was not sent %q; it saw:\n%s", s, sent)
		}
	}
	if strings.Contains(sent, "127.0.10.5") {
		t.Error("a full client address was sent upstream")
	}

	t.Run("unscoped answers are shared", func(t *testing.T) {
		r.Answer(context.Background(), query("mx1.example.test", dns.TypeA), netip.MustParseAddr("127.0.10.5"))
		r.Answer(context.Background(), query("mx1.example.test", dns.TypeA), netip.MustParseAddr("127.0.20.5"))
		n := w.servers["127.0.3.1"].count("mx1.example.test.", dns.TypeA) + w.servers["127.0.3.2"].count("mx1.example.test.", dns.TypeA)
		if n != 1 {
			t.Fatalf("%d upstream queries for a name without ECS scope, want 1", n)
		}
	})
	t.Run("malformed client option", func(t *testing.T) {
		m := query("www.example.test", dns.TypeA)
		m.SetEdns0(1232, false)
		bad := ecs.Option(netip.MustParsePrefix("127.0.10.0/24"))
		bad.SourceNetmask = 40 // longer than an IPv4 address
		m.IsEdns0().Option = append(m.IsEdns0().Option, bad)
		if got := r.Answer(context.Background(), m, loopback); got.Rcode != dns.RcodeFormatError {
			t.Fatalf("rcode %s, want FORMERR", dns.RcodeToString[got.Rcode])
		}
	})
	t.Run("trace from a client shows the subnet and scope", func(t *testing.T) {
		res, err := r.TraceFrom(context.Background(), "www.example.test", dns.TypeA, netip.MustParseAddr("127.0.20.5"))
		if err != nil || res.Rcode != "NOERROR" || res.Scope != "127.0.20.0/24" {
			t.Fatalf("%v %+v", err, res)
		}
		last := res.Hops[len(res.Hops)-1]
		if last.ECS != "sent 127.0.20.0/24, scope /24" {
			t.Fatalf("hop ECS %q", last.ECS)
		}
	})
}

func TestECSPolicy(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(*Config)
		mangle func(*dns.EDNS0_SUBNET)
		rcode  int
		sent   string // substring of what the auth server saw for www
	}{
		{"not sent outside send_to", func(c *Config) { c.ECS.SendTo = []string{"10.0.0.0/8"} }, nil, dns.RcodeSuccess, "www.example.test. none"},
		{"not sent for an excluded zone", func(c *Config) { c.ECS.ExcludeZones = []string{"example.test"} }, nil, dns.RcodeSuccess, "www.example.test. none"},
		{"off", func(c *Config) { c.ECS.Enabled = false }, nil, dns.RcodeSuccess, "www.example.test. none"},
		{"shorter prefix", func(c *Config) { c.ECS.IPv4Prefix = 16 }, nil, dns.RcodeSuccess, "www.example.test. 127.0.0.0/16"},
		{"reply echoes another address: dropped", nil, func(o *dns.EDNS0_SUBNET) { o.Address = net.IPv4(127, 0, 99, 0).To4() }, dns.RcodeServerFailure, "127.0.10.0/24"},
		{"reply changes the source length: dropped", nil, func(o *dns.EDNS0_SUBNET) { o.SourceNetmask = 16 }, dns.RcodeServerFailure, "127.0.10.0/24"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := embeddedWorld(t)
			g := &geoHook{mangle: tc.mangle}
			w.servers["127.0.3.1"].setHook(g.hook)
			w.servers["127.0.3.2"].setHook(g.hook)
			r, _ := newTestResolver(t, w, "127.0.1.1", tc.mod)
			m := r.Answer(context.Background(), query("www.example.test", dns.TypeA), netip.MustParseAddr("127.0.10.5"))
			if m.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if sent := strings.Join(g.sent(), "\n"); !strings.Contains(sent, tc.sent) {
				t.Fatalf("auth server saw:\n%s\nwant %q", sent, tc.sent)
			}
			if tc.rcode == dns.RcodeServerFailure && testutil.Value(t, r.m.dropped.WithLabelValues("ecs")) == 0 {
				t.Fatal("mismatched ECS replies not counted")
			}
		})
	}
}
