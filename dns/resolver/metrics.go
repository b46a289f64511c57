package resolver

import (
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/cache"
	"netsim/internal/metric"
)

type metrics struct {
	queries          *prometheus.CounterVec // by rcode
	byRcode          [24]prometheus.Counter
	cacheHits        prometheus.Counter
	cacheMisses      prometheus.Counter
	stale            prometheus.Counter
	coalesced        prometheus.Counter
	prefetches       prometheus.Counter
	failureHits      prometheus.Counter
	upstream         *prometheus.CounterVec // transport, result
	upstreamDuration *prometheus.HistogramVec
	dropped          *prometheus.CounterVec // reason
	resolutions      *prometheus.HistogramVec
	inflight         prometheus.Gauge
	unwanted         prometheus.Counter
	unwantedFlushes  prometheus.Counter
	nsCapped         prometheus.Counter
	clientLimited    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *cache.Cache) (*metrics, error) {
	m := &metrics{
		queries:     metric.Counters("dnsd_resolver_queries_total", "Recursive client queries answered, by response code.", "rcode"),
		cacheHits:   metric.Counter("dnsd_cache_hits_total", "Client queries answered from fresh cache entries."),
		cacheMisses: metric.Counter("dnsd_cache_misses_total", "Client queries with no fresh cache entry (stale entries count as misses)."),
		stale:       metric.Counter("dnsd_resolver_stale_answers_total", "Answers served from expired entries because upstreams failed or were slow (RFC 8767)."),
		coalesced:   metric.Counter("dnsd_resolver_coalesced_total", "Client queries that joined an identical resolution already in flight."),
		prefetches:  metric.Counter("dnsd_resolver_prefetches_total", "Background refreshes of popular entries started shortly before expiry."),
		failureHits: metric.Counter("dnsd_resolver_failure_cache_hits_total", "SERVFAIL answered at once because the same question failed within failure_ttl (RFC 9520)."),
		upstream:    metric.Counters("dnsd_resolver_upstream_queries_total", "Queries sent to authoritative servers or forwarders, by transport and result (probe_ok, probe_failed: background probes of a server that failed).", "transport", "result"),
		upstreamDuration: metric.Histograms("dnsd_resolver_upstream_duration_seconds", "Round-trip time of upstream queries that got a reply.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "transport"),
		dropped:     metric.Counters("dnsd_resolver_upstream_dropped_total", "Upstream replies dropped: wrong ID, question, source address or 0x20 case, not a response, malformed, or a bad ECS echo.", "reason"),
		resolutions: metric.Histograms("dnsd_resolver_resolution_duration_seconds", "Time to resolve a cache miss, by outcome.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "result"),
		inflight:    metric.Gauge("dnsd_resolver_inflight_resolutions", "Resolutions in progress (after coalescing)."),
		unwanted: metric.Counter("dnsd_resolver_unwanted_replies_total",
			"Upstream replies that matched no query: wrong ID, question, source address or 0x20 case (possible forgeries)."),
		unwantedFlushes: metric.Counter("dnsd_resolver_unwanted_flushes_total",
			"Cache flushes because unwanted replies reached unwanted_reply_threshold."),
		nsCapped: metric.Counter("dnsd_resolver_ns_lookups_capped_total",
			"Referrals whose name servers without glue were not all looked up: max_ns_lookups_per_referral reached (NXNSAttack)."),
		clientLimited: metric.Counter("dnsd_resolver_client_limited_total",
			"Client queries answered SERVFAIL at once because the client had max_resolutions_per_client resolutions waiting."),
	}
	cols := []prometheus.Collector{
		m.queries, m.cacheHits, m.cacheMisses, m.stale, m.coalesced, m.prefetches, m.failureHits,
		m.upstream, m.upstreamDuration, m.dropped, m.resolutions, m.inflight,
		m.unwanted, m.unwantedFlushes, m.nsCapped, m.clientLimited,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dnsd_cache_entries",
			Help: "Entries in the resolver cache, fresh and stale.",
		}, func() float64 { return float64(c.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dnsd_cache_size_bytes",
			Help: "Approximate memory held by cache entries.",
		}, func() float64 { return float64(c.Bytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dnsd_cache_evictions_total",
			Help: "Cache entries evicted to stay within max_entries and max_bytes.",
		}, func() float64 { return float64(c.Evictions()) }),
	}
	if err := metric.Register(reg, cols...); err != nil {
		return nil, err
	}
	for i := range m.byRcode {
		if s, ok := dns.RcodeToString[i]; ok {
			m.byRcode[i] = m.queries.WithLabelValues(s)
		}
	}
	return m, nil
}

func (m *metrics) answered(rcode int) {
	if rcode >= 0 && rcode < len(m.byRcode) && m.byRcode[rcode] != nil {
		m.byRcode[rcode].Inc()
		return
	}
	m.queries.WithLabelValues(dns.RcodeToString[rcode]).Inc()
}
