package server_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/server"
	"netsim/zones"
)

// embeddedHandler answers from the demo hierarchy's zones, with metrics
// registered nowhere.
func embeddedHandler(t testing.TB) *server.Handler {
	t.Helper()
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	return server.NewHandler("embedded", auth.NewSet(zs), nil, server.NewMetrics(nil))
}

// BenchmarkServePacket measures the whole query path without sockets:
// unpack, lookup, answer, pack.
func BenchmarkServePacket(b *testing.B) {
	h := embeddedHandler(b)
	client := netip.MustParseAddr("127.0.0.1")
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.test.", dns.TypeA},
		{"mail.example.test.", dns.TypeMX},
		{"alias.example.test.", dns.TypeA},
		{"nope.example.test.", dns.TypeA},
		{"x.apps.example.test.", dns.TypeA},
		{"www.sub.example.test.", dns.TypeA},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, false)
		pkt, _ := m.Pack()
		b.Run(q.name+dns.TypeToString[q.qtype], func(b *testing.B) {
			out := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				if h.ServePacket(context.Background(), pkt, client, server.UDP, out) == nil {
					b.Fatal("no reply")
				}
			}
		})
	}
}
