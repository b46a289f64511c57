package lb

import (
	"net/http"

	"netsim/internal/api"
	"netsim/lb/compress"
	"netsim/lb/httpcache"
)

// The response caches in the admin API:
//
//	GET  /api/v1/caches                   every cache: frontend, route, config and counters
//	POST /api/v1/caches/{frontend}/purge  {"path": "/static/app.css"} or {"prefix": "/static/"},
//	                                      and "route" to purge one route's cache only
func (s *Server) edgeRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/caches", map[string]http.HandlerFunc{http.MethodGet: s.listCaches})
	api.Route(mux, "/api/v1/caches/{frontend}/purge", map[string]http.HandlerFunc{http.MethodPost: s.purgeCache})
}

// CacheView is one cache in the admin API.
type CacheView struct {
	Frontend string           `json:"frontend"`
	Route    string           `json:"route"` // "default": the frontend's own
	Config   CacheConfigView  `json:"config"`
	Compress *compress.Config `json:"compress,omitempty"`
	Stats    httpcache.Stats  `json:"stats"`
}

// CacheConfigView is a cache's configuration in force, defaults filled
// in, durations as in the config file ("5s").
type CacheConfigView struct {
	MaxBytes        int64  `json:"max_bytes"`
	MaxObjectBytes  int64  `json:"max_object_bytes"`
	HeuristicMax    string `json:"heuristic_max"`
	CollapseTimeout string `json:"collapse_timeout"`
}

func (e *edge) view() CacheView {
	cfg := e.cache.Config()
	v := CacheView{Frontend: e.frontend, Route: e.route, Stats: e.cache.Stats(), Config: CacheConfigView{MaxBytes: cfg.MaxBytes,
		MaxObjectBytes: cfg.MaxObjectBytes, HeuristicMax: cfg.HeuristicMax.String(), CollapseTimeout: cfg.CollapseTimeout.String()}}
	if v.Route == "" {
		v.Route = "default"
	}
	if e.comp != nil {
		cc := e.comp.Config()
		v.Compress = &cc
	}
	return v
}

func (s *Server) listCaches(w http.ResponseWriter, r *http.Request) {
	views := []CacheView{}
	for _, f := range s.frontends {
		f.edges(func(e *edge) { views = append(views, e.view()) })
	}
	api.WriteList(w, r, views)
}

// purgeRequest is the body of a purge: exactly one of path (one target,
// query included, any host) and prefix; route limits it to one route's
// cache ("default": the frontend's own).
type purgeRequest struct {
	Path   string `json:"path"`
	Prefix string `json:"prefix"`
	Route  string `json:"route"`
}

func (s *Server) purgeCache(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("frontend")
	var req purgeRequest
	if !api.Decode(w, r, &req) {
		return
	}
	if (req.Path == "") == (req.Prefix == "") {
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_purge", `send exactly one of "path" (a target such as /static/app.css) and "prefix" (such as /static/)`))
		return
	}
	var caches []*edge
	var names []string
	for _, f := range s.frontends {
		f.edges(func(e *edge) {
			v := e.view()
			names = append(names, v.Frontend+"/"+v.Route)
			if f.name == name && (req.Route == "" || req.Route == v.Route) {
				caches = append(caches, e)
			}
		})
	}
	if len(caches) == 0 {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "cache_not_found", "frontend %q has no cache%s; caches (frontend/route): %v",
			name, map[bool]string{true: " on route " + req.Route}[req.Route != ""], names).With("frontend", name))
		return
	}
	n := 0
	for _, e := range caches {
		if req.Path != "" {
			n += e.cache.Purge(req.Path, false)
		} else {
			n += e.cache.Purge(req.Prefix, true)
		}
	}
	api.WriteData(w, r, http.StatusOK, map[string]any{"frontend": name, "purged": n})
}
