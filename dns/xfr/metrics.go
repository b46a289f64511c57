package xfr

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/metric"
)

type metrics struct {
	transfers *prometheus.CounterVec
	updates   *prometheus.CounterVec
	notify    *prometheus.CounterVec
	// the secondary side (secondary.go)
	secRefreshes *prometheus.CounterVec
	secNotifies  *prometheus.CounterVec
	secSerial    *prometheus.GaugeVec
	secExpired   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transfers:    metric.Counters("dnsd_xfr_transfers_total", "Zone transfers asked for, by type (axfr, ixfr) and result (axfr, ixfr, uptodate, refused, notauth).", "type", "result"),
		updates:      metric.Counters("dnsd_xfr_updates_total", "Dynamic updates, by rcode of the answer.", "rcode"),
		notify:       metric.Counters("dnsd_xfr_notify_total", "NOTIFYs to secondaries, by outcome (ok, refused, unanswered).", "result"),
		secRefreshes: metric.Counters("dnsd_xfr_secondary_refreshes_total", "Refreshes of secondary zones, by result (uptodate, ixfr, ixfr-axfr, axfr, failed).", "result"),
		secNotifies:  metric.Counters("dnsd_xfr_secondary_notifies_total", "NOTIFYs received for secondary zones, by result (accepted, refused).", "result"),
		secSerial:    metric.Gauges("dnsd_xfr_secondary_serial", "SOA serial of each secondary zone's copy.", "zone"),
		secExpired:   metric.Gauges("dnsd_xfr_secondary_expired", "1 while a secondary zone is out of service (expired, or no copy yet).", "zone"),
	}
	if reg != nil {
		reg.MustRegister(m.transfers, m.updates, m.notify, m.secRefreshes, m.secNotifies, m.secSerial, m.secExpired)
	}
	return m
}
