package events

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

type testEvent struct {
	Name string `json:"name,omitempty"`
	N    int    `json:"n,omitempty"`
	typ  string
}

func (e *testEvent) EventType() string { return e.typ }

func fixedClock() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC) }

func TestIdlePublishAllocatesNothing(t *testing.T) {
	b := New(Options{Namespace: "t"})
	e := &testEvent{typ: "dns.query"}
	if n := testing.AllocsPerRun(1000, func() {
		if b.Active() {
			b.Publish(&testEvent{typ: "dns.query", Name: "x"})
		}
		b.Publish(e)
	}); n != 0 {
		t.Fatalf("publishing with no subscriber: %v allocs per call, want 0", n)
	}
	var nilBus *Bus
	if nilBus.Active() || nilBus.Wants("dns.query") {
		t.Fatal("a nil bus reports listeners")
	}
	nilBus.Publish(e) // must not panic
}

// A subscriber that never reads never holds up a publisher: every Publish
// returns, the overflow is counted per subscriber and in the metric.
func TestStuckSubscriberNeverDelaysPublishers(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{Namespace: "t", Registerer: reg, Buffer: 4})
	stuck := b.Subscribe()
	defer stuck.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			b.Publish(&testEvent{typ: "dns.query", N: i})
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // a generous bound: the test fails rather than hangs
		t.Fatal("publishers blocked on a subscriber that never reads")
	}
	if got := stuck.Lost(); got != 996 {
		t.Fatalf("lost = %d, want 996 (1000 published into a buffer of 4)", got)
	}
	if got := b.Dropped(); got != 996 {
		t.Fatalf("t_events_dropped_total = %v, want 996", got)
	}
	if got := stuck.Lost(); got != 0 {
		t.Fatalf("Lost after reading it = %d, want 0", got)
	}
}

func TestFilterByPrefix(t *testing.T) {
	b := New(Options{Buffer: 8})
	s := b.Subscribe("dns.query", "lb.")
	defer s.Close()
	if !b.Wants("lb.request") || !b.Wants("dns.query") || b.Wants("dns.cache") {
		t.Fatal("Wants does not follow the subscriber's prefixes")
	}
	for _, typ := range []string{"dns.query", "dns.cache", "lb.request", "lb.health", "sim.part"} {
		b.Publish(&testEvent{typ: typ})
	}
	var got []string
	for len(s.C()) > 0 {
		got = append(got, (<-s.C()).Event.EventType())
	}
	if strings.Join(got, " ") != "dns.query lb.request lb.health" {
		t.Fatalf("received %v, want dns.query lb.request lb.health", got)
	}
	s.Close()
	if b.Active() {
		t.Fatal("bus still active after its only subscriber left")
	}
}

func TestAppendMessage(t *testing.T) {
	m := Message{Seq: 7, Time: fixedClock(), Event: &testEvent{typ: "dns.query", Name: "www.example.test."}}
	want := "event: dns.query\nid: 7\ndata: {\"type\":\"dns.query\",\"time\":\"2025-01-02T03:04:05.000006Z\",\"name\":\"www.example.test.\"}\n\n"
	if got := string(AppendMessage(nil, m)); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	m.Event = &testEvent{typ: "x"}
	if got := string(AppendJSON(nil, m)); got != `{"type":"x","time":"2025-01-02T03:04:05.000006Z"}` {
		t.Fatalf("empty event: %s", got)
	}
}

// syncWriter is a ResponseWriter safe to read while the handler writes.
type syncWriter struct {
	h  http.Header
	ch chan string
}

func (w *syncWriter) Header() http.Header         { return w.h }
func (w *syncWriter) WriteHeader(int)             {}
func (w *syncWriter) Flush()                      {}
func (w *syncWriter) Write(p []byte) (int, error) { w.ch <- string(p); return len(p), nil }

