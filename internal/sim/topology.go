package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/api"
	"netsim/internal/echo"
	"netsim/internal/world"
	"netsim/lb"
	"netsim/lb/l4"
	nstls "netsim/tls"
)

// Site is a named address: a backend, an echo server or a region.
type Site struct{ Name, Addr string }

// The demo's fixed parts (../shared/DESIGN.md, default addresses).
var (
	// WebServers are the sample backends of lbd's default pool.
	WebServers = []Site{{"b1", "127.0.0.1:9001"}, {"b2", "127.0.0.1:9002"}, {"b3", "127.0.0.1:9003"}}
	// APIServers and StaticServers are the sample backends of lbd's
	// default api and static pools, which its routes send /api/ and
	// /static/ to (the same webd: every one serves both).
	APIServers    = []Site{{"a1", "127.0.0.1:9201"}, {"a2", "127.0.0.1:9202"}}
	StaticServers = []Site{{"s1", "127.0.0.1:9301"}, {"s2", "127.0.0.1:9302"}}
	// EchoServers are the TCP backends of lbd's default L4 pool.
	EchoServers = []Site{{"e1", "127.0.0.1:9101"}, {"e2", "127.0.0.1:9102"}, {"e3", "127.0.0.1:9103"}}
	// Regions each have an lbd on their own address (the demo GeoIP
	// database places 127.0.10.0/24 in Europe, and so on).
	Regions = []Site{{"eu", "127.0.10.1"}, {"na", "127.0.20.1"}, {"as", "127.0.30.1"}}
)

// DefaultControl is where netsim's control API listens.
const DefaultControl = "127.0.0.1:8000"

// Options configure a Topology.
type Options struct {
	DNS dnsd.Config
	LB  lb.Config
	Log *zap.Logger
	// Control is the control API's address ("" = DefaultControl) and
	// ControlToken its bearer token ("" = a random one).
	Control      string
	ControlToken string
	// WebVersion is the sample servers' first version ("" = v1).
	WebVersion string
	// World is the distance between places that dnsd, the lbds and the
	// web servers apply (nil or flat: none); its admin API is mounted on
	// the control API.
	World *world.World
	// Web, Echo and Regions replace WebServers, EchoServers and Regions
	// when set (tests run a whole topology on free ports with them; a
	// region's lbd listens on the main lbd's ports at the region's address).
	Web, Echo, Regions []Site
	// Apps are the servers of the api and static pools; nil: APIServers
	// and StaticServers, or none when Web is set (a test on free ports
	// names its own).
	Apps []Site
}

// Topology is the whole simulated internet of `make run`: dnsd (the DNS
// hierarchy and the resolver), the main lbd, the regional lbds, the sample
// web servers and the TCP echo servers. The web servers and the regional
// lbds are parts of a Supervisor, so they can be stopped, killed and started
// through the control API.
type Topology struct {
	log     *zap.Logger
	sup     *Supervisor
	dns     *dnsd.Daemon
	lb      *lb.Server
	control string
	token   string
	world   *world.World
	web     []Site // the web pool's servers and then the apps'
	echo    []Site
	regions []Site

	mu  sync.Mutex
	lbc lb.Config // the main lbd's config, the regions' template

	ready   chan struct{}
	ctlAddr net.Addr
}

