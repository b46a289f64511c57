package server_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"netsim/dns/auth"
	"netsim/dns/server"
	"netsim/internal/events"
	"netsim/zones"
)

func eventHandler(t testing.TB) (*server.Handler, *events.Bus) {
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	var ex []*zones.Zone
	for _, z := range zs {
		if z.Origin == "example.test." {
			ex = append(ex, z)
		}
	}
	h := server.NewHandler("127.0.3.1:1053", auth.NewSet(ex), nil, server.NewMetrics(nil))
	bus := events.New(events.Options{})
	h.SetEvents(bus)
	return h, bus
}

func query(t testing.TB, name string, qtype uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	pkt, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return pkt
}

func TestQueryEvent(t *testing.T) {
	h, bus := eventHandler(t)
	sub := bus.Subscribe("dns.query")
	defer sub.Close()
	client := netip.MustParseAddr("127.0.0.9")
	cases := []struct {
		name   string
		qtype  uint16
		rcode  string
		source string
		answer string
	}{
		{"www.example.test.", dns.TypeA, "NOERROR", "auth", "127.0.20.1"},
		{"nope.example.test.", dns.TypeA, "NXDOMAIN", "auth", ""},
		{"www.elsewhere.", dns.TypeA, "REFUSED", "refused", ""},
		{"example.test.", dns.TypeAXFR, "REFUSED", "refused", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if h.ServePacket(context.Background(), query(t, c.name, c.qtype), client, server.TCP, nil) == nil {
				t.Fatal("no reply")
			}
			if len(sub.C()) != 1 {
				t.Fatalf("%d events after one query, want 1", len(sub.C()))
			}
			e := queryEvent(t, <-sub.C())
			if e.Server != "127.0.3.1:1053" || e.Client.String() != "127.0.0.9" || e.Name != c.name || e.QType != dns.TypeToString[c.qtype] ||
				e.RCode != c.rcode || e.Proto != "tcp" || e.Source != c.source || e.Size == 0 {
				t.Fatalf("event %+v", e)
			}
			if c.answer != "" && !slices.Contains(e.Answers(), c.answer) {
				t.Fatalf("answers %v, want %s among them", e.Answers(), c.answer)
			}
		})
	}
	// a malformed query is reported too, as an error
	h.ServePacket(context.Background(), []byte{0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 1}, client, server.UDP, nil)
	if e := queryEvent(t, <-sub.C()); e.Source != "error" || e.RCode != "FORMERR" {
		t.Fatalf("malformed query: %+v", e)
	}
}

// queryEvent is the dns.query event of m, decoded when the packed path
// published it.
func queryEvent(t *testing.T, m events.Message) *server.QueryEvent {
	t.Helper()
	switch e := m.Event.(type) {
	case *server.QueryEvent:
		return e
	case *server.PackedQueryEvent:
		return e.Query()
	}
	t.Fatalf("event %T, want a dns.query", m.Event)
	return nil
}

// With a bus but nobody subscribed, the query path allocates what it
// allocates without a bus.
func TestNoSubscriberNoAllocation(t *testing.T) {
	h, _ := eventHandler(t)
	plain := embeddedHandler(t)
	pkt := query(t, "www.example.test.", dns.TypeA)
	out := make([]byte, 0, 4096)
	client := netip.MustParseAddr("127.0.0.1")
	with := testing.AllocsPerRun(200, func() { h.ServePacket(context.Background(), pkt, client, server.UDP, out) })
	without := testing.AllocsPerRun(200, func() { plain.ServePacket(context.Background(), pkt, client, server.UDP, out) })
	if with != without {
		t.Fatalf("allocs per query: %v with an idle bus, %v without", with, without)
	}
}

func TestQueryLogSwitchAndSample(t *testing.T) {
	h, _ := eventHandler(t)
	core, logs := observer.New(zapcore.InfoLevel)
	ql := server.NewQueryLog(zap.New(core))
	h.SetQueryLog(ql)
	pkt := query(t, "www.example.test.", dns.TypeA)
	client := netip.MustParseAddr("127.0.0.1")
	serve := func(n int) {
		for i := 0; i < n; i++ {
			h.ServePacket(context.Background(), pkt, client, server.UDP, nil)
		}
	}
	serve(10)
	if logs.Len() != 0 {
		t.Fatalf("query log off by default, but %d lines", logs.Len())
	}
	ql.Set(server.QueryLogSettings{Enabled: true, Sample: 1})
	serve(10)
	if logs.Len() != 10 {
		t.Fatalf("sample 1: %d lines for 10 queries", logs.Len())
	}
	line := logs.All()[0].ContextMap()
	if line["name"] != "www.example.test." || line["qtype"] != "A" || line["rcode"] != "NOERROR" || line["client"] != "127.0.0.1" {
		t.Fatalf("line %v", line)
	}
	ql.Set(server.QueryLogSettings{Enabled: true, Sample: 0.25})
	serve(100)
	if n := logs.Len() - 10; n != 25 {
		t.Fatalf("sample 0.25: %d lines for 100 queries, want 25", n)
	}
	ql.Set(server.QueryLogSettings{Enabled: false, Sample: 1})
	serve(10)
	if n := logs.Len(); n != 35 {
		t.Fatalf("switched off: %d lines, want still 35", n)
	}
}
