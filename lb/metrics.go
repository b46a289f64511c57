package lb

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/metric"
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
	refused     *prometheus.CounterVec   // frontend, reason
	reloads     *prometheus.CounterVec   // result
	reloadStamp prometheus.Gauge
	routeHits   *prometheus.CounterVec // frontend, route
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		requests:    metric.Counters("lbd_requests_total", "Requests proxied, by pool, backend and status class (backend \"none\" when no backend was chosen).", "pool", "backend", "code"),
		duration:    metric.Histograms("lbd_request_duration_seconds", "Time from request received to response fully sent, by pool and backend.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "pool", "backend"),
		changes:     metric.Counters("lbd_backend_state_changes_total", "Backend state transitions, by the state entered.", "pool", "backend", "to"),
		checks:      metric.Counters("lbd_health_checks_total", "Active health checks, by result (ok or fail).", "pool", "backend", "result"),
		checkTime:   metric.Histograms("lbd_health_check_duration_seconds", "Duration of active health checks.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "pool"),
		retries:     metric.Counters("lbd_retries_total", "Requests retried on another backend, by reason (connect or reset).", "pool", "reason"),
		errors:      metric.Counters("lbd_proxy_errors_total", "Requests answered by lbd itself with an error, by reason.", "pool", "reason"),
		conns:       metric.Gauges("lbd_frontend_connections", "Open client connections per frontend.", "frontend"),
		connsTotal:  metric.Counters("lbd_frontend_connections_total", "Client connections accepted per frontend.", "frontend"),
		refused:     metric.Counters("lbd_frontend_connections_refused_total", "Client connections closed at accept, by frontend and reason (client_limit: over max_connections_per_client).", "frontend", "reason"),
		reloads:     metric.Counters("lbd_config_reloads_total", "Configuration reloads, by result (success or failure).", "result"),
		reloadStamp: metric.Gauge("lbd_config_last_reload_success_timestamp_seconds", "Unix time of the last successful configuration load."),
		routeHits:   metric.Counters("lbd_route_requests_total", "Requests taken by each route of a frontend (routes named in frontends[].routes).", "frontend", "route"),
	}
	if err := metric.Register(reg, m.requests, m.duration, m.changes, m.checks, m.checkTime, m.retries,
		m.errors, m.conns, m.connsTotal, m.refused, m.reloads, m.reloadStamp, m.routeHits, &stateCollector{s}, newEdgeCollector(s)); err != nil {
		return nil, err
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