// NewTopology builds the topology; nothing listens before Run.
func NewTopology(o Options) (*Topology, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Control == "" {
		o.Control = DefaultControl
	}
	if o.ControlToken == "" {
		o.ControlToken = api.NewToken()
	}
	if err := api.CheckBind(o.Control, o.ControlToken); err != nil {
		return nil, err
	}
	if o.WebVersion == "" {
		o.WebVersion = "v1"
	}
	t := &Topology{log: o.Log, sup: New(o.Log.Named("sim")), control: o.Control, token: o.ControlToken, world: o.World, ready: make(chan struct{}),
		web: orSites(o.Web, WebServers), echo: orSites(o.Echo, EchoServers), regions: orSites(o.Regions, Regions)}
	apps := o.Apps
	if apps == nil && o.Web == nil {
		apps = append(append([]Site(nil), APIServers...), StaticServers...)
	}
	t.web = append(append([]Site(nil), t.web...), apps...)
	d, err := dnsd.New(o.DNS, o.Log.Named("dnsd"))
	if err != nil {
		return nil, err
	}
	d.World = o.World
	t.dns = d
	lbc := o.LB
	shareStickySecret(lbc)
	t.lbc = lbc
	if t.lb, err = lb.New(lbc, o.Log.Named("lbd"), nil); err != nil {
		return nil, err
	}
	t.lb.SetWorld(o.World)
	var wrap func(net.Listener) net.Listener
	if !o.World.Flat() {
		wrap = o.World.Listener
	}
	for _, w := range t.web {
		err := t.sup.Add(Webd(WebdOptions{ID: w.Name, Addr: w.Addr, Wrap: wrap, Log: o.Log.Named("webd").With(zap.String("id", w.Name))}, o.WebVersion))
		if err != nil {
			return nil, err
		}
	}
	for _, r := range t.regions {
		if err := t.sup.Add(t.regionSpec(r)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Supervisor is the registry of the parts that can be stopped and started.
func (t *Topology) Supervisor() *Supervisor { return t.sup }

// DNS is dnsd.
func (t *Topology) DNS() *dnsd.Daemon { return t.dns }

// LB is the main lbd.
func (t *Topology) LB() *lb.Server { return t.lb }

// ControlToken is the control API's bearer token.
func (t *Topology) ControlToken() string { return t.token }

// ControlAddr is where the control API listens, once Ready.
func (t *Topology) ControlAddr() net.Addr { return t.ctlAddr }

// Ready is closed once every part serves.
func (t *Topology) Ready() <-chan struct{} { return t.ready }

// regionSpec is the part of one regional lbd: each start builds a new lbd
// from the main lbd's current config, moved to the region's address.
func (t *Topology) regionSpec(r Site) Spec {
	return Spec{
		Name: "lbd-" + r.Name, Kind: "lbd", Addr: r.Addr + ":8080",
		Start: func(ctx context.Context, _ string) (Instance, error) {
			t.mu.Lock()
			cfg := RegionConfig(t.lbc, r.Addr, t.lb.AdminToken(), t.lb.DemoPKI())
			t.mu.Unlock()
			cfg.Name = "lbd-" + r.Name // the instance name in its events and log lines
			s, err := lb.New(cfg, t.log.Named("lbd-"+r.Name), nil)
			if err != nil {
				return nil, err
			}
			s.SetWorld(t.world)
			return runLB(ctx, s)
		},
	}
}

// runLB runs an lbd until Stop; it returns once the lbd serves.
func runLB(parent context.Context, s *lb.Server) (Instance, error) {
	ctx, cancel := context.WithCancel(parent)
	r := &lbRun{srv: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = s.Run(ctx)
	}()
	select {
	case <-s.Ready():
		return r, nil
	case <-r.done:
		cancel()
		if r.err == nil {
			r.err = errors.New("lbd stopped before it was ready")
		}
		return nil, r.err
	}
}

type lbRun struct {
	srv    *lb.Server
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

func (r *lbRun) Stop() { r.cancel(); <-r.done }

// Kill stops the lbd without waiting for it to drain: its listeners close
// at once and the rest ends in the background.
func (r *lbRun) Kill()                 { r.cancel() }
func (r *lbRun) Done() <-chan struct{} { return r.done }
func (r *lbRun) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Run starts everything in order (web servers, load balancers, then dnsd,
// so that the first health checks find their targets up), serves the
// control API, and stops everything when ctx ends. One fixed part failing
// stops the whole topology.
func (t *Topology) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	echoUp := make(chan struct{}, len(t.echo))
	for _, e := range t.echo {
		srv := &echo.Server{ID: e.Name}
		goRun("echo "+e.Name, func(ctx context.Context) error {
			return srv.ListenAndServe(ctx, e.Addr, func(net.Addr) { echoUp <- struct{}{} })
		})
	}
	for range t.echo { // the L4 pool's first health checks must find them
		if err := waitReady(ctx, errs, echoUp); err != nil {
			return err
		}
	}
	defer t.sup.Close()
	for _, w := range t.web {
		if err := t.sup.Start(w.Name, ""); err != nil {
			return err
		}
	}
	goRun("lbd", t.lb.Run)
	if err := waitReady(ctx, errs, t.lb.Ready()); err != nil {
		return err
	}
	for _, r := range t.regions {
		if err := t.sup.Start("lbd-"+r.Name, ""); err != nil {
			return err
		}
	}
	goRun("dnsd", t.dns.Run)
	if err := waitReady(ctx, errs, t.dns.Ready()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", t.control)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	t.ctlAddr = ln.Addr()
	hs := &http.Server{Handler: t.controlHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: zap.NewStdLog(t.log.Named("control"))}
	goRun("control API", func(ctx context.Context) error {
		go func() { <-ctx.Done(); _ = hs.Close() }()
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	close(t.ready)
	<-ctx.Done()
	t.log.Info("stopping")
	cancel()
	wg.Wait()
	close(errs)
	return <-errs // nil after a clean stop
}

// waitReady waits for ready, or the first failure, or the end.
func waitReady(ctx context.Context, errs chan error, ready <-chan struct{}) error {
	select {
	case <-ready:
		return nil
	case err := <-errs:
		errs <- err // Run reports it
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Topology) controlHandler() http.Handler {
	mux := http.NewServeMux()
	t.sup.Routes(mux, func(h http.Handler) http.Handler { return api.Auth(t.token, h) })
	if t.world != nil {
		wh := t.world.Handler(func(h http.Handler) http.Handler { return api.Auth(t.token, h) })
		mux.Handle("/api/v1/world", wh)
		mux.Handle("/api/v1/world/", wh)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		api.WriteData(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", api.NotFound)
	return t.liveView(mux) // the live page at /, the control API under it
}

// RegionConfig is the main lbd's config moved to a region's address, with
// the same admin token. The main lbd owns the demo PKI (its certificate
// names the main admin port's CRL); the regions serve the same certificate
// files instead of each re-issuing them.
func RegionConfig(c lb.Config, addr, token string, pki *nstls.PKI) lb.Config {
	c.Frontends = append([]lb.FrontendConfig(nil), c.Frontends...)
	for i := range c.Frontends {
		if t := c.Frontends[i].TLS; t != nil && t.Demo && pki != nil {
			t2 := *t
			t2.Demo = false
			t2.Certs = append([]nstls.Pair{{Cert: pki.Cert, Key: pki.Key, Default: true}}, t.Certs...)
			c.Frontends[i].TLS = &t2
		}
		_, port, err := net.SplitHostPort(c.Frontends[i].Listen)
		if err != nil {
			port = "8080"
		}
		c.Frontends[i].Listen = net.JoinHostPort(addr, port)
	}
	_, port, err := net.SplitHostPort(c.Admin.Listen)
	if err != nil {
		port = "8404"
	}
	c.Admin.Listen = net.JoinHostPort(addr, port)
	c.Admin.Token = token
	c.L4 = l4.Config{} // the TCP demo runs on the main lbd only
	return c
}

// shareStickySecret gives every pool without a configured cookie secret one
// random secret, shared by the main and the regional lbds (they copy the
// config), so a sticky cookie set by one region is honoured by another.
func shareStickySecret(c lb.Config) {
	secret := api.NewToken()
	for i := range c.Pools {
		if c.Pools[i].Sticky.Secret == "" {
			c.Pools[i].Sticky.Secret = secret
		}
	}
}

// Reload applies new configs to dnsd, the main lbd and the running regional
// lbds (a regional lbd started later gets the new config too), all or
// nothing: every lbd prepares (validates, loads certificates) first, then
// dnsd reloads (it validates before it swaps), and only then do the lbds
// commit. A refusal anywhere leaves every part on its old config.
func (t *Topology) Reload(dc dnsd.Config, lc lb.Config) error {
	t.mu.Lock()
	for i := range lc.Pools { // keep the cookie key: cookies stay valid
		for _, p := range t.lbc.Pools {
			if p.Name == lc.Pools[i].Name && lc.Pools[i].Sticky.Secret == "" {
				lc.Pools[i].Sticky.Secret = p.Sticky.Secret
			}
		}
	}
	t.mu.Unlock()
	main, err := t.lb.Prepare(lc)
	if err != nil {
		return fmt.Errorf("lbd: %w", err)
	}
	pending, names := []*lb.Pending{main}, []string{"lbd"}
	for _, r := range t.regions {
		name := "lbd-" + r.Name
		rs := t.regional(name)
		if rs == nil {
			continue // not running: it starts with the new config
		}
		p, err := rs.Prepare(RegionConfig(lc, r.Addr, t.lb.AdminToken(), main.DemoPKI()))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		pending, names = append(pending, p), append(names, name)
	}
	if err := t.dns.Reload(dc); err != nil {
		return fmt.Errorf("dnsd: %w", err)
	}
	for i, p := range pending {
		if err := p.Commit(); err != nil {
			return fmt.Errorf("%s: commit failed after %v had reloaded: %w", names[i], names[:i], err)
		}
	}
	t.mu.Lock()
	t.lbc = lc
	t.mu.Unlock()
	return nil
}

// orSites is sites, or the demo's when there are none.
func orSites(sites, demo []Site) []Site {
	if len(sites) == 0 {
		return demo
	}
	return sites
}

// regional is the running regional lbd of that part name, or nil.
func (t *Topology) regional(name string) *lb.Server {
	p, err := t.sup.get(name)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.inst.(*lbRun); ok && p.state == Running {
		return r.srv
	}
	return nil
}
