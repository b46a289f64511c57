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

// serverMetrics holds one listener's metric children, looked up once so the
// per-query path does no label hashing.
type serverMetrics struct {
	responses [2][24]prometheus.Counter // by protocol, by rcode (0..23)
	duration  [2]prometheus.Observer
}

func (m *Metrics) forServer(server string) *serverMetrics {
	if m == nil {
		return nil
	}
	s := &serverMetrics{}
	for _, p := range []Protocol{UDP, TCP} {
		for rc := range s.responses[p] {
			if _, ok := dns.RcodeToString[rc]; ok {
				s.responses[p][rc] = m.queries.WithLabelValues(server, p.String(), rcodeName(rc))
			}
		}
		s.duration[p] = m.duration.WithLabelValues(server, p.String())
	}
	return s
}

func (m *Metrics) observe(s *serverMetrics, server string, p Protocol, rcode int, start time.Time) {
	if m == nil {
		return
	}
	if rcode >= 0 && rcode < len(s.responses[p]) && s.responses[p][rcode] != nil {
		s.responses[p][rcode].Inc()
	} else {
		m.queries.WithLabelValues(server, p.String(), rcodeName(rcode)).Inc()
	}
	s.duration[p].Observe(time.Since(start).Seconds())
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
