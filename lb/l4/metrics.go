package l4

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/metric"
)

// metrics of the L4 proxy.
//
//	lbd_l4_connections_total{frontend,result}          accepted connections by outcome
//	lbd_l4_active_connections{frontend}                open client connections
//	lbd_l4_backend_active_connections{pool,backend}    open proxied connections per backend
//	lbd_l4_bytes_total{pool,backend,direction}         bytes proxied (in: client to backend)
//	lbd_l4_connection_duration_seconds{frontend}       lifetime of proxied connections
//	lbd_l4_dial_errors_total{pool,backend}             failed connects to backends
//	lbd_l4_backend_state_changes_total{pool,backend,to} state changes
type metrics struct {
	conns         *prometheus.CounterVec
	frontActive   *prometheus.GaugeVec
	backendActive *prometheus.GaugeVec
	bytes         *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	dialErrors    *prometheus.CounterVec
	changes       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		conns:         metric.Counters("lbd_l4_connections_total", "TCP connections accepted, by outcome.", "frontend", "result"),
		frontActive:   metric.Gauges("lbd_l4_active_connections", "Open client connections per TCP frontend.", "frontend"),
		backendActive: metric.Gauges("lbd_l4_backend_active_connections", "Open proxied connections per backend.", "pool", "backend"),
		bytes:         metric.Counters("lbd_l4_bytes_total", "Bytes proxied; direction in is client to backend.", "pool", "backend", "direction"),
		duration:      metric.Histograms("lbd_l4_connection_duration_seconds", "Lifetime of proxied TCP connections.", []float64{.001, .01, .1, 1, 10, 60, 300, 1800, 3600}, "frontend"),
		dialErrors:    metric.Counters("lbd_l4_dial_errors_total", "Failed connection attempts to backends.", "pool", "backend"),
		changes:       metric.Counters("lbd_l4_backend_state_changes_total", "Backend state changes by new state.", "pool", "backend", "to"),
	}
	if err := metric.Register(reg, m.conns, m.frontActive, m.backendActive, m.bytes, m.duration, m.dialErrors, m.changes); err != nil {
		return nil, err
	}
	return m, nil
}

// frontMetrics are one frontend's series, looked up once rather than by
// label values on every connection.
type frontMetrics struct {
	active   prometheus.Gauge
	ok       prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) front(name string) frontMetrics {
	return frontMetrics{
		active:   m.frontActive.WithLabelValues(name),
		ok:       m.conns.WithLabelValues(name, resultOK),
		duration: m.duration.WithLabelValues(name),
	}
}

// backendMetrics are one backend's series in one pool.
type backendMetrics struct {
	active  prometheus.Gauge
	in, out prometheus.Counter
}

func (m *metrics) backend(pool, id string) *backendMetrics {
	return &backendMetrics{
		active: m.backendActive.WithLabelValues(pool, id),
		in:     m.bytes.WithLabelValues(pool, id, "in"),
		out:    m.bytes.WithLabelValues(pool, id, "out"),
	}
}
