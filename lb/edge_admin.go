package lb

import (
	"net/http"

	"netsim/internal/api"
	"netsim/lb/compress"
	"netsim/lb/httpcache"
)

// The response caches in the admin API:
//
//	GET  /api/v1/caches                   every frontend's cache: config and counters
//	POST /api/v1/caches/{frontend}/purge  {"path": "/static/app.css"} or {"prefix": "/static/"}
func (s *Server) edgeRoutes(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/caches", map[string]http.HandlerFunc{http.MethodGet: s.listCaches})
	api.Route(mux, "/api/v1/caches/{frontend}/purge", map[string]http.HandlerFunc{http.MethodPost: s.purgeCache})
}

// CacheView is one frontend's cache in the admin API.
type CacheView struct {
	Frontend string           `json:"frontend"`
	Config   httpcache.Config `json:"config"`
	Compress *compress.Config `json:"compress,omitempty"`
	Stats    httpcache.Stats  `json:"stats"`
}

func (s *Server) listCaches(w http.ResponseWriter, r *http.Request) {
	views := []CacheView{}
	for _, f := range s.frontends {
		if e := f.edge.Load(); e != nil && e.cache != nil {
			v := CacheView{Frontend: f.name, Config: e.cache.Config(), Stats: e.cache.Stats()}
			if e.comp != nil {
				cc := e.comp.Config()
				v.Compress = &cc
			}
			views = append(views, v)
		}
	}
	api.WriteList(w, r, views)
}

// purgeRequest is the body of a purge: exactly one of path (one target,
// query included, any host) and prefix.
type purgeRequest struct {
	Path   string `json:"path"`
	Prefix string `json:"prefix"`
}

func (s *Server) purgeCache(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("frontend")
	var e *edge
	var names []string
	for _, f := range s.frontends {
		fe := f.edge.Load()
		if fe != nil && fe.cache != nil {
			names = append(names, f.name)
			if f.name == name {
				e = fe
			}
		}
	}
	if e == nil {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "cache_not_found", "frontend %q has no cache; frontends with one: %v", name, names).With("frontend", name))
		return
	}
	var req purgeRequest
	if !api.Decode(w, r, &req) {
		return
	}
	if (req.Path == "") == (req.Prefix == "") {
		api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_purge", `send exactly one of "path" (a target such as /static/app.css) and "prefix" (such as /static/)`))
		return
	}
	var n int
	if req.Path != "" {
		n = e.cache.Purge(req.Path, false)
	} else {
		n = e.cache.Purge(req.Prefix, true)
	}
	api.WriteData(w, r, http.StatusOK, map[string]any{"frontend": name, "purged": n})
}
