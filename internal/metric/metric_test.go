package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

func TestRegisterAndShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := Counters("x_total", "x", "a")
	if err := Register(reg, c, Gauge("g", "g"), Histogram("h_seconds", "h", []float64{1})); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg, Counters("x_total", "x", "a")); err == nil {
		t.Fatal("Register of a duplicate: nil error")
	}
	if err := Register(nil, c); err != nil {
		t.Fatalf("Register(nil) = %v", err)
	}
	shared := Shared(reg, Counters("x_total", "x", "a"))
	if shared != c {
		t.Fatal("Shared did not return the collector already registered")
	}
	shared.WithLabelValues("1").Inc()
	if v := testutil.MetricValue(t, reg, "x_total", "a", "1"); v != 1 {
		t.Fatalf("x_total = %v, want 1", v)
	}
	h := Histograms("d_seconds", "d", []float64{1, 2}, "p")
	if Shared(nil, h) != h {
		t.Fatal("Shared(nil) did not return its collector")
	}
}
