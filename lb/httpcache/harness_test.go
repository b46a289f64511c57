package httpcache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"netsim/internal/testutil"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// origin is a backend: it answers every request with status, header and
// body (Date set to the clock's time unless given), a 304 when the
// request's If-None-Match or If-Modified-Since match, and 503 once
// failing is set. It counts requests.
type origin struct {
	clock   *testutil.Clock
	status  int
	header  map[string]string
	body    string
	failing atomic.Bool
	calls   atomic.Int64
	last    atomic.Pointer[http.Request]
	block   chan struct{} // when set, each request waits for it to close
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	o.last.Store(r)
	if o.block != nil {
		<-o.block
	}
	if o.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Date", o.clock.Now().Format(http.TimeFormat))
	for k, v := range o.header {
		h.Set(k, v)
	}
	et, lm := h.Get("Etag"), h.Get("Last-Modified")
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchETag(inm, et) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && lm != "" && r.Header.Get("If-None-Match") == "" {
		a, _ := http.ParseTime(lm)
		b, _ := http.ParseTime(ims)
		if !a.After(b) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	status := o.status
	if status == 0 {
		status = http.StatusOK
	}
	if _, ok := o.header["Content-Length"]; !ok {
		h.Set("Content-Length", strconv.Itoa(len(o.body)))
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(o.body))
}

// harness is an engine: it looks a request up and forwards a miss to
// the origin through the Fill, as lbd's engines do.
type harness struct {
	t     testing.TB
	clock *testutil.Clock
	o     *origin
	c     *Cache
}

func newHarness(t testing.TB, cfg Config, o *origin) *harness {
	t.Helper()
	clock := testutil.NewClock(t0)
	o.clock = clock
	h := &harness{t: t, clock: clock, o: o}
	c, err := New(cfg, Options{Now: clock.Now, Refresh: func(r *http.Request, w http.ResponseWriter) { o.ServeHTTP(w, r) },
		Normalize: map[string]func(string) string{"Accept-Encoding": func(v string) string { return v + "!" }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h.c = c
	return h
}

// do sends one request; hdr are its fields. The request to the origin
// shares the header map the cache was given, as on lbd's nethttp engine
// (SetConditionals changes it under the Fill).
func (h *harness) do(method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	h.t.Helper()
	rh := http.Header{}
	for k, v := range hdr {
		rh.Set(k, v)
	}
	rec := httptest.NewRecorder()
	res := h.c.Lookup(context.Background(), Request{Method: method, Host: "www.example.test", Target: target, Header: rh})
	switch res.Kind {
	case Cached:
		res.Hit.WriteTo(rec, method == http.MethodHead)
	case GatewayTimeout:
		rec.WriteHeader(http.StatusGatewayTimeout)
	default:
		r := httptest.NewRequest(method, target, nil)
		r.Header = rh
		var w http.ResponseWriter = rec
		if res.Fill != nil {
			res.Fill.SetConditionals(r.Header)
			w = res.Fill.Wrap(rec)
		}
		h.o.ServeHTTP(w, r)
		if res.Fill != nil {
			res.Fill.Finish()
		}
	}
	return rec
}

// waitRefresh waits for background revalidations to end.
func (h *harness) waitRefresh() {
	h.t.Helper()
	testutil.WaitFor(h.t, "background revalidation", 5*time.Second, func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		return len(h.c.flights) == 0
	})
}
