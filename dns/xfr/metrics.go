package xfr

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/metric"
)

type metrics struct {
	transfers *prometheus.CounterVec
	updates   *prometheus.CounterVec
	notify    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transfers: metric.Counters("dnsd_xfr_transfers_total", "Zone transfers asked for, by type (axfr, ixfr) and result (axfr, ixfr, uptodate, refused, notauth).", "type", "result"),
		updates:   metric.Counters("dnsd_xfr_updates_total", "Dynamic updates, by rcode of the answer.", "rcode"),
		notify:    metric.Counters("dnsd_xfr_notify_total", "NOTIFYs to secondaries, by outcome (ok, refused, unanswered).", "result"),
	}
	if reg != nil {
		reg.MustRegister(m.transfers, m.updates, m.notify)
	}
	return m
}
