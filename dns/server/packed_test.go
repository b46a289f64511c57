package server

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/auth"
	"netsim/zones"
)

// The shard tables grow while readers search them without a lock, and
// start again empty past the byte bound: every answer put is found under
// its key until then, no other key finds it, a signed answer is replaced
// and an unsigned one kept.
func TestPackedTable(t *testing.T) {
	c := newPackedCache(auth.NewSet(nil))
	key := func(i int) []byte { return []byte(fmt.Sprintf("\x05name%d\x00\x00\x01\x00\x01\x00", i)) }
	const n = 2000 // past minSlots/2 in every shard: each grows several times
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ { // readers meanwhile, for the race detector
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := key(i % n)
				if a := c.get(k, c.hash(k)); a != nil && a.key != string(k) {
					t.Errorf("get %q found the answer of %q", k, a.key)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		k := key(i)
		c.put(k, c.hash(k), &packedAnswer{name: fmt.Sprint(i)})
	}
	close(stop)
	wg.Wait()
	for i := 0; i < n; i++ {
		k := key(i)
		if a := c.get(k, c.hash(k)); a == nil || a.name != fmt.Sprint(i) {
			t.Fatalf("key %d: %v, want the answer put", i, a)
		}
	}
	if k := key(n); c.get(k, c.hash(k)) != nil {
		t.Fatal("a key never put was found")
	}
	k := key(1)
	c.put(k, c.hash(k), &packedAnswer{name: "again"})
	if a := c.get(k, c.hash(k)); a.name != "1" {
		t.Fatalf("an unsigned answer was replaced by %q", a.name)
	}
	c.put(key(n+1), c.hash(key(n+1)), &packedAnswer{name: "s", signed: true})
	c.put(key(n+1), c.hash(key(n+1)), &packedAnswer{name: "s2", signed: true})
	if a := c.get(key(n+1), c.hash(key(n+1))); a.name != "s2" {
		t.Fatalf("a signed answer was kept (%q); want it replaced", a.name)
	}

	// the byte bound: a shard that fills starts again empty
	small := newPackedCache(auth.NewSet(nil))
	small.maxBytes = 10 * (len(key(0)) + entryOverhead + 1)
	for i := 0; i < 200; i++ {
		k := key(i)
		small.put(k, small.hash(k), &packedAnswer{name: "x"})
	}
	for i := range small.shards {
		s := &small.shards[i]
		if tab := s.tab.Load(); tab != nil && (s.bytes > small.maxBytes || tab.n > 10) {
			t.Errorf("shard %d holds %d answers, %d bytes; bound %d bytes", i, tab.n, s.bytes, small.maxBytes)
		}
	}
	if k := key(199); small.get(k, small.hash(k)) == nil {
		t.Error("the last answer put is not found after a shard started again")
	}
}

// BenchmarkReaderBatch is what a UDP reader does per answer, without the
// sockets: bench/dns-auth.sh's mix of queries answered from packed
// answers a batch at a time, counted in a tally and observed once a
// batch (one clock reading), as serveUDP does.
func BenchmarkReaderBatch(b *testing.B) {
	zs, err := zones.LoadEmbedded()
	if err != nil {
		b.Fatal(err)
	}
	h := NewHandler("bench", auth.NewSet(zs), nil, NewMetrics(prometheus.NewRegistry()))
	client := netip.MustParseAddr("127.0.0.1")
	var pkts [][]byte
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.test.", dns.TypeA}, {"mail.example.test.", dns.TypeMX}, {"www.example.test.", dns.TypeAAAA},
		{"alias.example.test.", dns.TypeA}, {"ext.example.test.", dns.TypeCNAME}, {"example.test.", dns.TypeNS},
		{"info.example.test.", dns.TypeTXT}, {"nx123.example.test.", dns.TypeA}, {"h42.apps.example.test.", dns.TypeA},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, false)
		p, _ := m.Pack()
		pkts = append(pkts, p)
	}
	out := make([][]byte, batch)
	for i := range out {
		out[i] = make([]byte, 0, maxUDPSize)
	}
	var tl tally
	tl.start = time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r, done := h.tryServe(pkts[i%len(pkts)], client, UDP, out[i%batch], tl.start, &tl); r == nil || !done {
			b.Fatal("no reply")
		}
		if i++; i%batch == 0 {
			h.metrics.observeBatch(h.sm, h.Name, UDP, &tl)
			tl.start = time.Now()
		}
	}
}
