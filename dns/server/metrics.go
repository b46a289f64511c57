package server

import (
	"strconv"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the query path, registered on an injected registry.
type Metrics struct {
	queries  *prometheus.CounterVec
	dropPkts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   *prometheus.CounterVec
}

// NewMetrics registers the server metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dnsd", Name: "responses_total",
			Help: "Responses sent, by listener, protocol and rcode.",
		}, []string{"server", "proto", "rcode"}),
		dropPkts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dnsd", Name: "dropped_packets_total",
			Help: "Packets dropped without an answer (responses, runts).",
		}, []string{"server"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dnsd", Name: "request_duration_seconds",
			Help:    "Time to answer a query, by listener and protocol.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"server", "proto"}),
	}
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dnsd", Name: "panics_total",
		Help: "Queries whose answering panicked (answered SERVFAIL; a defect to report).",
	}, []string{"server"})
	if reg != nil {
		reg.MustRegister(m.queries, m.dropPkts, m.duration, m.panics)
	}
	return m
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return strconv.Itoa(rc)
}

func (m *Metrics) observe(server string, p Protocol, rcode int, start time.Time) {
	if m == nil {
		return
	}
	m.queries.WithLabelValues(server, p.String(), rcodeName(rcode)).Inc()
	m.duration.WithLabelValues(server, p.String()).Observe(time.Since(start).Seconds())
}

func (m *Metrics) dropped(server string) {
	if m == nil {
		return
	}
	m.dropPkts.WithLabelValues(server).Inc()
}

func (m *Metrics) panicked(server string) {
	if m == nil {
		return
	}
	m.panics.WithLabelValues(server).Inc()
}
