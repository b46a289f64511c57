// Package lb is lbd, the L7 HTTP load balancer: frontends (HTTP listeners)
// proxy to pools of backends chosen by a policy (lb/policy), watched by
// health checks (lb/health), with sticky sessions, drain, retries, an admin
// API and Prometheus metrics. New builds a Server from a Config; Run serves
// until its context ends. Nothing is global: several Servers can run in one
// process (cmd/netsim does, next to dnsd).
package lb

import (
	"crypto/rand"
	ctls "crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/internal/api"
	"netsim/internal/events"
	"netsim/internal/world"
	"netsim/lb/l4"
	nstls "netsim/tls"
)

// Server is a running (or ready to run) load balancer.
type Server struct {
	log    *zap.Logger
	reg    prometheus.Registerer
	gather prometheus.Gatherer
	met    *metrics
	now    func() time.Time

	token     string
	cookieKey []byte

	mu        sync.Mutex // serialises Reload and membership changes through the API
	cfg       atomic.Pointer[Config]
	pools     atomic.Pointer[map[string]*pool]
	frontends []*frontend
	admin     *http.Server
	adminLn   net.Listener

	accessLog atomic.Pointer[accessLog]
	accessN   atomic.Uint64
	retrySeq  atomic.Uint64
	tlsMet    *nstls.Metrics
	tickets   *nstls.TicketKeys
	demo      atomic.Pointer[nstls.PKI] // the demo PKI when a frontend uses it
	l4        *l4.Server                // nil without l4 frontends
	world     *world.World              // the distances frontends apply; nil: none
	queued    atomic.Int64              // requests waiting in any pool's queue
	events    *events.Bus               // lb.request, lb.backend, lb.health (events.go)

	started atomic.Bool
	stopped bool // under mu: Run has shut down; Reload and the API add nothing
	ready   chan struct{}
	addrs   sync.Map // frontend name -> net.Addr
}

// SetWorld puts the frontends (HTTP and TCP) in w, before Run: each
// connection carries the modelled distance between the client's address
// and the frontend's (internal/world). Nil or flat: no distance, no cost.
func (s *Server) SetWorld(w *world.World) {
	s.world = w
	if s.l4 != nil {
		s.l4.SetWorld(w)
	}
}

// New validates cfg and builds a Server. log may be nil (no logs). reg
// receives lbd's metrics; when nil the Server makes its own registry. The
// admin listener serves /metrics from reg when it is also a Gatherer (a
// *prometheus.Registry is). Nothing listens and no goroutine starts until
// Run.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("lbd", cfg.Name))
	s := &Server{log: log, now: time.Now, ready: make(chan struct{})}
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
	}
	s.reg = reg
	if g, ok := reg.(prometheus.Gatherer); ok {
		s.gather = g
	}
	s.token = cfg.Admin.Token
	if s.token == "" {
		s.token = api.NewToken()
	}
	s.cookieKey = make([]byte, 32)
	_, _ = rand.Read(s.cookieKey)
	met, err := newMetrics(reg, s)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	s.met = met
	s.events = events.New(events.Options{Namespace: "lbd", Registerer: reg})
	demo, err := s.planDemoPKI(&cfg)
	if err != nil {
		return nil, err
	}
	if err := s.writeDemoPKI(demo); err != nil {
		return nil, err
	}
	if len(cfg.L4.Frontends) > 0 {
		if s.l4, err = l4.New(cfg.L4, l4.Options{Log: log, Registerer: reg}); err != nil {
			return nil, err
		}
	}
	if _, _, err := s.apply(&cfg, nil, nil); err != nil {
		return nil, err
	}
	for i, fc := range cfg.Frontends {
		f := newFrontend(s, fc)
		e, err := buildEdges(f, &fc, f.routes.Load(), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("frontends[%d]: %w", i, err)
		}
		f.edge.Store(e)
		if fc.TLS != nil {
			if err := s.setupTLS(f, fc.TLS); err != nil {
				return nil, fmt.Errorf("frontends[%d].tls: %w", i, err)
			}
		}
		s.frontends = append(s.frontends, f)
	}
	s.met.reloadStamp.SetToCurrentTime()
	return s, nil
}

