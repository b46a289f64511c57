package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"netsim/dns/auth"
	"netsim/dns/geo"
	"netsim/dns/resolver"
	"netsim/dns/rrl"
	"netsim/dns/server"
	"netsim/dns/xfr"
	"netsim/internal/api"
	"netsim/internal/events"
	"netsim/internal/world"
	"netsim/zones"
)

// Daemon is a running dnsd: listeners, zones and the admin API.
type Daemon struct {
	log     *zap.Logger
	reg     *prometheus.Registry
	metrics *server.Metrics
	token   string
	// Recursor serves listeners with recursion: true; New builds it from
	// the resolver section when any listener recurses.
	Recursor *resolver.Resolver
	// Routes, when set before Run, adds admin endpoints (resolver, geo).
	Routes []func(*http.ServeMux)
	// World, when set before Run, puts every listener in it (distance).
	World *world.World

	mu        sync.Mutex
	cfg       Config
	zones     []*zones.Zone
	listeners map[string]*running // by configured listen address
	ctx       context.Context
	wg        sync.WaitGroup
	admin     *http.Server
	adminAddr string
	ready     chan struct{}
	reloads   prometheus.Counter
	reloadErr prometheus.Counter
	geo       *geoPart
	xfr       *xfr.Service      // journals, transfers, NOTIFY, updates (store.go)
	sec       *xfr.Secondary    // zones transferred in (secondary.go)
	down      map[string]string // secondary zones out of service, and why
	events    *events.Bus       // dns.query, dns.upstream, dns.cache (events.go)
	qlog      *server.QueryLog  // off until switched on through the API
	rrl       *rrl.Metrics
	sign      *signing // nil: no zone is signed (dnssec.go)
}

type running struct {
	l      *server.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks the config and loads the zones; nothing is bound until Run.
func New(cfg Config, log *zap.Logger) (*Daemon, error) {
	zs, err := cfg.LoadZones()
	if err != nil {
		return nil, err
	}
	logWarnings(log, zs)
	sign := newSigning(cfg.DNSSEC, log.Named("dnssec"))
	if zs, err = sign.prepare(zs); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := &Daemon{
		log: log, reg: reg, metrics: server.NewMetrics(reg), cfg: cfg, zones: zs,
		listeners: map[string]*running{}, ready: make(chan struct{}), sign: sign,
		token: cfg.Admin.Token,
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dnsd", Name: "reloads_total", Help: "Successful config and zone reloads."}),
		reloadErr: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dnsd", Name: "reload_failures_total", Help: "Reloads refused; the old config kept serving."}),
	}
	reg.MustRegister(d.reloads, d.reloadErr)
	if d.xfr, err = xfr.New(cfg.Primary, cfg.TSIGKeys, d, log.Named("xfr"), reg); err != nil {
		return nil, err
	}
	d.xfr.SignZonesWith(sign.transferRecords)
	if zs, err = d.followed(cfg, zs); err != nil {
		d.xfr.Close()
		return nil, err
	}
	if d.zones, err = d.xfr.Open(zs); err != nil {
		d.xfr.Close()
		return nil, err
	}
	d.events = events.New(events.Options{Namespace: "dnsd", Registerer: reg})
	d.qlog = server.NewQueryLog(log.Named("query"))
	d.rrl = rrl.NewMetrics(reg)
	if d.token == "" {
		d.token = api.NewToken()
	}
	if err := api.CheckBind(cfg.Admin.Listen, cfg.Admin.Token); err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	if cfg.recursion() {
		r, err := resolver.New(cfg.Resolver, log.Named("resolver"), reg, resolver.WithEvents(d.events), resolver.WithTrustAnchor(sign.rootAnchor()))
		if err != nil {
			return nil, err
		}
		d.Recursor = r
		d.Routes = append(d.Routes, r.RegisterRoutes)
	}
	g, err := d.newGeo(cfg.Geo)
	if err != nil {
		return nil, err
	}
	if g != nil {
		d.geo = g
		d.Routes = append(d.Routes, func(mux *http.ServeMux) { geo.RegisterRoutesFunc(mux, g.hook.Load) })
	}
	return d, nil
}

// Registry is the daemon's metrics registry, for components (resolver, geo)
// to register on.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// Token is the admin bearer token (configured or generated).
func (d *Daemon) Token() string { return d.token }

// Ready is closed once every listener and the admin API are bound.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// AdminAddr is the bound admin address (after Ready).
func (d *Daemon) AdminAddr() string { return d.adminAddr }

// Listeners returns the bound address of each configured listener (after Ready).
func (d *Daemon) Listeners() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for k, r := range d.listeners {
		out[k] = r.l.Addr
	}
	return out
}

func (c Config) recursion() bool {
	for _, s := range c.Servers {
		if s.Recursion {
			return true
		}
	}
	return false
}

func checkServerZones(cfg Config, zs []*zones.Zone, secondary []string) error {
	have := map[string]bool{}
	for _, z := range zs {
		have[z.Origin] = true
	}
	for _, o := range secondary {
		have[o] = true
	}
	for i, s := range cfg.Servers {
		for _, name := range s.Zones {
			if !have[dns.Fqdn(strings.ToLower(name))] {
				return fmt.Errorf("servers[%d].zones: %q is not a loaded zone nor a secondary one (loaded: %s; secondary: %s)", i, name,
					strings.Join(origins(zs), ", "), strings.Join(secondary, ", "))
			}
		}
	}
	return nil
}

