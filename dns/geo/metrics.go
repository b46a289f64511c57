package geo

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/metric"
)

// metrics are the engine's Prometheus series:
//
//	dnsd_geo_answers_total{name,pool,decision}   answers given; decision is matched, default, failover, fail_open, fail_closed
//	dnsd_geo_probes_total{target,result}         health probes by result (ok, fail)
//	dnsd_geo_probe_duration_seconds              health probe latency
//	dnsd_geo_member_state_changes_total{target,state}  transitions into state (up, down)
//	dnsd_geo_member_up{name,pool,member}         1 when the member may be answered (up, or not yet probed), else 0
type metrics struct {
	answers      *prometheus.CounterVec
	probes       *prometheus.CounterVec
	changes      *prometheus.CounterVec
	probeSeconds prometheus.Histogram
	reg          prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		answers: metric.Shared(reg, metric.Counters("dnsd_geo_answers_total",
			"GeoDNS answers by name, pool and decision (matched, default, failover, fail_open, fail_closed).", "name", "pool", "decision")),
		probes: metric.Shared(reg, metric.Counters("dnsd_geo_probes_total",
			"GeoDNS health probes by target and result (ok, fail).", "target", "result")),
		changes: metric.Shared(reg, metric.Counters("dnsd_geo_member_state_changes_total",
			"GeoDNS health state changes by target and new state (up, down).", "target", "state")),
		probeSeconds: metric.Shared(reg, metric.Histogram("dnsd_geo_probe_duration_seconds",
			"GeoDNS health probe duration.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5})),
	}
	m.reg = reg
	return m
}

// reportState makes e the engine behind dnsd_geo_member_up, replacing a
// previous engine's collector (collectors with equal descriptors are
// equal to Unregister). Start calls it: an engine built for a reload that
// is then refused never shows.
func (m *metrics) reportState(e *Engine) {
	if m.reg == nil {
		return
	}
	sc := &stateCollector{e: e}
	m.reg.Unregister(sc)
	_ = m.reg.Register(sc)
}

var memberUpDesc = prometheus.NewDesc("dnsd_geo_member_up",
	"1 when a GeoDNS pool member may be answered (healthy or not yet probed), 0 when its health check says down.",
	[]string{"name", "pool", "member"}, nil)

type stateCollector struct{ e *Engine }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- memberUpDesc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.e.ordered {
		for _, p := range n.pools {
			for _, m := range p.members {
				v := 1.0
				if m.mon != nil && !m.mon.Available() {
					v = 0
				}
				ch <- prometheus.MustNewConstMetric(memberUpDesc, prometheus.GaugeValue, v, n.name, p.name, m.addr.String())
			}
		}
	}
}
