package server

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latency is dnsd_request_duration_seconds: a histogram by listener and
// protocol that takes a batch of answers of one duration in one call
// (observeN). A UDP reader answers up to 64 queries a batch from packed
// answers in well under a microsecond each; observing each one in a
// prometheus.Histogram (and reading the clock twice for it) cost a tenth
// of dnsd's own time per answer. Here a batch costs one clock reading
// and three atomic adds.
type latency struct {
	desc    *prometheus.Desc
	buckets []float64 // upper bounds, ascending; +Inf is implied
	mu      sync.Mutex
	series  map[[2]string]*latencySeries
}

// latencySeries is one listener's and protocol's histogram.
type latencySeries struct {
	labels   [2]string       // server, proto
	counts   []atomic.Uint64 // by bucket, not cumulative; the last is +Inf
	sumNanos atomic.Uint64
	buckets  []float64
}

func newLatency(name, help string, buckets []float64, labels ...string) *latency {
	return &latency{
		desc:    prometheus.NewDesc(name, help, labels, nil),
		buckets: buckets,
		series:  map[[2]string]*latencySeries{},
	}
}

// with returns the series of (server, proto), made on first use; handlers
// of one listener (a reload makes a new one) share it.
func (l *latency) with(server, proto string) *latencySeries {
	key := [2]string{server, proto}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.series[key]
	if s == nil {
		s = &latencySeries{labels: key, counts: make([]atomic.Uint64, len(l.buckets)+1), buckets: l.buckets}
		l.series[key] = s
	}
	return s
}

// observeN counts n answers that took d each.
func (s *latencySeries) observeN(d time.Duration, n int) {
	if n <= 0 {
		return
	}
	d = max(d, 0)
	i := sort.SearchFloat64s(s.buckets, d.Seconds()) // the first bound ≥ d: le is inclusive
	s.counts[i].Add(uint64(n))
	s.sumNanos.Add(uint64(d) * uint64(n))
}

// Describe implements prometheus.Collector.
func (l *latency) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

// Collect implements prometheus.Collector. The count is the sum of the
// buckets read, so a scrape during an observation stays consistent in
// itself (the sum may lead or lag by that observation).
func (l *latency) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	series := make([]*latencySeries, 0, len(l.series))
	for _, s := range l.series {
		series = append(series, s)
	}
	l.mu.Unlock()
	for _, s := range series {
		cum := make(map[float64]uint64, len(s.buckets))
		var n uint64
		for i, b := range s.buckets {
			n += s.counts[i].Load()
			cum[b] = n
		}
		n += s.counts[len(s.buckets)].Load()
		sum := time.Duration(s.sumNanos.Load()).Seconds()
		ch <- prometheus.MustNewConstHistogram(l.desc, n, sum, cum, s.labels[0], s.labels[1])
	}
}
