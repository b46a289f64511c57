package server_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"netsim/internal/events"
)

// BenchmarkServePacketEvents is BenchmarkServePacket's first query with
// the event bus idle, and with one subscriber that reads everything.
func BenchmarkServePacketEvents(b *testing.B) {
	client := netip.MustParseAddr("127.0.0.1")
	run := func(b *testing.B, sub func(*events.Bus) func()) {
		h, bus := eventHandler(b)
		stop := sub(bus)
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.SetEdns0(1232, false)
		pkt, _ := m.Pack()
		out := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			if h.ServePacket(context.Background(), pkt, client, 0, out) == nil {
				b.Fatal("no reply")
			}
		}
		b.StopTimer()
		stop()
		b.ReportMetric(float64(bus.Dropped()), "dropped")
	}
	b.Run("idle", func(b *testing.B) { run(b, func(*events.Bus) func() { return func() {} }) })
	b.Run("reader", func(b *testing.B) {
		run(b, func(bus *events.Bus) func() { return events.ReadAll(b, bus) })
	})
}
