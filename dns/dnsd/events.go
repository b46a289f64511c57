package dnsd

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/ecs"
	"netsim/dns/geo"
	"netsim/dns/server"
	"netsim/internal/api"
)

// registerEventRoutes mounts the event stream (GET /api/v1/events: dns.query
// from every listener, dns.upstream and dns.cache from the resolver) and
// the query log switch (GET/PATCH /api/v1/querylog).
func (d *Daemon) registerEventRoutes(mux *http.ServeMux) {
	mux.Handle("/api/v1/events", d.events.Handler())
	api.Route(mux, "/api/v1/querylog", map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			api.WriteData(w, r, http.StatusOK, d.qlog.Settings())
		},
		http.MethodPatch: d.patchQueryLog,
	})
}

// queryLogPatch is the body of PATCH /api/v1/querylog; absent fields keep
// their value.
type queryLogPatch struct {
	Enabled *bool    `json:"enabled"`
	Sample  *float64 `json:"sample"`
}

func (d *Daemon) patchQueryLog(w http.ResponseWriter, r *http.Request) {
	var p queryLogPatch
	if !api.Decode(w, r, &p) {
		return
	}
	s := d.qlog.Settings()
	if !api.PatchSampling(w, r, "sample", "1 logs every query, 0.1 one in ten", &s.Enabled, p.Enabled, &s.Sample, p.Sample) {
		return
	}
	d.qlog.Set(s)
	d.log.Info("query log settings changed", zap.Bool("enabled", s.Enabled), zap.Float64("sample", s.Sample))
	api.WriteData(w, r, http.StatusOK, s)
}

// geoExplained is the GeoDNS hook with the explanation dns.query events
// carry: which pool, for which region, by which rule.
type geoExplained struct{ *geo.Hook }

var _ server.GeoExplainer = geoExplained{}

func (g geoExplained) ExplainChoice(req *dns.Msg, qname string, qtype uint16, client netip.Addr) *server.GeoChoice {
	e := g.Load()
	if e == nil {
		return nil
	}
	res, ok := e.Explain(qname, qtype, client, ecs.Find(req))
	if !ok {
		return nil
	}
	x := res.Explanation
	reason := x.Rule
	if x.Failover != "" {
		reason += "; " + x.Failover
	}
	return &server.GeoChoice{Pool: x.Pool, Region: strings.ToLower(x.Location.Continent), Reason: reason}
}
