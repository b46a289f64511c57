package worldtest

import (
	"net/netip"
	"testing"
)

func TestPair(t *testing.T) {
	w := Pair(t, "0")
	client, server := netip.MustParseAddr("127.0.60.5"), netip.MustParseAddr("127.0.61.1")
	if d, drop := w.OneWay(client, server); d != OneWay || drop {
		t.Fatalf("OneWay = %v, drop %v; want %v, no drop", d, drop, OneWay)
	}
	if d, _ := w.OneWay(netip.MustParseAddr("127.0.0.1"), server); d != 0 {
		t.Fatalf("127.0.0.1 is %v from the server, want no distance", d)
	}
	if _, drop := Pair(t, "100").OneWay(client, server); !drop {
		t.Fatal("loss 100%: a packet got through")
	}
}
