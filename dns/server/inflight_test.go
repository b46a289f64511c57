package server_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/auth"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/internal/testutil"
)

// blockingRecursor holds every resolution until release is closed and
// says when one starts.
type blockingRecursor struct{ entered, release chan struct{} }

func (b blockingRecursor) Allowed(netip.Addr) bool                        { return true }
func (b blockingRecursor) ResolveCached(_, _ *dns.Msg, _ netip.Addr) bool { return false }
func (b blockingRecursor) Resolve(ctx context.Context, req, resp *dns.Msg, _ netip.Addr) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: []byte{192, 0, 2, 7}}}
}

// max_resolutions bounds the resolutions in flight over UDP and TCP
// together: past it a UDP query is dropped and a TCP one answered
// SERVFAIL at once, with an Extended DNS Error saying why; both counted.
func TestMaxResolutions(t *testing.T) {
	rec := blockingRecursor{entered: make(chan struct{}, 8), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	h := server.NewHandler("127.0.0.1:0", auth.NewSet(nil), rec, server.NewMetrics(reg))
	l, err := server.Listen("127.0.0.1:0", h, server.Limits{Inflight: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Serve(t, l)

	q := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.SetEdns0(1232, false)
		return m
	}
	// two resolutions hold the limit: one over UDP, one over TCP
	held := make(chan *dns.Msg, 2)
	for _, network := range []string{"udp", "tcp"} {
		go func() {
			r, _, err := (&dns.Client{Net: network, Timeout: 10 * time.Second}).Exchange(q("held-"+network+"."), l.Addr)
			if err != nil {
				t.Error(err)
			}
			held <- r
		}()
		<-rec.entered
	}
	r := dnstest.Exchange(t, l.Addr, "tcp", q("third.tcp."))
	if r.Rcode != dns.RcodeServerFailure || r.IsEdns0() == nil || len(r.IsEdns0().Option) != 1 {
		t.Fatalf("TCP query past max_resolutions: %v, want SERVFAIL with an Extended DNS Error", r)
	}
	if e, ok := r.IsEdns0().Option[0].(*dns.EDNS0_EDE); !ok || e.ExtraText == "" {
		t.Errorf("EDE %v, want one naming the limit", r.IsEdns0().Option[0])
	}
	pkt, _ := q("third.udp.").Pack()
	if got := dnstest.Raw(t, l.Addr, pkt, 300*time.Millisecond); got != nil {
		t.Errorf("UDP query past max_resolutions answered; want it dropped (the client retries)")
	}
	testutil.WaitFor(t, "both shed queries counted", 5*time.Second, func() bool {
		return testutil.MetricValue(t, reg, "dnsd_resolutions_shed_total") == 2
	})
	close(rec.release)
	for i := 0; i < 2; i++ {
		if r := <-held; r == nil || len(r.Answer) != 1 {
			t.Errorf("held resolution answered %v", r)
		}
	}
	// the slots are free again
	go func() { <-rec.entered }()
	if r := dnstest.Exchange(t, l.Addr, "tcp", q("after.")); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after the held resolutions ended: %s, want an answer", dns.RcodeToString[r.Rcode])
	}
}
