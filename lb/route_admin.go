package lb

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"netsim/internal/api"
)

// The admin API of routes and their rate limits:
//
//	GET   /api/v1/routes                                   every frontend's routes
//	GET   /api/v1/frontends/{frontend}/routes              one frontend's
//	GET   /api/v1/frontends/{frontend}/routes/{route}
//	GET   /api/v1/frontends/{frontend}/routes/{route}/rate-limit
//	PATCH /api/v1/frontends/{frontend}/routes/{route}/rate-limit  {"requests":20,"per":"1s","burst":40}
//
// Each list ends with the frontend's "default" entry: the requests no
// route took, sent to the frontend's pool.

// RouteView is a route as the admin API shows it.
type RouteView struct {
	Frontend    string          `json:"frontend"`
	Name        string          `json:"name"`
	Index       int             `json:"index"` // place in the frontend's list; -1: default
	Match       RouteMatch      `json:"match"`
	Action      string          `json:"action"` // pool, redirect or respond
	Pool        string          `json:"pool,omitempty"`
	StripPrefix bool            `json:"strip_prefix,omitempty"`
	Location    string          `json:"location,omitempty"`
	Status      int             `json:"status,omitempty"` // of a redirect or a fixed response
	Hits        uint64          `json:"hits"`
	RateLimit   *RateLimitView  `json:"rate_limit,omitempty"`
	CORS        *CORSConfigView `json:"cors,omitempty"`
	HeaderRules bool            `json:"header_rules"`
}

// CORSConfigView is a route's CORS policy.
type CORSConfigView struct {
	AllowOrigins     []string `json:"allow_origins"`
	AllowMethods     []string `json:"allow_methods"`
	AllowCredentials bool     `json:"allow_credentials"`
}

// RateLimitView is a route's rate limit and its table.
type RateLimitView struct {
	Requests int    `json:"requests"`
	Per      string `json:"per"`
	Burst    int    `json:"burst"`
	Key      string `json:"key"`
	Policy   string `json:"policy"` // the RateLimit-Policy field
	Keys     int    `json:"keys"`   // clients in the table now
	MaxKeys  int    `json:"max_keys"`
	Allowed  uint64 `json:"allowed"`
	Limited  uint64 `json:"limited"` // answered 429
	Evicted  uint64 `json:"evicted"` // keys dropped to make room before their bucket was full
	Source   string `json:"source"`  // config, or api after a PATCH
}

func viewLimit(l *limiter) *RateLimitView {
	p := l.params.Load()
	src := "config"
	if p.requests != l.cfg.Requests || p.per != l.cfg.Per || p.burst != l.cfg.Burst {
		src = "api"
	}
	return &RateLimitView{Requests: p.requests, Per: p.per.String(), Burst: p.burst, Key: l.cfg.Key, Policy: p.policy,
		Keys: l.size(), MaxKeys: l.maxKeys, Allowed: l.allowed.Load(), Limited: l.limited.Load(), Evicted: l.evicted.Load(), Source: src}
}

func viewRoute(f *frontend, fc *FrontendConfig, r *route) RouteView {
	v := RouteView{Frontend: f.name, Name: r.name, Index: r.index, Action: "pool", Pool: r.pool, StripPrefix: r.strip, Hits: r.hits.Load(),
		Match: r.cfg.Match, HeaderRules: r.reqRules != nil || r.resRules != nil}
	switch {
	case r.redirect != nil:
		v.Action, v.Location, v.Status = "redirect", r.redirect.Location, r.redirect.Code
	case r.respond != nil:
		v.Action, v.Status = "respond", r.respond.Status
	case v.Pool == "":
		v.Pool = fc.Pool
	}
	if r.limit != nil {
		v.RateLimit = viewLimit(r.limit)
	}
	if c := r.cfg.CORS; c != nil {
		v.CORS = &CORSConfigView{AllowOrigins: c.AllowOrigins, AllowMethods: c.AllowMethods, AllowCredentials: c.AllowCredentials}
	}
	return v
}

func (f *frontend) routeViews() []RouteView {
	fc := f.cfg.Load()
	t := f.routes.Load()
	out := make([]RouteView, 0, len(t.routes)+1)
	for _, r := range t.routes {
		out = append(out, viewRoute(f, fc, r))
	}
	return append(out, RouteView{Frontend: f.name, Name: "default", Index: -1, Action: "pool", Pool: fc.Pool, Hits: t.defHits.Load()})
}