// apply builds pools for cfg (carrying over state from old) and swaps them
// in. When the server is running, the new pools' checks start before the
// swap and the old pools' checks stop after it. tlsCfgs are the pools'
// re-encryption configs Prepare loaded; a pool not in it loads its own.
//
// A pool the new config drops stays findable by name (checks stopped,
// idle connections closed) until the caller has swapped in the routes
// that no longer name it and stores the returned map. The second map,
// the new pools plus the dropped ones, is what the new route tables see;
// an old table keeps its own, so a request that read the old routes
// still finds its pool (no 503 no_pool mid-reload).
func (s *Server) apply(cfg *Config, old map[string]*pool, tlsCfgs map[string]*ctls.Config) (pools, visible map[string]*pool, err error) {
	pools = make(map[string]*pool, len(cfg.Pools))
	for _, pc := range cfg.Pools {
		tc, ok := tlsCfgs[pc.Name]
		if !ok {
			if tc, err = backendTLS(pc.TLS); err != nil {
				return nil, nil, fmt.Errorf("pool %s: %w", pc.Name, err)
			}
		}
		p, err := s.buildPool(pc, old[pc.Name], tc)
		if err != nil {
			return nil, nil, fmt.Errorf("pool %s: %w", pc.Name, err)
		}
		pools[pc.Name] = p
	}
	if s.started.Load() {
		for _, p := range pools {
			s.startMonitor(p)
		}
	}
	s.configureAccessLog(cfg)
	s.cfg.Store(cfg)
	visible = pools
	cloned := false
	for name, op := range old {
		if _, kept := pools[name]; !kept {
			if !cloned {
				visible, cloned = maps.Clone(pools), true
			}
			visible[name] = op
		}
	}
	s.pools.Store(&visible)
	// Drop what the new config no longer has.
	for name, op := range old {
		if op.monitor != nil {
			op.monitor.Stop()
		}
		np := pools[name]
		for _, m := range op.snap.Load().order {
			if np == nil || np.snap.Load().byPtr[m.b] == nil {
				s.met.dropBackend(name, m.b.ID())
				m.closeIdle()
				s.log.Info("backend removed by reload", zap.String("pool", name), zap.String("backend", m.b.ID()))
			}
		}
	}
	return pools, visible, nil
}

// accessLog is the access-log setting in force; nil when off.
type accessLog struct {
	log   *zap.Logger
	every uint64 // log one request in every
}

func (s *Server) configureAccessLog(cfg *Config) {
	if !cfg.AccessLog.Enabled {
		s.accessLog.Store(nil)
		return
	}
	every := uint64(1)
	if r := cfg.AccessLog.SampleRate; r > 0 && r < 1 {
		every = uint64(1/r + 0.5)
	}
	s.accessLog.Store(&accessLog{log: s.log.Named("access"), every: every})
}

// sampledAccessLog returns the access logger when this request is sampled.
func (s *Server) sampledAccessLog() *zap.Logger {
	al := s.accessLog.Load()
	if al == nil || (al.every > 1 && s.accessN.Add(1)%al.every != 0) {
		return nil
	}
	return al.log
}

func (s *Server) pool(name string) *pool {
	if m := s.pools.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// Config returns the configuration in force.
func (s *Server) Config() Config { return *s.cfg.Load() }

// AdminToken is the bearer token mutating admin calls need: the configured
// one, or one generated by New.
func (s *Server) AdminToken() string { return s.token }

// Ready is closed once every listener is bound and the first round of
// health checks has finished (or its timeout passed).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address of a frontend (HTTP or TCP), nil before
// Ready.
func (s *Server) Addr(frontend string) net.Addr {
	if a, ok := s.addrs.Load(frontend); ok {
		return a.(net.Addr)
	}
	return nil
}

// AdminAddr returns the bound admin address, nil before Ready.
func (s *Server) AdminAddr() net.Addr {
	if a, ok := s.addrs.Load("\x00admin"); ok {
		return a.(net.Addr)
	}
	return nil
}

// L4 returns the TCP load balancer, nil when the config has no l4
// frontends.
func (s *Server) L4() *l4.Server { return s.l4 }

func jsonIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte(`{"error":{"code":"internal","message":"encoding error"}}`)
	}
	return append(b, '\n')
}
