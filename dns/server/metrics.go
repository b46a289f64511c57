package server

import (
	"strconv"
	"time"

	"netsim/internal/metric"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the query path, registered on an injected registry.
type Metrics struct {
	queries  *prometheus.CounterVec
	dropPkts *prometheus.CounterVec
	duration *latency
	panics   *prometheus.CounterVec
	shed     *prometheus.CounterVec
}

// NewMetrics registers the server metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queries:  metric.Counters("dnsd_responses_total", "Responses sent, by listener, protocol and rcode.", "server", "proto", "rcode"),
		dropPkts: metric.Counters("dnsd_dropped_packets_total", "Packets dropped without an answer (responses, runts).", "server"),
		duration: newLatency("dnsd_request_duration_seconds", "Time to answer a query, by listener and protocol.", []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "server", "proto"),
	}
	m.panics = metric.Counters("dnsd_panics_total", "Queries whose answering panicked (answered SERVFAIL; a defect to report).", "server")
	m.shed = metric.Counters("dnsd_resolutions_shed_total", "Queries needing a resolution past the listener's max_resolutions in flight: dropped over UDP (the client retries), SERVFAIL over TCP.", "server", "proto")
	if reg != nil {
		reg.MustRegister(m.queries, m.dropPkts, m.duration, m.panics, m.shed)
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
	duration  [2]*latencySeries
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
		s.duration[p] = m.duration.with(server, p.String())
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
	s.duration[p].observeN(time.Since(start), 1)
}

// tally holds a UDP batch's answers from packed wire forms until the
// batch is answered, to be counted at once (observeBatch): one clock
// reading a batch, one counter add per rcode that occurred.
type tally struct {
	start  time.Time // when the batch was read
	n      int
	rcodes [16]int32
}

// add counts one answer of rcode, or reports false when the tally cannot
// hold it (the caller observes it alone).
func (t *tally) add(rcode int) bool {
	if t == nil || rcode < 0 || rcode >= len(t.rcodes) {
		return false
	}
	t.rcodes[rcode]++
	t.n++
	return true
}

// observeBatch counts the tally's answers, each as taking the time from
// the batch's read to now, and empties it.
func (m *Metrics) observeBatch(s *serverMetrics, server string, p Protocol, t *tally) {
	if t.n == 0 {
		return
	}
	if m != nil {
		s.duration[p].observeN(time.Since(t.start), t.n)
		for rc, n := range t.rcodes {
			if n == 0 {
				continue
			}
			if c := s.responses[p][rc]; c != nil {
				c.Add(float64(n))
			} else {
				m.queries.WithLabelValues(server, p.String(), rcodeName(rc)).Add(float64(n))
			}
		}
	}
	*t = tally{}
}

func (m *Metrics) dropped(server string) {
	if m == nil {
		return
	}
	m.dropPkts.WithLabelValues(server).Inc()
}

func (m *Metrics) shedResolution(server string, p Protocol) {
	if m == nil {
		return
	}
	m.shed.WithLabelValues(server, p.String()).Inc()
}

func (m *Metrics) panicked(server string) {
	if m == nil {
		return
	}
	m.panics.WithLabelValues(server).Inc()
}
