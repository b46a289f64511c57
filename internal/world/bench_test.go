package world

import (
	"net/netip"
	"testing"
)

// BenchmarkPath: the per-packet cost a DNS listener pays. Flat (nil or
// world: off) it is one branch; on, a snapshot load, two prefix scans and
// two draws. None allocates.
func BenchmarkPath(b *testing.B) {
	on := testWorld(b, "", Options{})
	off := testWorld(b, "world: off", Options{})
	unseeded, _ := New(Config{}, Options{})
	client, server := netip.MustParseAddr("127.0.10.5"), netip.MustParseAddr("127.0.30.1")
	for _, bc := range []struct {
		name string
		w    *World
	}{{"nil", nil}, {"off", off}, {"on", on}, {"on-unseeded", unseeded}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.w.Path(client, server)
			}
		})
	}
}
