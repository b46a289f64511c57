package lb

import (
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"netsim/internal/api"
	"netsim/lb/backend"
	nstls "netsim/tls"
)

// BackendView is a backend as the admin API shows it.
type BackendView struct {
	ID                  string     `json:"id"`
	Address             string     `json:"address"`
	State               string     `json:"state"`       // up, down, draining, maintenance
	AdminState          string     `json:"admin_state"` // what an operator set: up, draining, maintenance
	Healthy             bool       `json:"healthy"`
	Weight              int        `json:"weight"`
	EffectiveWeight     float64    `json:"effective_weight"`
	MaxConnections      int64      `json:"max_connections"`
	InFlight            int64      `json:"in_flight"`
	DrainedAt           *time.Time `json:"drained_at"`
	EjectedAt           *time.Time `json:"ejected_at"`
	Load                *int       `json:"load_percent"`
	LastCheckAt         *time.Time `json:"last_check_at"`
	LastCheckOK         bool       `json:"last_check_ok"`
	ResponseTimeEWMAms  float64    `json:"response_time_ewma_ms"`
	Requests            uint64     `json:"requests"`
	Failures            uint64     `json:"failures"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	StateChanges        uint64     `json:"state_changes"`
	Source              string     `json:"source"` // config or api
}

// PoolView is a pool as the admin API shows it.
type PoolView struct {
	Name      string     `json:"name"`
	Policy    string     `json:"policy"`
	HashKey   string     `json:"hash_key,omitempty"`
	Sticky    string     `json:"sticky"`
	HealthV   healthView `json:"health"`
	Backends  int        `json:"backends"`
	Available int        `json:"available"`
	InFlight  int64      `json:"in_flight"`
	Frontends []string   `json:"frontends"`
}

type healthView struct {
	Type     string `json:"type"`
	Path     string `json:"path,omitempty"`
	Interval string `json:"interval"`
	Timeout  string `json:"timeout"`
	Rise     int    `json:"rise"`
	Fall     int    `json:"fall"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func viewBackend(m *member) BackendView {
	b := m.b
	v := BackendView{
		ID: b.ID(), Address: b.Address(), State: b.State().String(), AdminState: b.AdminState().String(),
		Healthy: b.Healthy(), Weight: b.Weight(), EffectiveWeight: b.EffectiveWeight(), MaxConnections: b.MaxConns(),
		InFlight: b.InFlight(), DrainedAt: timePtr(b.DrainedAt()), EjectedAt: timePtr(b.EjectedAt()),
		ResponseTimeEWMAms: float64(b.LatencyEWMA().Microseconds()) / 1000,
		Requests:           b.Requests(), Failures: b.Failures(), ConsecutiveFailures: b.ConsecutiveFailures(),
		StateChanges: b.StateChanges(), Source: m.source,
	}
	if l := b.Load(); l >= 0 {
		v.Load = &l
	}
	at, ok := b.LastCheck()
	v.LastCheckAt, v.LastCheckOK = timePtr(at), ok
	return v
}

func (s *Server) viewPool(p *pool) PoolView {
	sn := p.snap.Load()
	v := PoolView{Name: p.name, Policy: p.cfg.Policy, HashKey: p.cfg.HashKey, Sticky: p.cfg.Sticky.Mode, Backends: len(sn.order), Frontends: []string{}}
	h := p.cfg.Health
	v.HealthV = healthView{Type: h.Type, Path: h.Path, Interval: h.Interval.String(), Timeout: h.Timeout.String(), Rise: h.Rise, Fall: h.Fall}
	if h.Type != "http" {
		v.HealthV.Path = ""
	}
	for _, m := range sn.order {
		if m.b.Available() {
			v.Available++
		}
		v.InFlight += m.b.InFlight()
	}
	for _, f := range s.frontends {
		if f.cfg.Load().Pool == p.name {
			v.Frontends = append(v.Frontends, f.name)
		}
	}
	return v
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	api.Route(mux, "/api/v1/pools", map[string]http.HandlerFunc{http.MethodGet: s.listPools})
	api.Route(mux, "/api/v1/pools/{pool}", map[string]http.HandlerFunc{http.MethodGet: s.getPool})
	api.Route(mux, "/api/v1/pools/{pool}/backends", map[string]http.HandlerFunc{
		http.MethodGet: s.listBackends, http.MethodPost: s.addBackend,
	})
	api.Route(mux, "/api/v1/pools/{pool}/backends/{id}", map[string]http.HandlerFunc{
		http.MethodGet: s.getBackend, http.MethodPatch: s.patchBackend, http.MethodDelete: s.deleteBackend,
	})
	s.routeAdmin(mux)
	api.Route(mux, "/api/v1/certificates", map[string]http.HandlerFunc{http.MethodGet: s.listCertificates})
	api.Route(mux, demoCRLPath, map[string]http.HandlerFunc{http.MethodGet: s.serveDemoCRL})
	api.Route(mux, "/healthz", map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
		api.WriteData(w, r, http.StatusOK, map[string]string{"status": "ok"})
	}})
	if s.l4 != nil {
		// The L4 handler checks the same token itself.
		mux.Handle("/api/v1/l4/", s.l4.Handler(s.token))
	}
	mux.Handle("/api/v1/events", s.events.Handler())
	api.Route(mux, "/api/v1/accesslog", map[string]http.HandlerFunc{
		http.MethodGet: s.getAccessLog, http.MethodPatch: s.patchAccessLog,
	})
	api.Route(mux, "/readyz", map[string]http.HandlerFunc{http.MethodGet: s.readyz})
	s.edgeRoutes(mux)
	if s.gather != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log)}))
	}
	if s.cfg.Load().Admin.Pprof {
		api.Pprof(mux)
	}
	dash := api.Methods(map[string]http.HandlerFunc{http.MethodGet: s.dashboard})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			api.NotFound(w, r)
			return
		}
		dash.ServeHTTP(w, r)
	})
	return api.AuthLockout(s.token, api.NewLockout(s.cfg.Load().Admin.Lockout, s.log, nil), mux)
}

