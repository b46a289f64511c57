package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

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
		admin := st.dns.AdminAddr()
		stuckSubscriber(t, admin)
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		c := &dns.Client{Timeout: 5 * time.Second}
		flood(t, admin, 60000, func() error {
			r, _, err := c.Exchange(m, st.resolver)
			if err == nil && r.Rcode != dns.RcodeSuccess {
				err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
			}
			return err
		})
	})

	t.Run("lbd", func(t *testing.T) {
		admin := lbd.AdminAddr().String()
		stuckSubscriber(t, admin)
		url := "http://" + lbd.Addr("http").String() + "/stuck-subscriber"
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		t.Cleanup(c.CloseIdleConnections)
		flood(t, admin, 40000, func() error {
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

// stuckSubscriber opens GET /api/v1/events on admin with a small receive
// buffer and never reads it; it waits until the daemon counts it.
func stuckSubscriber(t *testing.T, admin string) {
	t.Helper()
	c, err := net.Dial("tcp", admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET /api/v1/events HTTP/1.1\r\nHost: "+admin+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the stuck subscriber counted on "+admin, 30*time.Second, func() bool {
		return eventMetric(t, admin, "_events_subscribers") >= 1
	})
}

// flood runs do from 8 goroutines, at most limit times in all, until the
// daemon at admin counts a dropped event; every call must succeed.
func flood(t *testing.T, admin string, limit int64, do func() error) {
	t.Helper()
	var (
		n, failed atomic.Int64
		first     atomic.Value
		dropped   atomic.Bool
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil && !dropped.Load() {
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
	wg.Go(func() { // watches the drop counter
		for ctx.Err() == nil && n.Load() <= limit {
			if eventMetric(t, admin, "_events_dropped_total") > 0 {
				dropped.Store(true)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("with a subscriber that never reads, %d calls failed; the first: %v", f, first.Load())
	}
	if !dropped.Load() {
		t.Fatalf("%d calls and no event dropped: the subscriber's buffer never filled, so this tested nothing", limit)
	}
	t.Logf("%d calls answered; the stuck subscriber lost %.0f events", min(n.Load(), limit), eventMetric(t, admin, "_events_dropped_total"))
}

// eventMetric reads the one metric whose name ends in suffix from admin's
// /metrics (dnsd_events_… or lbd_events_…; -1 when there is none).
func eventMetric(t *testing.T, admin, suffix string) float64 {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Errorf("GET %s/metrics: %v", admin, err)
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && !strings.HasPrefix(name, "#") && strings.HasSuffix(name, suffix) {
			v, err := strconv.ParseFloat(value, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}