// Inside a synctest bubble: the stream sends heartbeats on its clock,
// reports drops, and ends when the bus closes.
func TestStreamHeartbeatDropsAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Options{Buffer: 2, Now: fixedClock})
		defer b.Close()
		w := &syncWriter{h: http.Header{}, ch: make(chan string, 100)}
		r := httptest.NewRequest(http.MethodGet, "/api/v1/events?types=dns.", nil)
		// subscribed, not reading yet: a buffer of 2 overflows by 3
		sub := b.Subscribe("dns.")
		for i := 0; i < 5; i++ {
			b.Publish(&testEvent{typ: "dns.query", N: i + 1})
		}
		done := make(chan struct{})
		go func() { defer close(done); defer sub.Close(); b.stream(w, r, sub) }()
		if got := <-w.ch; !strings.HasPrefix(got, ": stream open") {
			t.Fatalf("first write %q", got)
		}
		got := <-w.ch
		if strings.Count(got, "event: dns.query\n") != 2 ||
			!strings.HasSuffix(got, "event: dropped\ndata: {\"type\":\"dropped\",\"time\":\"2025-01-02T03:04:05.000006Z\",\"count\":3}\n\n") {
			t.Fatalf("batch:\n%s", got)
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got := <-w.ch; got != ": ping\n\n" {
			t.Fatalf("heartbeat %q", got)
		}
		b.Close()
		<-done
	})
}

func TestStreamOverHTTP(t *testing.T) {
	b := New(Options{})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/events?types=lb.request", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != ": stream open\n" {
		t.Fatalf("first line %q", line)
	}
	b.Publish(&testEvent{typ: "lb.health"})
	b.Publish(&testEvent{typ: "lb.request", Name: "b2"})
	var lines []string
	for len(lines) < 6 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	joined := strings.Join(lines, "")
	if !strings.Contains(joined, "event: lb.request\nid: 1\ndata: {\"type\":\"lb.request\"") || strings.Contains(joined, "lb.health") {
		t.Fatalf("stream:\n%s", joined)
	}
	b.Close()
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("stream did not end cleanly on Close: %v", err)
	}
}

// A client that connects and never reads: publishers still finish, the
// events that did not fit are counted, and the server can shut down.
func TestStuckHTTPClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{Registerer: reg, Buffer: 16})
	srv := httptest.NewServer(b.Handler())
	srv.Config.RegisterOnShutdown(b.Close)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the subscriber to register", time.Minute, b.Active)
	done := make(chan struct{})
	big := strings.Repeat("x", 1000)
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ { // ~20 MB: more than socket buffers hold
			b.Publish(&testEvent{typ: "dns.query", Name: big})
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("publishers blocked on a client that never reads")
	}
	if b.Dropped() == 0 {
		t.Fatal("no drops counted for a client that never read")
	}
}

func TestBadTypesAndMethods(t *testing.T) {
	b := New(Options{})
	for _, c := range []struct {
		method, url string
		status      int
	}{
		{http.MethodGet, "/api/v1/events?types=dns%20query", http.StatusBadRequest},
		{http.MethodPost, "/api/v1/events", http.StatusMethodNotAllowed},
		{http.MethodHead, "/api/v1/events", http.StatusOK},
		{http.MethodOptions, "/api/v1/events", http.StatusNoContent},
	} {
		w := httptest.NewRecorder()
		b.Handler().ServeHTTP(w, httptest.NewRequest(c.method, c.url, nil))
		if w.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.url, w.Code, c.status)
		}
	}
	if b.Active() {
		t.Fatal("HEAD or an error left a subscriber behind")
	}
}

func BenchmarkPublishNoSubscriber(b *testing.B) {
	bus := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		if bus.Active() {
			bus.Publish(&testEvent{typ: "dns.query", Name: "www.example.test."})
		}
	}
}

func BenchmarkPublishOneReader(b *testing.B) {
	bus := New(Options{})
	s := bus.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range s.C() {
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if bus.Active() {
			bus.Publish(&testEvent{typ: "dns.query", Name: "www.example.test."})
		}
	}
	b.StopTimer()
	s.Close()
	close(s.ch)
	<-done
}

func TestAppendStringIsJSON(t *testing.T) {
	for _, s := range []string{"", "www.example.test.", `a"b\c`, "tab\tnl\ncr\r", "\x00\x1f<>&", "é✓", "bad\xffutf8", `\065.example.`} {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got != want {
			t.Fatalf("%q -> %s -> %q", s, b, got)
		}
	}
	f := AppendStrings(AppendIntField(AppendStringField([]byte{'{'}, "a", "x"), "n", -3), "l", []string{"p", "q"})
	if string(f) != `{"a":"x","n":-3,"l":["p","q"]` {
		t.Fatalf("fields: %s", f)
	}
}