func origins(zs []*zones.Zone) []string {
	out := make([]string, len(zs))
	for i, z := range zs {
		out[i] = z.Origin
	}
	return out
}

// setFor is the zone set of listener s: its zones of zs, and a zone
// holding nothing but why for each secondary zone out of service (d.down:
// SERVFAIL with an Extended DNS Error). d.mu is held (or d not running).
func (d *Daemon) setFor(s ServerConfig, zs []*zones.Zone) *auth.Set {
	var pick []*zones.Zone
	for _, name := range s.Zones {
		name = dns.Fqdn(strings.ToLower(name))
		for _, z := range zs {
			if z.Origin == name {
				pick = append(pick, z)
			}
		}
		if why, ok := d.down[name]; ok {
			pick = append(pick, &zones.Zone{Origin: name, Down: why})
		}
	}
	return auth.NewSet(pick).WithSigners(d.sign.current())
}

// Run binds the listeners and the admin API and serves until ctx is done;
// then it stops accepting, lets in-flight queries finish and returns.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.xfr.Close() // after the listeners (deferred below) have stopped
	if d.Recursor != nil {
		d.Recursor.Start(ctx)
		defer d.Recursor.Close()
	}
	if d.geo != nil {
		d.geo.start(ctx, d.cfg.Geo, func(f func()) {
			d.wg.Add(1)
			go func() { defer d.wg.Done(); f() }()
		})
		defer d.geo.close()
	}
	d.mu.Lock()
	d.ctx = ctx
	for _, s := range d.cfg.Servers {
		if err := d.startListener(s, d.cfg.RRL); err != nil {
			d.mu.Unlock()
			d.stopAll()
			return err
		}
	}
	d.mu.Unlock()
	d.sec.Start()
	defer d.sec.Close() // before the journals close (deferred above)
	ln, err := net.Listen("tcp", d.cfg.Admin.Listen)
	if err != nil {
		d.stopAll()
		return fmt.Errorf("admin.listen %s: %w", d.cfg.Admin.Listen, err)
	}
	d.adminAddr = ln.Addr().String()
	d.admin = &http.Server{Handler: d.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
	d.admin.RegisterOnShutdown(d.events.Close) // Shutdown does not end event streams by itself
	adminDone := make(chan error, 1)
	go func() { adminDone <- d.admin.Serve(ln) }()
	close(d.ready)
	select {
	case <-ctx.Done():
	case err := <-adminDone:
		if !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin server stopped", zap.Error(err))
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.admin.Shutdown(sctx)
	d.stopAll()
	return nil
}

// startListener binds one configured listener; d.mu is held.
func (d *Daemon) startListener(s ServerConfig, rc rrl.Config) error {
	var rec server.Recursor
	if s.Recursion {
		if d.Recursor == nil { // a reload turned recursion on: restart needed
			return fmt.Errorf("servers: %s has recursion: true but no resolver is configured", s.Listen)
		}
		rec = d.Recursor
	}
	h := server.NewHandler(s.Listen, d.setFor(s, d.zones), rec, d.metrics)
	h.OnPanic = func(p any, pkt []byte) {
		d.log.Error("answering a query panicked (SERVFAIL sent); please report", zap.Any("panic", p), zap.Binary("query", pkt))
	}
	if d.geo != nil {
		h.SetGeo(geoExplained{d.geo.hook})
	}
	h.SetEvents(d.events)
	h.SetQueryLog(d.qlog)
	lim, err := d.limiter(s, rc)
	if err != nil {
		return err
	}
	h.SetRRL(lim)
	h.SetExtension(d.xfr.For(s.Zones))
	limits := server.Limits{TCPConns: s.TCPConns, TCPPerClient: s.TCPConnsPerClient, Inflight: s.MaxResolutions}
	l, err := server.Listen(s.Listen, h, limits, d.log)
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	l.SetWorld(d.World)
	lctx, cancel := context.WithCancel(d.ctx)
	r := &running{l: l, cancel: cancel, done: make(chan struct{})}
	d.listeners[s.Listen] = r
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(r.done)
		l.Serve(lctx)
	}()
	d.log.Info("listening", zap.String("addr", l.Addr), zap.Strings("zones", s.Zones), zap.Bool("recursion", s.Recursion))
	return nil
}

func (d *Daemon) stopAll() {
	d.mu.Lock()
	for _, r := range d.listeners {
		r.cancel()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// Zones returns the loaded zones.
func (d *Daemon) Zones() []*zones.Zone {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.zones
}

// Config returns the config in force.
func (d *Daemon) Config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	// Liveness, in the same JSON envelope as lbd's /healthz.
	api.Route(mux, "/healthz", map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
		api.WriteData(w, r, http.StatusOK, map[string]string{"status": "ok"})
	}})
	if d.cfg.Admin.Pprof {
		api.Pprof(mux)
	}
	d.registerZoneRoutes(mux)
	d.registerEventRoutes(mux)
	d.registerRateLimitRoutes(mux)
	if d.sign != nil {
		d.registerDNSSECRoutes(mux)
	}
	for _, f := range d.Routes {
		f(mux)
	}
	mux.HandleFunc("/", api.NotFound)
	return api.AuthLockout(d.token, api.NewLockout(d.cfg.Admin.Lockout, d.log, nil), mux)
}
