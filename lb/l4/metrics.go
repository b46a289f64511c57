package l4

import "github.com/prometheus/client_golang/prometheus"

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
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_l4_connections_total", Help: "TCP connections accepted, by outcome.",
		}, []string{"frontend", "result"}),
		frontActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lbd_l4_active_connections", Help: "Open client connections per TCP frontend.",
		}, []string{"frontend"}),
		backendActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lbd_l4_backend_active_connections", Help: "Open proxied connections per backend.",
		}, []string{"pool", "backend"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_l4_bytes_total", Help: "Bytes proxied; direction in is client to backend.",
		}, []string{"pool", "backend", "direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lbd_l4_connection_duration_seconds", Help: "Lifetime of proxied TCP connections.",
			Buckets: []float64{.001, .01, .1, 1, 10, 60, 300, 1800, 3600},
		}, []string{"frontend"}),
		dialErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_l4_dial_errors_total", Help: "Failed connection attempts to backends.",
		}, []string{"pool", "backend"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_l4_backend_state_changes_total", Help: "Backend state changes by new state.",
		}, []string{"pool", "backend", "to"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.conns, m.frontActive, m.backendActive, m.bytes, m.duration, m.dialErrors, m.changes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
