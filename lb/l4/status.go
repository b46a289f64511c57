package l4

import (
	"net/http"
	"time"

	"netsim/internal/api"
	"netsim/lb/backend"
)

// BackendStatus is a backend as the admin API shows it.
type BackendStatus struct {
	ID          string     `json:"id"`
	Address     string     `json:"address"`
	State       string     `json:"state"`
	Healthy     bool       `json:"healthy"`
	Weight      int        `json:"weight"`
	Active      int64      `json:"active_connections"`
	Connections uint64     `json:"connections_total"`
	Failures    uint64     `json:"failures_total"`
	DrainedAt   *time.Time `json:"drained_at,omitempty"`
}

// PoolStatus is a pool as the admin API shows it.
type PoolStatus struct {
	Name      string          `json:"name"`
	Policy    string          `json:"policy"`
	SendProxy string          `json:"send_proxy,omitempty"`
	Backends  []BackendStatus `json:"backends"`
}

// FrontendStatus is a TCP frontend as the admin API shows it.
type FrontendStatus struct {
	Name    string     `json:"name"`
	Listen  string     `json:"listen"`
	Address string     `json:"address,omitempty"`
	Pool    string     `json:"pool,omitempty"`
	SNI     []SNIRoute `json:"sni,omitempty"`
	Proxy   []string   `json:"accept_proxy,omitempty"`
}

func status(b *backend.Backend) BackendStatus {
	st := BackendStatus{ID: b.ID(), Address: b.Address(), State: b.State().String(), Healthy: b.Healthy(),
		Weight: b.Weight(), Active: b.InFlight(), Connections: b.Requests(), Failures: b.Failures()}
	if t := b.DrainedAt(); !t.IsZero() {
		t = t.UTC()
		st.DrainedAt = &t
	}
	return st
}

func (p *pool) status() PoolStatus {
	ps := PoolStatus{Name: p.cfg.Name, Policy: p.cfg.Policy, SendProxy: string(p.cfg.SendProxy), Backends: []BackendStatus{}}
	for _, b := range p.backends {
		ps.Backends = append(ps.Backends, status(b))
	}
	return ps
}

// Pools lists the pools in config order.
func (s *Server) Pools() []PoolStatus {
	g := s.gen.Load()
	out := make([]PoolStatus, 0, len(g.order))
	for _, n := range g.order {
		out = append(out, g.pools[n].status())
	}
	return out
}

// Frontends lists the frontends with their bound addresses.
func (s *Server) Frontends() []FrontendStatus {
	out := make([]FrontendStatus, 0, len(s.fes))
	for _, f := range s.fes {
		rc := f.rt.Load().cfg
		fs := FrontendStatus{Name: f.cfg.Name, Listen: f.cfg.Listen, Pool: rc.Pool, SNI: rc.SNI, Proxy: rc.AcceptProxy}
		if f.ln != nil {
			fs.Address = f.ln.Addr().String()
		}
		out = append(out, fs)
	}
	return out
}

// Handler serves the L4 part of lbd's admin API (REST.md conventions):
//
//	GET   /api/v1/l4/frontends
//	GET   /api/v1/l4/pools
//	GET   /api/v1/l4/pools/{pool}
//	GET   /api/v1/l4/pools/{pool}/backends/{id}
//	PATCH /api/v1/l4/pools/{pool}/backends/{id}   {"state":"draining"|"maintenance"|"up"}
//
// Mutations need the bearer token (empty token: every mutation is refused).
func (s *Server) Handler(token string) http.Handler {
	mux := http.NewServeMux()
	api.Route(mux, "/api/v1/l4/frontends", map[string]http.HandlerFunc{http.MethodGet: api.List(s.Frontends)})
	api.Route(mux, "/api/v1/l4/pools", map[string]http.HandlerFunc{http.MethodGet: api.List(s.Pools)})
	api.Route(mux, "/api/v1/l4/pools/{pool}", map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			p := s.pool(r.PathValue("pool"))
			if p == nil {
				api.NotFound(w, r)
				return
			}
			api.WriteData(w, r, http.StatusOK, p.status())
		},
	})
	mux.Handle("/api/v1/l4/pools/{pool}/backends/{id}", api.Auth(token, api.Methods(map[string]http.HandlerFunc{
		http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
			b := s.lookup(r)
			if b == nil {
				api.NotFound(w, r)
				return
			}
			api.WriteData(w, r, http.StatusOK, status(b))
		},
		http.MethodPatch: func(w http.ResponseWriter, r *http.Request) {
			b := s.lookup(r)
			if b == nil {
				api.NotFound(w, r)
				return
			}
			var body struct {
				State string `json:"state"`
			}
			if !api.Decode(w, r, &body) {
				return
			}
			st, err := backend.ParseAdminState(body.State)
			if err != nil {
				api.WriteError(w, r, api.Errorf(http.StatusUnprocessableEntity, "bad_state", "state: %v", err).With("field", "state"))
				return
			}
			if err := s.SetBackendState(r.PathValue("pool"), b.ID(), st); err != nil {
				api.Fail(w, r, err)
				return
			}
			api.WriteData(w, r, http.StatusOK, status(b))
		},
	})))
	mux.HandleFunc("/api/v1/l4/", api.NotFound)
	return mux
}

func (s *Server) lookup(r *http.Request) *backend.Backend {
	p := s.pool(r.PathValue("pool"))
	if p == nil {
		return nil
	}
	return p.byID[r.PathValue("id")]
}