func (s *Server) routeAdmin(mux *http.ServeMux) {
	api.Route(mux, "/api/v1/routes", map[string]http.HandlerFunc{http.MethodGet: api.List(func() []RouteView {
		var all []RouteView
		for _, f := range s.frontends {
			all = append(all, f.routeViews()...)
		}
		return all
	})})
	api.Route(mux, "/api/v1/frontends/{frontend}/routes", map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
		if f := s.findFrontend(w, r); f != nil {
			api.WriteList(w, r, f.routeViews())
		}
	}})
	api.Route(mux, "/api/v1/frontends/{frontend}/routes/{route}", map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
		if f, rt := s.findRoute(w, r); rt != nil {
			api.WriteData(w, r, http.StatusOK, viewRoute(f, f.cfg.Load(), rt))
		}
	}})
	api.Route(mux, "/api/v1/frontends/{frontend}/routes/{route}/rate-limit", map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			if _, rt := s.findLimit(w, r); rt != nil {
				api.WriteData(w, r, http.StatusOK, viewLimit(rt.limit))
			}
		},
		http.MethodPatch: s.patchRateLimit,
	})
}

func (s *Server) findFrontend(w http.ResponseWriter, r *http.Request) *frontend {
	name := r.PathValue("frontend")
	var names []string
	for _, f := range s.frontends {
		if f.name == name {
			return f
		}
		names = append(names, f.name)
	}
	api.WriteError(w, r, api.Errorf(http.StatusNotFound, "frontend_not_found", "no HTTP frontend %q; frontends: %v", name, names).With("frontend", name))
	return nil
}

func (s *Server) findRoute(w http.ResponseWriter, r *http.Request) (*frontend, *route) {
	f := s.findFrontend(w, r)
	if f == nil {
		return nil, nil
	}
	name := r.PathValue("route")
	var names []string
	for _, rt := range f.routes.Load().routes {
		if rt.name == name {
			return f, rt
		}
		names = append(names, rt.name)
	}
	api.WriteError(w, r, api.Errorf(http.StatusNotFound, "route_not_found", "frontend %s has no route %q; routes: %v", f.name, name, names).
		With("frontend", f.name).With("route", name))
	return nil, nil
}

func (s *Server) findLimit(w http.ResponseWriter, r *http.Request) (*frontend, *route) {
	f, rt := s.findRoute(w, r)
	if rt != nil && rt.limit == nil {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "no_rate_limit", "route %s of frontend %s has no rate_limit; add one in the config and reload", rt.name, f.name).
			With("frontend", f.name).With("route", rt.name))
		return nil, nil
	}
	return f, rt
}

// RateLimitPatch is the body of PATCH …/rate-limit.
type RateLimitPatch struct {
	Requests *int    `json:"requests"`
	Per      *string `json:"per"`
	Burst    *int    `json:"burst"`
}

func (s *Server) patchRateLimit(w http.ResponseWriter, r *http.Request) {
	var patch RateLimitPatch
	f, rt := s.findLimit(w, r)
	if rt == nil || !api.DecodePatch(w, r, &patch, `"requests", "per" and/or "burst"`) {
		return
	}
	l := rt.limit
	p := l.params.Load()
	requests, per, burst := p.requests, p.per, p.burst
	if patch.Requests != nil {
		requests = *patch.Requests
	}
	if patch.Burst != nil {
		burst = *patch.Burst
	}
	if patch.Per != nil {
		d, err := time.ParseDuration(*patch.Per)
		if err != nil {
			api.WriteError(w, r, api.Errorf(http.StatusBadRequest, "bad_per", "per: %q is not a duration such as 1s or 1m", *patch.Per).With("field", "per"))
			return
		}
		per = d
	}
	switch {
	case requests < 1:
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_requests", "requests must be at least 1, got %d", requests).With("field", "requests"))
		return
	case per < time.Millisecond:
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_per", "per must be at least 1ms, got %v", per).With("field", "per"))
		return
	case burst < 1:
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_burst", "burst must be at least 1, got %d", burst).With("field", "burst"))
		return
	}
	l.set(requests, per, burst, s.now())
	s.log.Info("rate limit set through the API", zap.String("frontend", f.name), zap.String("route", rt.name),
		zap.Int("requests", requests), zap.Duration("per", per), zap.Int("burst", burst))
	api.WriteData(w, r, http.StatusOK, viewLimit(l))
}
