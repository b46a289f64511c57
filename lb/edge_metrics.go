package lb

import (
	"github.com/prometheus/client_golang/prometheus"

	"netsim/lb/httpcache"
)

// edgeCollector reads the caches' counters at scrape time: the request
// path pays one atomic add per event and nothing for Prometheus. A
// counter restarts from 0 when a reload changes the cache block (a new
// cache), as Prometheus counters may.
type edgeCollector struct {
	s     *Server
	descs []edgeDesc
}

type edgeDesc struct {
	d     *prometheus.Desc
	kind  prometheus.ValueType
	value func(httpcache.Stats) int64
}

func newEdgeCollector(s *Server) *edgeCollector {
	labels := []string{"frontend", "route"}
	c := func(name, help string, v func(httpcache.Stats) int64) edgeDesc {
		return edgeDesc{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue, v}
	}
	g := func(name, help string, v func(httpcache.Stats) int64) edgeDesc {
		return edgeDesc{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue, v}
	}
	return &edgeCollector{s: s, descs: []edgeDesc{
		c("lbd_cache_hits_total", "Requests answered from the response cache (fresh, or stale where allowed).", func(s httpcache.Stats) int64 { return s.Hits }),
		c("lbd_cache_misses_total", "Requests the response cache sent to a backend (misses and revalidations).", func(s httpcache.Stats) int64 { return s.Misses }),
		c("lbd_cache_collapsed_total", "Requests that waited for another request's fetch of the same object instead of going to a backend.", func(s httpcache.Stats) int64 { return s.Collapsed }),
		c("lbd_cache_stale_total", "Stale responses served (stale-while-revalidate, stale-if-error, max-stale).", func(s httpcache.Stats) int64 { return s.Stale }),
		c("lbd_cache_revalidated_total", "Stored responses a backend's 304 refreshed.", func(s httpcache.Stats) int64 { return s.Revalidated }),
		c("lbd_cache_stores_total", "Responses stored.", func(s httpcache.Stats) int64 { return s.Stores }),
		c("lbd_cache_evictions_total", "Stored responses evicted to stay within max_bytes.", func(s httpcache.Stats) int64 { return s.Evictions }),
		c("lbd_cache_purged_total", "Stored responses removed through the admin API.", func(s httpcache.Stats) int64 { return s.Purged }),
		g("lbd_cache_bytes", "Bytes the response cache holds (bodies, fields and overhead).", func(s httpcache.Stats) int64 { return s.Bytes }),
		g("lbd_cache_objects", "Keys the response cache holds (responses and Vary markers).", func(s httpcache.Stats) int64 { return s.Objects }),
	}}
}

func (c *edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.d
	}
}

func (c *edgeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.s.frontends {
		f.edges(func(e *edge) {
			st := e.cache.Stats()
			route := e.route
			if route == "" {
				route = "default" // the frontend's own, as routes' metrics name it
			}
			for _, d := range c.descs {
				ch <- prometheus.MustNewConstMetric(d.d, d.kind, float64(d.value(st)), e.frontend, route)
			}
		})
	}
}
