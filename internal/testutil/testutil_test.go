package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"a", "b"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	reg.MustRegister(c, h)
	c.WithLabelValues("1", "p").Add(2)
	c.WithLabelValues("1", "q").Add(3)
	c.WithLabelValues("2", "p").Add(5)
	h.Observe(1)
	h.Observe(2)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"x_total", nil, 10},
		{"x_total", []string{"a", "1"}, 5},
		{"x_total", []string{"a", "1", "b", "q"}, 3},
		{"x_total", []string{"a", "3"}, 0},
		{"h_seconds", nil, 2},
		{"nothing", nil, 0},
	} {
		if got := MetricValue(t, reg, tt.name, tt.labels...); got != tt.want {
			t.Errorf("MetricValue(%s, %v) = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if got := Value(t, c.WithLabelValues("2", "p")); got != 5 {
		t.Errorf("Value = %v, want 5", got)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Now = %v", got)
	}
}

func TestServeAndDo(t *testing.T) {
	ln := Listen(t)
	Serve(t, ln, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "echo %s", line)
	})
	c := Dial(t, ln.Addr().String(), "hi\n")
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "echo hi\n" {
		t.Fatalf("got %q, %v", got, err)
	}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got", r.Header.Get("X-Send"))
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, r.Method, " ", r.ContentLength)
	})
	w := Do(h, "POST", "/x", "abc", map[string]string{"X-Send": "v"})
	if w.Code != http.StatusTeapot || w.Header().Get("X-Got") != "v" || w.Body.String() != "POST 3" {
		t.Fatalf("Do: %d %v %q", w.Code, w.Header(), w.Body)
	}
}

func TestWaitForReturns(t *testing.T) {
	n := 0
	WaitFor(t, "three polls", 10*time.Second, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond ran %d times, want 3", n)
	}
}

func TestCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "%s %s [%s]", r.Method, r.Header.Get("Authorization"), b)
	}))
	defer srv.Close()
	if code, body := Call(t, "PATCH", srv.URL, `{"a":1}`, "tok"); code != http.StatusAccepted || body != `PATCH Bearer tok [{"a":1}]` {
		t.Fatalf("Call: %d %q", code, body)
	}
	if code, body := Call(t, "GET", srv.URL, "", ""); code != http.StatusAccepted || body != "GET  []" {
		t.Fatalf("Call without token and body: %d %q", code, body)
	}
}

func TestContains(t *testing.T) {
	rec := &recorder{TB: t}
	Contains(rec, "out", "alpha beta", "alpha", "gamma", "beta")
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], `out lacks "gamma"`) {
		t.Fatalf("errors %q, want one naming gamma", rec.errors)
	}
}

// recorder keeps the errors a helper reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestPortsBelowEphemeral: the ports handed out for later binding come
// from below the kernel's ephemeral range, where no outgoing connection
// can take them in between (a lab test lost its port that way).
func TestPortsBelowEphemeral(t *testing.T) {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, _ = strconv.Atoi(f[0])
		}
	}
	for range 20 {
		_, p, _ := net.SplitHostPort(FreeAddr(t))
		q := SharedPort(t, "127.0.0.1", "127.0.0.2")
		for _, s := range []string{p, q} {
			if n, _ := strconv.Atoi(s); n >= lo || n < 10000 {
				t.Fatalf("port %d, want one in [10000, %d)", n, lo)
			}
		}
	}
}
