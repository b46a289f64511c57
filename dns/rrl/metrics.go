package rrl

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/metric"
)

// Metrics are the limiter's counters, registered once per daemon.
type Metrics struct {
	responses *prometheus.CounterVec
}

// NewMetrics registers dnsd_rrl_responses_total on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{responses: metric.Counters("dnsd_rrl_responses_total",
		"UDP responses counted by response rate limiting, by listener, kind (responses, referrals, nxdomains, errors) and verdict (answered, dropped, slipped, logged, exempt_prefix, exempt_cookie).",
		"server", "kind", "verdict")}
	if reg != nil {
		reg.MustRegister(m.responses)
	}
	return m
}

// Counters are one listener's children, looked up once so that counting
// a response hashes no label.
type Counters struct {
	c [kinds][verdicts]prometheus.Counter
}

// For returns the counters of one listener (nil when m is nil).
func (m *Metrics) For(server string) *Counters {
	if m == nil {
		return nil
	}
	c := &Counters{}
	for k := Kind(0); k < kinds; k++ {
		for v := Verdict(0); v < verdicts; v++ {
			c.c[k][v] = m.responses.WithLabelValues(server, k.String(), v.String())
		}
	}
	return c
}

func (c *Counters) add(k Kind, v Verdict) {
	if c == nil || k >= kinds {
		return
	}
	c.c[k][v].Inc()
}