func (s *Server) sortedPools() []*pool {
	m := *s.pools.Load()
	out := make([]*pool, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) {
	var views []PoolView
	for _, p := range s.sortedPools() {
		views = append(views, s.viewPool(p))
	}
	api.WriteList(w, r, views)
}

func (s *Server) findPool(w http.ResponseWriter, r *http.Request) *pool {
	name := r.PathValue("pool")
	p := s.pool(name)
	if p == nil {
		var names []string
		for _, p := range s.sortedPools() {
			names = append(names, p.name)
		}
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "pool_not_found", "no pool %q; pools: %v", name, names).With("pool", name))
	}
	return p
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request) {
	if p := s.findPool(w, r); p != nil {
		api.WriteData(w, r, http.StatusOK, s.viewPool(p))
	}
}

func (s *Server) listBackends(w http.ResponseWriter, r *http.Request) {
	p := s.findPool(w, r)
	if p == nil {
		return
	}
	sn := p.snap.Load()
	views := make([]BackendView, 0, len(sn.order))
	for _, m := range sn.order {
		views = append(views, viewBackend(m))
	}
	api.WriteList(w, r, views)
}

func (s *Server) findBackend(w http.ResponseWriter, r *http.Request) (*pool, *member) {
	p := s.findPool(w, r)
	if p == nil {
		return nil, nil
	}
	id := r.PathValue("id")
	m := p.snap.Load().byID[id]
	if m == nil {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "backend_not_found", "pool %s has no backend %q", p.name, id).With("pool", p.name).With("backend", id))
	}
	return p, m
}

func (s *Server) getBackend(w http.ResponseWriter, r *http.Request) {
	if _, m := s.findBackend(w, r); m != nil {
		api.WriteData(w, r, http.StatusOK, viewBackend(m))
	}
}

// BackendPatch is the body of PATCH /api/v1/pools/{pool}/backends/{id}.
type BackendPatch struct {
	State          *string `json:"state"`
	Weight         *int    `json:"weight"`
	MaxConnections *int64  `json:"max_connections"`
}

func (s *Server) patchBackend(w http.ResponseWriter, r *http.Request) {
	var patch BackendPatch
	p, m := s.findBackend(w, r)
	if m == nil || !api.DecodePatch(w, r, &patch, `"state", "weight" and/or "max_connections"`) {
		return
	}
	var st backend.State
	if patch.State != nil {
		var err error
		if st, err = backend.ParseAdminState(*patch.State); err != nil {
			api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_state", "state: %v", err).With("field", "state"))
			return
		}
	}
	if patch.Weight != nil && (*patch.Weight < 0 || *patch.Weight > MaxWeight) {
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_weight", "weight must be 0 to %d, got %d", MaxWeight, *patch.Weight).With("field", "weight"))
		return
	}
	if patch.MaxConnections != nil && *patch.MaxConnections < 0 {
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_max_connections", "max_connections must not be negative (0 = no limit)").With("field", "max_connections"))
		return
	}
	if patch.Weight != nil {
		m.b.SetWeight(*patch.Weight)
		s.log.Info("backend weight set through the API", zap.String("pool", p.name), zap.String("backend", m.b.ID()), zap.Int("weight", *patch.Weight))
	}
	if patch.MaxConnections != nil {
		m.b.SetMaxConns(*patch.MaxConnections)
	}
	if patch.State != nil {
		m.b.SetAdminState(st, "admin API")
		if st == backend.Maintenance {
			m.closeIdle()
		}
	}
	api.WriteData(w, r, http.StatusOK, viewBackend(m))
}

