package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"netsim/dns/auth"
	"netsim/internal/testutil"
	"netsim/zones"
)

// A UDP reader counts a batch's packed answers at once (tally,
// observeBatch): every answer is still in dnsd_responses_total under its
// rcode and in dnsd_request_duration_seconds, over UDP and TCP, packed
// or answered the full way.
func TestMetricsCountEveryAnswer(t *testing.T) {
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l, err := serveOn(t, "127.0.0.1:0", NewHandler("m", auth.NewSet(zs), nil, NewMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}

	c, err := net.Dial("udp", l.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queries := []struct {
		name  string
		qtype uint16
		class uint16
	}{
		{"www.example.test.", dns.TypeA, dns.ClassINET},    // packed, rotating
		{"nope.example.test.", dns.TypeA, dns.ClassINET},   // packed NXDOMAIN
		{"www.example.test.", dns.TypeA, dns.ClassCHAOS},   // the full way: REFUSED/NOTIMP-like
		{"mail.example.test.", dns.TypeMX, dns.ClassINET},  // packed, with additional records
		{"www.other.test.", dns.TypeA, dns.ClassINET},      // not ours, no recursion: REFUSED the full way
		{"alias.example.test.", dns.TypeA, dns.ClassINET},  // packed CNAME chain
		{"x.apps.example.test.", dns.TypeA, dns.ClassINET}, // packed wildcard
	}
	const rounds = 40 // bursts of 7 queries: readers see batches of several
	want := map[string]float64{}
	buf := make([]byte, 4096)
	for r := 0; r < rounds; r++ {
		for i, q := range queries {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.Question[0].Qclass = q.class
			m.Id = uint16(r*len(queries) + i)
			pkt, _ := m.Pack()
			if _, err := c.Write(pkt); err != nil {
				t.Fatal(err)
			}
		}
		for range queries {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
			var reply dns.Msg
			if err := reply.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			want[dns.RcodeToString[reply.Rcode]]++
		}
	}
	// one TCP query: the other protocol's series
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	if _, _, err := (&dns.Client{Net: "tcp"}).Exchange(m, l.Addr); err != nil {
		t.Fatal(err)
	}
	if len(want) < 2 {
		t.Fatalf("rcodes seen %v: want several", want)
	}
	for rc, n := range want {
		if got := testutil.MetricValue(t, reg, "dnsd_responses_total", "proto", "udp", "rcode", rc); got != n {
			t.Errorf("dnsd_responses_total{proto=udp,rcode=%s} = %v, want %v", rc, got, n)
		}
	}
	total := float64(rounds * len(queries))
	if got := testutil.MetricValue(t, reg, "dnsd_request_duration_seconds", "proto", "udp", "server", "m"); got != total {
		t.Errorf("dnsd_request_duration_seconds{proto=udp} count = %v, want %v", got, total)
	}
	if got := testutil.MetricValue(t, reg, "dnsd_request_duration_seconds", "proto", "tcp"); got != 1 {
		t.Errorf("dnsd_request_duration_seconds{proto=tcp} count = %v, want 1", got)
	}
	if got := testutil.MetricValue(t, reg, "dnsd_responses_total", "proto", "tcp"); got != 1 {
		t.Errorf("dnsd_responses_total{proto=tcp} = %v, want 1", got)
	}
}

// serveOn serves h on addr until the test ends.
func serveOn(t *testing.T, addr string, h *Handler) (*Listener, error) {
	l, err := Listen(addr, h, Limits{}, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l, nil
}

// observeN puts n answers in the first bucket whose bound is at least
// their duration (le is inclusive) and adds n times it to the sum; a
// handler made anew for a listener (a reload) adds to the same series.
func TestLatencyObserveN(t *testing.T) {
	lat := newLatency("d_seconds", "d", []float64{.0001, .001, .01}, "server", "proto")
	lat.with("a", "udp").observeN(100*time.Microsecond, 3) // on the bound: le 0.0001
	lat.with("a", "udp").observeN(2*time.Millisecond, 2)
	lat.with("a", "udp").observeN(time.Second, 1) // +Inf only
	lat.with("a", "udp").observeN(time.Second, 0) // nothing
	lat.with("a", "tcp").observeN(time.Millisecond, 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(lat)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, m := range mfs[0].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "proto" && lp.GetValue() == "udp" {
				h = m.GetHistogram()
			}
		}
	}
	if h == nil || len(mfs[0].GetMetric()) != 2 {
		t.Fatalf("series: %v", mfs)
	}
	if h.GetSampleCount() != 6 {
		t.Errorf("count %d, want 6", h.GetSampleCount())
	}
	if want := 3*.0001 + 2*.002 + 1; h.GetSampleSum() < want-1e-9 || h.GetSampleSum() > want+1e-9 {
		t.Errorf("sum %v, want %v", h.GetSampleSum(), want)
	}
	wantCum := []uint64{3, 3, 5}
	for i, b := range h.GetBucket() {
		if b.GetCumulativeCount() != wantCum[i] {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), wantCum[i])
		}
	}
}
