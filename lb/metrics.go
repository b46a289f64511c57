package lb

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/lb/backend"
)

// metrics are lbd's Prometheus series. Counters and histograms are updated
// on the request path through per-backend handles resolved once; gauges of
// live state (in-flight, state, weights, load) are read at scrape time by
// stateCollector, so the hot path pays nothing for them.
type metrics struct {
	requests    *prometheus.CounterVec   // pool, backend, code
	duration    *prometheus.HistogramVec // pool, backend
	changes     *prometheus.CounterVec   // pool, backend, to
	checks      *prometheus.CounterVec   // pool, backend, result
	checkTime   *prometheus.HistogramVec // pool
	retries     *prometheus.CounterVec   // pool, reason
	errors      *prometheus.CounterVec   // pool, reason
	conns       *prometheus.GaugeVec     // frontend
	connsTotal  *prometheus.CounterVec   // frontend
	reloads     *prometheus.CounterVec   // result
	reloadStamp prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_requests_total", Help: "Requests proxied, by pool, backend and status class (backend \"none\" when no backend was chosen).",
		}, []string{"pool", "backend", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lbd_request_duration_seconds", Help: "Time from request received to response fully sent, by pool and backend.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"pool", "backend"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_backend_state_changes_total", Help: "Backend state transitions, by the state entered.",
		}, []string{"pool", "backend", "to"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_health_checks_total", Help: "Active health checks, by result (ok or fail).",
		}, []string{"pool", "backend", "result"}),
		checkTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lbd_health_check_duration_seconds", Help: "Duration of active health checks.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"pool"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_retries_total", Help: "Requests retried on another backend, by reason (connect or reset).",
		}, []string{"pool", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_proxy_errors_total", Help: "Requests answered by lbd itself with an error, by reason.",
		}, []string{"pool", "reason"}),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lbd_frontend_connections", Help: "Open client connections per frontend.",
		}, []string{"frontend"}),
		connsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_frontend_connections_total", Help: "Client connections accepted per frontend.",
		}, []string{"frontend"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbd_config_reloads_total", Help: "Configuration reloads, by result (success or failure).",
		}, []string{"result"}),
		reloadStamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbd_config_last_reload_success_timestamp_seconds", Help: "Unix time of the last successful configuration load.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.changes, m.checks, m.checkTime, m.retries,
		m.errors, m.conns, m.connsTotal, m.reloads, m.reloadStamp, &stateCollector{s}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// backendMetrics are the hot-path handles of one backend.
type backendMetrics struct {
	codes [6]prometheus.Counter // index status/100; 0 = other
	dur   prometheus.Observer
}

var codeClass = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func (m *metrics) forBackend(pool, id string) backendMetrics {
	var bm backendMetrics
	for i, c := range codeClass {
		bm.codes[i] = m.requests.WithLabelValues(pool, id, c)
	}
	bm.dur = m.duration.WithLabelValues(pool, id)
	return bm
}

func (m *metrics) dropBackend(pool, id string) {
	for _, c := range codeClass {
		m.requests.DeleteLabelValues(pool, id, c)
	}
	m.duration.DeleteLabelValues(pool, id)
	for _, st := range []backend.State{backend.Up, backend.Down, backend.Draining, backend.Maintenance} {
		m.changes.DeleteLabelValues(pool, id, st.String())
	}
	m.checks.DeleteLabelValues(pool, id, "ok")
	m.checks.DeleteLabelValues(pool, id, "fail")
}

func classIndex(code int) int {
	if c := code / 100; c >= 1 && c <= 5 {
		return c
	}
	return 0
}

var (
	descInflight = prometheus.NewDesc("lbd_backend_in_flight_requests", "Requests in progress on a backend.", []string{"pool", "backend"}, nil)
	descState    = prometheus.NewDesc("lbd_backend_state", "1 for the backend's current state (up, down, draining, maintenance), 0 for the others.", []string{"pool", "backend", "state"}, nil)
	descWeight   = prometheus.NewDesc("lbd_backend_weight", "Configured weight.", []string{"pool", "backend"}, nil)
	descEffW     = prometheus.NewDesc("lbd_backend_effective_weight", "Weight in use (lower during slow start).", []string{"pool", "backend"}, nil)
	descLoad     = prometheus.NewDesc("lbd_backend_load_percent", "Load reported by the backend's agent (absent when unknown).", []string{"pool", "backend"}, nil)
	descEWMA     = prometheus.NewDesc("lbd_backend_response_time_ewma_seconds", "Peak-EWMA of the time to response headers.", []string{"pool", "backend"}, nil)
	descPoolUp   = prometheus.NewDesc("lbd_pool_available_backends", "Backends able to take new requests.", []string{"pool"}, nil)
)

// stateCollector reads the live backend state at scrape time.
type stateCollector struct{ s *Server }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInflight, descState, descWeight, descEffW, descLoad, descEWMA, descPoolUp} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	pools := c.s.pools.Load()
	if pools == nil {
		return
	}
	for name, p := range *pools {
		up := 0
		for _, mb := range p.snap.Load().order {
			b := mb.b
			id := b.ID()
			if b.Available() {
				up++
			}
			ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(b.InFlight()), name, id)
			cur := b.State()
			for _, st := range []backend.State{backend.Up, backend.Down, backend.Draining, backend.Maintenance} {
				v := 0.0
				if st == cur {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, name, id, st.String())
			}
			ch <- prometheus.MustNewConstMetric(descWeight, prometheus.GaugeValue, float64(b.Weight()), name, id)
			ch <- prometheus.MustNewConstMetric(descEffW, prometheus.GaugeValue, b.EffectiveWeight(), name, id)
			if l := b.Load(); l >= 0 {
				ch <- prometheus.MustNewConstMetric(descLoad, prometheus.GaugeValue, float64(l), name, id)
			}
			ch <- prometheus.MustNewConstMetric(descEWMA, prometheus.GaugeValue, b.LatencyEWMA().Seconds(), name, id)
		}
		ch <- prometheus.MustNewConstMetric(descPoolUp, prometheus.GaugeValue, float64(up), name)
	}
}
