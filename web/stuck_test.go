package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

// TestStuckSubscriberDelaysNothing: a client that subscribes to dnsd's and
// lbd's event streams and never reads fills its buffer; from then on its
// events are dropped and counted, and every query and request is still
// answered (each within its client's timeout: a failure bound, not a speed
// check). The traffic goes on until the daemon counts a drop, so the test
// proves the stuck path was taken.
func TestStuckSubscriberDelaysNothing(t *testing.T) {
	st := newStack(t)
	lbd := st.lbs["lbd"]

	t.Run("dnsd", func(t *testing.T) {
		bus := eventBus{ns: "dnsd", admin: st.dns.AdminAddr(), reg: st.regs["dnsd"]}
		bus.stuckSubscriber(t)
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		c := &dns.Client{Timeout: 5 * time.Second}
		bus.flood(t, 60000, func() error {
			r, _, err := c.Exchange(m, st.resolver)
			if err == nil && r.Rcode != dns.RcodeSuccess {
				err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
			}
			return err
		})
	})

	t.Run("lbd", func(t *testing.T) {
		bus := eventBus{ns: "lbd", admin: lbd.AdminAddr().String(), reg: st.regs["lbd"]}
		bus.stuckSubscriber(t)
		url := "http://" + lbd.Addr("http").String() + "/stuck-subscriber"
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		t.Cleanup(c.CloseIdleConnections)
		bus.flood(t, 40000, func() error {
			resp, err := c.Get(url)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		})
	})
}

// eventBus is a daemon's event stream under test: its admin API, which
// serves the stream, and its metrics (ns_events_…).
type eventBus struct {
	ns, admin string
	reg       prometheus.Gatherer
}

// metric is the bus's metric ns_events_name.
func (b eventBus) metric(t *testing.T, name string) float64 {
	return testutil.MetricValue(t, b.reg, b.ns+"_events_"+name)
}

// stuckSubscriber opens GET /api/v1/events on the admin API with a small
// receive buffer and never reads it; it waits until the daemon counts it.
func (b eventBus) stuckSubscriber(t *testing.T) {
	t.Helper()
	c, err := net.Dial("tcp", b.admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET /api/v1/events HTTP/1.1\r\nHost: "+b.admin+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the stuck subscriber counted by "+b.ns, 30*time.Second, func() bool {
		return b.metric(t, "subscribers") >= 1
	})
}

// flood runs do from 8 goroutines, at most limit times in all, until the
// daemon counts a dropped event; every call must succeed. The test's
// goroutine watches the drop counter.
func (b eventBus) flood(t *testing.T, limit int64, do func() error) {
	t.Helper()
	var (
		n, failed atomic.Int64
		first     atomic.Value
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := n.Add(1)
				if i > limit {
					return
				}
				if err := do(); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("call %d: %v", i, err))
					cancel()
				}
			}
		})
	}
	callsDone := make(chan struct{})
	go func() { wg.Wait(); close(callsDone) }()
	dropped := false
	for calling := true; calling && !dropped; {
		select {
		case <-callsDone:
			calling = false
		case <-time.After(50 * time.Millisecond):
		}
		dropped = b.metric(t, "dropped_total") > 0
	}
	cancel() // the calls stop at the first drop
	<-callsDone
	if f := failed.Load(); f > 0 {
		t.Fatalf("with a subscriber that never reads, %d calls failed; the first: %v", f, first.Load())
	}
	if !dropped {
		t.Fatalf("%d calls and no event dropped: the subscriber's buffer never filled, so this tested nothing", limit)
	}
	t.Logf("%d calls answered; the stuck subscriber lost %.0f events", min(n.Load(), limit), b.metric(t, "dropped_total"))
}