// BackendCreate is the body of POST /api/v1/pools/{pool}/backends.
type BackendCreate struct {
	ID             string  `json:"id"`
	Address        string  `json:"address"`
	Weight         *int    `json:"weight"`
	MaxConnections int64   `json:"max_connections"`
	State          *string `json:"state"`
}

func (s *Server) addBackend(w http.ResponseWriter, r *http.Request) {
	p := s.findPool(w, r)
	if p == nil {
		return
	}
	var c BackendCreate
	if !api.Decode(w, r, &c) {
		return
	}
	if c.Weight == nil {
		one := 1
		c.Weight = &one
	}
	bc := BackendConfig{ID: c.ID, Address: c.Address, Weight: c.Weight, MaxConnections: c.MaxConnections}
	if fe := checkBackend(bc); fe != nil {
		api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_"+fe.Key, "%s", fe).With("field", fe.Key))
		return
	}
	st := backend.Up
	if c.State != nil {
		var err error
		if st, err = backend.ParseAdminState(*c.State); err != nil {
			api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_state", "state: %v", err).With("field", "state"))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p = s.pool(p.name) // a reload may have replaced it
	m, err := p.addBackend(bc)
	if err == errStopped {
		api.WriteError(w, r, api.Errorf(http.StatusServiceUnavailable, "shutting_down", "lbd is shutting down"))
		return
	}
	if err == errExists {
		api.WriteError(w, r, api.Errorf(http.StatusConflict, "backend_exists", "pool %s already has a backend %q; PATCH it or DELETE it first", p.name, bc.ID).With("backend", bc.ID))
		return
	}
	if st != backend.Up {
		m.b.SetAdminState(st, "admin API")
	}
	s.log.Info("backend added through the API", zap.String("pool", p.name), zap.String("backend", bc.ID), zap.String("address", bc.Address))
	w.Header().Set("Location", "/api/v1/pools/"+p.name+"/backends/"+bc.ID)
	api.WriteData(w, r, http.StatusCreated, viewBackend(m))
}

func (s *Server) deleteBackend(w http.ResponseWriter, r *http.Request) {
	p, m := s.findBackend(w, r)
	if m == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p = s.pool(p.name)
	m, ok := p.removeBackend(r.PathValue("id"))
	if !ok {
		api.NotFound(w, r)
		return
	}
	s.met.dropBackend(p.name, m.b.ID())
	s.log.Info("backend removed through the API", zap.String("pool", p.name), zap.String("backend", m.b.ID()), zap.Int64("in_flight", m.b.InFlight()))
	w.WriteHeader(http.StatusNoContent)
}

// certificateView is one loaded certificate of an HTTPS frontend.
type certificateView struct {
	Frontend string `json:"frontend"`
	nstls.Info
}

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request) {
	views := []certificateView{}
	for _, f := range s.frontends {
		if f.store == nil {
			continue
		}
		for _, c := range f.store.Certificates() {
			views = append(views, certificateView{Frontend: f.name, Info: c})
		}
	}
	api.WriteList(w, r, views)
}

// readyz answers 200 when lbd has started and the pool of every frontend
// (where requests no route took go) has a backend able to take a
// request, else 503 naming the pools that cannot: what a GeoDNS health
// probe or an outer balancer should look at. A pool only routes send to
// is listed as degraded but does not make lbd unready.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.ready:
	default:
		api.WriteError(w, r, api.Errorf(http.StatusServiceUnavailable, "starting", "lbd is starting"))
		return
	}
	main := map[string]bool{}
	for _, f := range s.frontends {
		main[f.cfg.Load().Pool] = true
	}
	var empty, degraded []string
	for _, p := range s.sortedPools() {
		ok := false
		for _, b := range p.snap.Load().list {
			if b.Available() {
				ok = true
				break
			}
		}
		switch {
		case ok:
		case main[p.name] || len(main) == 0:
			empty = append(empty, p.name)
		default:
			degraded = append(degraded, p.name)
		}
	}
	if len(empty) > 0 {
		api.WriteError(w, r, api.Errorf(http.StatusServiceUnavailable, "no_backend", "pools with no available backend: %v", empty).With("pools", empty))
		return
	}
	ready := map[string]any{"status": "ready"}
	if len(degraded) > 0 {
		ready["degraded_pools"] = degraded
	}
	api.WriteData(w, r, http.StatusOK, ready)
}

// serveDemoCRL publishes the demo CA's revocation list (empty: the demo CA
// revokes nothing) at the URL its server certificate names.
func (s *Server) serveDemoCRL(w http.ResponseWriter, r *http.Request) {
	pki := s.demo.Load()
	if pki == nil || pki.CRL == "" {
		api.WriteError(w, r, api.Errorf(http.StatusNotFound, "no_demo_ca", "no frontend uses the demo CA (tls.demo), so there is no CRL to publish"))
		return
	}
	der, err := os.ReadFile(pki.CRL)
	if err != nil {
		api.Fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Content-Length", strconv.Itoa(len(der)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(der)
	}
}
