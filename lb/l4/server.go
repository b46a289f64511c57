// Package l4 is lbd's TCP load balancer: per-connection balancing with the
// shared policies (lb/policy), TCP health checks, drain with a deadline,
// idle timeout, connection limits, PROXY protocol v1/v2 in and out, and SNI
// passthrough routing that reads the ClientHello without terminating TLS.
// Bytes are copied between *net.TCPConn with io.Copy, so Linux splices
// them in the kernel.
package l4

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/lb/backend"
	"netsim/lb/health"
	"netsim/lb/policy"
	"netsim/tls/sni"
)

// Options are the injected dependencies; all optional.
type Options struct {
	Log        *zap.Logger
	Registerer prometheus.Registerer
	// Dial connects to backends; default a net.Dialer with the pool's
	// dial timeout.
	Dial func(ctx context.Context, address string) (net.Conn, error)
}

// Server runs the L4 frontends of one configuration.
type Server struct {
	log  *zap.Logger
	met  *metrics
	dial func(ctx context.Context, address string) (net.Conn, error)
	gen  atomic.Pointer[generation] // the configuration in force
	fes  []*frontend

	// mu serialises Reload and guards the open connections and drain
	// timers. Both are kept per backend, not per pool, because a reload
	// builds new pools around the same backends: a drain started before a
	// reload, or a connection opened before it, stays reachable.
	mu       sync.Mutex
	serveCtx context.Context // set by Serve: health checks of reloaded pools run under it
	stopped  bool
	sessions map[*backend.Backend]map[*session]struct{}
	drains   map[*backend.Backend]*time.Timer

	ctx     context.Context // cancelled to abort everything
	cancel  context.CancelFunc
	wg      sync.WaitGroup // accept loops and connections
	active  atomic.Int64
	started atomic.Bool
	// userspaceCopy hides the sockets' fast paths (benchmarks only: the
	// comparison that shows what splice saves).
	userspaceCopy bool
}

// generation is one configuration's pools.
type generation struct {
	cfg   Config
	pools map[string]*pool
	order []string // pool names in config order
}

func (s *Server) pool(name string) *pool { return s.gen.Load().pools[name] }

// New validates cfg and builds the pools; nothing listens until Serve.
func New(cfg Config, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{log: o.Log, dial: o.Dial,
		sessions: map[*backend.Backend]map[*session]struct{}{}, drains: map[*backend.Backend]*time.Timer{}}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	met, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	s.met = met
	s.ctx, s.cancel = context.WithCancel(context.Background())
	g, err := s.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.gen.Store(g)
	for _, fc := range cfg.Frontends {
		f := &frontend{s: s, cfg: fc, sem: make(chan struct{}, fc.MaxConns), perClient: map[netip.Addr]int{}}
		f.rt.Store(newRoutes(fc, g))
		s.fes = append(s.fes, f)
	}
	return s, nil
}

// build makes the pools of cfg. Backends of old with the same pool, id and
// address are kept (with their state set through the API, health, counters
// and open connections); weight and max_conns come from cfg.
func (s *Server) build(cfg Config, old *generation) (*generation, error) {
	g := &generation{cfg: cfg, pools: map[string]*pool{}}
	for _, pc := range cfg.Pools {
		var prev *pool
		if old != nil {
			prev = old.pools[pc.Name]
		}
		p, err := newPool(pc, s, prev)
		if err != nil {
			return nil, err
		}
		g.pools[pc.Name] = p
		g.order = append(g.order, pc.Name)
	}
	return g, nil
}

// Reload swaps in a new configuration without closing connections. Pools
// are rebuilt; a backend that stays (same pool, id and address) keeps its
// state set through the API (draining, maintenance, with the drain
// deadline still running), health and counters. Frontends' pools, SNI
// routes, trusted PROXY peers, per-client caps and timeouts change for new
// connections; a frontend's name, listen address and max_conns need a
// restart (a reload changing the first two, or the number of frontends, is
// refused). Connections to a backend that the new config drops run until
// they close. On error the running configuration stays. It is Prepare
// followed by Commit.
func (s *Server) Reload(cfg Config) error {
	p, err := s.Prepare(cfg)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Pending is a validated configuration not yet in force: Prepare checks
// everything a reload can refuse, and Commit swaps it in.
type Pending struct {
	s   *Server
	cfg Config
}

// Prepare validates cfg against the running frontends; nothing running
// changes.
func (s *Server) Prepare(cfg Config) (*Pending, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Frontends) != len(s.fes) {
		return nil, fmt.Errorf("l4.frontends: %d configured, %d running: adding or removing TCP frontends needs a restart", len(cfg.Frontends), len(s.fes))
	}
	for i, fc := range cfg.Frontends {
		if of := s.fes[i].cfg; fc.Name != of.Name || fc.Listen != of.Listen {
			return nil, fmt.Errorf("l4.frontends[%d]: %s on %s → %s on %s: changing a TCP frontend's name or listen address needs a restart",
				i, of.Name, of.Listen, fc.Name, fc.Listen)
		}
	}
	for _, pc := range cfg.Pools {
		if _, err := newPolicy(pc.Policy); err != nil {
			return nil, fmt.Errorf("l4.pools %s: %w", pc.Name, err)
		}
	}
	return &Pending{s: s, cfg: cfg}, nil
}

// Commit builds the pools around the running backends and swaps them in,
// in one step for new connections. It fails only when the server has shut
// down.
func (pd *Pending) Commit() error {
	s, cfg := pd.s, pd.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("l4: server has shut down")
	}
	old := s.gen.Load()
	g, err := s.build(cfg, old)
	if err != nil {
		return err // checked by Prepare
	}
	for _, name := range g.order {
		g.pools[name].carryOver()
	}
	if s.serveCtx != nil {
		for _, name := range g.order {
			g.pools[name].monitorAll()
		}
	}
	s.gen.Store(g)
	for i, f := range s.fes {
		if cfg.Frontends[i].MaxConns != f.cfg.MaxConns {
			s.log.Warn("tcp frontend max_conns takes effect on restart", zap.String("frontend", f.cfg.Name))
		}
		f.rt.Store(newRoutes(cfg.Frontends[i], g))
	}
	for _, name := range old.order {
		op := old.pools[name]
		op.monitor.Stop()
		np := g.pools[name]
		for _, b := range op.backends {
			if np == nil || np.byID[b.ID()] != b {
				s.log.Info("tcp backend removed by reload; its open connections run until they close",
					zap.String("pool", name), zap.String("backend", b.ID()))
			}
		}
	}
	s.log.Info("tcp configuration reloaded", zap.Int("pools", len(cfg.Pools)), zap.Int("frontends", len(cfg.Frontends)))
	return nil
}

// Serve listens on every frontend, starts the health checks, calls ready
// for each bound address, and serves until ctx is cancelled. Then it stops
// accepting, lets open connections finish for DrainTimeout, closes the rest
// and returns nil.
func (s *Server) Serve(ctx context.Context, ready func(frontend string, addr net.Addr)) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("l4: Serve called twice")
	}
	var lc net.ListenConfig
	for _, f := range s.fes {
		ln, err := lc.Listen(ctx, "tcp", f.cfg.Listen)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("l4 frontend %s: %w", f.cfg.Name, err)
		}
		f.ln = ln
	}
	s.mu.Lock()
	s.serveCtx = ctx
	g := s.gen.Load()
	for _, name := range g.order {
		g.pools[name].monitorAll()
	}
	s.mu.Unlock()
	for _, name := range g.order {
		g.pools[name].waitFirst(ctx)
	}
	for _, f := range s.fes {
		rt := f.rt.Load()
		s.log.Info("tcp frontend listening", zap.String("frontend", f.cfg.Name), zap.Stringer("addr", f.ln.Addr()),
			zap.String("pool", rt.cfg.Pool), zap.Int("sni_routes", len(rt.cfg.SNI)))
		if ready != nil {
			ready(f.cfg.Name, f.ln.Addr())
		}
		s.wg.Add(1)
		go f.acceptLoop()
	}
	<-ctx.Done()
	return s.shutdown()
}

func (s *Server) closeListeners() {
	for _, f := range s.fes {
		if f.ln != nil {
			_ = f.ln.Close()
		}
	}
}

// shutdown drains: no new connections, open ones get DrainTimeout.
func (s *Server) shutdown() error {
	s.closeListeners()
	start := time.Now()
	deadline := time.NewTimer(s.gen.Load().cfg.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.active.Load() > 0 {
		select {
		case <-deadline.C:
			s.log.Warn("tcp drain deadline passed; closing connections", zap.Int64("open", s.active.Load()))
			s.cancel()
			s.abortAll()
			break wait
		case <-tick.C:
		}
	}
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	s.stopped = true
	g := s.gen.Load()
	for _, t := range s.drains {
		t.Stop()
	}
	clear(s.drains)
	s.mu.Unlock()
	for _, p := range g.pools {
		p.monitor.Stop()
	}
	s.log.Info("tcp frontends stopped", zap.Duration("drained_in", time.Since(start)))
	return nil
}

// SetBackendState sets a backend to up, draining or maintenance. Draining
// takes no new connections; its open ones run until they close or the
// pool's drain timeout passes. Maintenance closes them at once.
func (s *Server) SetBackendState(poolName, id string, st backend.State) error {
	p := s.pool(poolName)
	if p == nil {
		return fmt.Errorf("no pool %q", poolName)
	}
	return p.setState(id, st)
}

// frontend is one listener. cfg is the configuration it started with
// (name, listen and max_conns); rt is what a reload may change.
type frontend struct {
	s   *Server
	cfg Frontend
	rt  atomic.Pointer[routes]
	ln  net.Listener
	sem chan struct{}

	mu        sync.Mutex
	perClient map[netip.Addr]int
}

// routes are a frontend's settings and pools in one configuration.
type routes struct {
	cfg     Frontend
	def     *pool
	exact   map[string]*pool
	wild    map[string]*pool
	trusted []netip.Prefix
}

func newRoutes(fc Frontend, g *generation) *routes {
	f := &routes{cfg: fc, exact: map[string]*pool{}, wild: map[string]*pool{}}
	if fc.Pool != "" {
		f.def = g.pools[fc.Pool]
	}
	for _, r := range fc.SNI {
		if rest, ok := strings.CutPrefix(r.Name, "*."); ok {
			f.wild[rest] = g.pools[r.Pool]
		} else {
			f.exact[r.Name] = g.pools[r.Pool]
		}
	}
	for _, a := range fc.AcceptProxy {
		p, _ := parsePrefix(a) // validated
		f.trusted = append(f.trusted, p)
	}
	return f
}

// route picks the pool for a server name: exact, then wildcard (one
// label), then the default.
func (f *routes) route(name string) *pool {
	if p := f.exact[name]; p != nil {
		return p
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		if p := f.wild[rest]; p != nil {
			return p
		}
	}
	return f.def
}

func (f *routes) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (f *frontend) acceptLoop() {
	defer f.s.wg.Done()
	var backoff time.Duration
	for {
		// The connection limit: stop accepting when full; the kernel
		// backlog holds the rest.
		select {
		case f.sem <- struct{}{}:
		case <-f.s.ctx.Done():
			return
		}
		c, err := f.ln.Accept()
		if err != nil {
			<-f.sem
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.s.log.Warn("tcp accept error", zap.String("frontend", f.cfg.Name), zap.Error(err), zap.Duration("retry_in", backoff))
			select {
			case <-time.After(backoff):
				continue
			case <-f.s.ctx.Done():
				return
			}
		}
		backoff = 0
		f.s.wg.Add(1)
		f.s.active.Add(1)
		go func() {
			defer f.s.wg.Done()
			defer f.s.active.Add(-1)
			defer func() { <-f.sem }()
			f.handle(c.(*net.TCPConn))
		}()
	}
}

// clientIn counts a connection from a when there is a per-client cap;
// ok is false when a is over it, counted says whether clientOut is due.
func (f *frontend) clientIn(a netip.Addr, limit int) (ok, counted bool) {
	if limit <= 0 {
		return true, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perClient[a] >= limit {
		return false, false
	}
	f.perClient[a]++
	return true, true
}

func (f *frontend) clientOut(a netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perClient[a] <= 1 {
		delete(f.perClient, a)
	} else {
		f.perClient[a]--
	}
}

// Outcomes of a connection (label values of lbd_l4_connections_total).
const (
	resultOK          = "ok"
	resultClientLimit = "client_limit"
	resultBadProxy    = "bad_proxy_header"
	resultBadHello    = "bad_client_hello"
	resultNoRoute     = "no_route"
	resultNoBackend   = "no_backend"
	resultDialError   = "dial_error"
)

func (f *frontend) handle(c *net.TCPConn) {
	client := addrPort(c.RemoteAddr()).Addr().Unmap()
	clientAP := netip.AddrPortFrom(client, addrPort(c.RemoteAddr()).Port())
	localAP := addrPort(c.LocalAddr())
	rt := f.rt.Load()
	f.s.met.frontActive.WithLabelValues(f.cfg.Name).Inc()
	defer f.s.met.frontActive.WithLabelValues(f.cfg.Name).Dec()
	fail := func(result string, err error) {
		f.s.met.conns.WithLabelValues(f.cfg.Name, result).Inc()
		if ce := f.s.log.Check(zap.DebugLevel, "tcp connection refused"); ce != nil {
			ce.Write(zap.String("frontend", f.cfg.Name), zap.Stringer("client", clientAP), zap.String("result", result), zap.Error(err))
		}
		_ = c.Close()
	}

	var prefix []byte
	if len(rt.trusted) > 0 && rt.isTrusted(client) {
		_ = c.SetReadDeadline(time.Now().Add(rt.cfg.HelloTimeout))
		h, rest, err := ReadProxyHeader(c)
		if err != nil {
			fail(resultBadProxy, err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if !h.Local {
			clientAP, localAP = h.Src, h.Dst
		}
		prefix = rest
	}
	ok, counted := f.clientIn(clientAP.Addr(), rt.cfg.MaxConnsPerClient)
	if !ok {
		fail(resultClientLimit, nil)
		return
	}
	if counted {
		defer f.clientOut(clientAP.Addr())
	}

	p := rt.def
	sniName := ""
	if len(rt.cfg.SNI) > 0 {
		pc := &prefixConn{TCPConn: c, prefix: prefix}
		hello, sc, err := sni.Peek(pc, sni.Options{Timeout: rt.cfg.HelloTimeout})
		prefix = append(sc.Peeked(), pc.prefix...)
		switch {
		case err == nil:
			sniName = hello.ServerName
			p = rt.route(hello.ServerName)
		case errors.Is(err, sni.ErrNotTLS) && rt.def != nil:
			// Not TLS at all: the default pool takes it as plain TCP.
		default:
			fail(resultBadHello, err)
			return
		}
		if p == nil {
			fail(resultNoRoute, fmt.Errorf("no route for server name %q", hello.ServerName))
			return
		}
	}

	b, bc, err := p.connect(f.s.ctx, clientAP.Addr())
	if err != nil {
		if errors.Is(err, errNoBackend) {
			fail(resultNoBackend, err)
		} else {
			fail(resultDialError, err)
		}
		return
	}
	defer b.Release()
	f.s.met.conns.WithLabelValues(f.cfg.Name, resultOK).Inc()

	if p.cfg.SendProxy != ProxyNone {
		prefix = append(AppendProxyHeader(nil, p.cfg.SendProxy, clientAP, localAP), prefix...)
	}
	sess := &session{client: c, backend: bc, pool: p.cfg.Name}
	if !f.s.track(b, sess) {
		sess.abort() // the backend went to maintenance while we dialled
		return
	}
	defer f.s.untrack(b, sess)
	start := time.Now()
	if ce := f.s.log.Check(zap.DebugLevel, "tcp connection"); ce != nil {
		ce.Write(zap.String("frontend", f.cfg.Name), zap.Stringer("client", clientAP), zap.String("sni", sniName),
			zap.String("pool", p.cfg.Name), zap.String("backend", b.ID()))
	}
	if len(prefix) > 0 {
		_ = bc.SetWriteDeadline(time.Now().Add(rt.cfg.HelloTimeout))
		if _, err := bc.Write(prefix); err != nil {
			sess.abort()
			return
		}
		_ = bc.SetWriteDeadline(time.Time{})
	}
	in, out := sess.pipe(rt.cfg.IdleTimeout, f.s.userspaceCopy)
	in += int64(len(prefix))
	f.s.met.bytes.WithLabelValues(p.cfg.Name, b.ID(), "in").Add(float64(in))
	f.s.met.bytes.WithLabelValues(p.cfg.Name, b.ID(), "out").Add(float64(out))
	f.s.met.duration.WithLabelValues(f.cfg.Name).Observe(time.Since(start).Seconds())
}

var errNoBackend = errors.New("no backend available")

// pool is the runtime side of a Pool in one configuration. Its backends
// may be shared with the pool of the same name in the previous one.
type pool struct {
	s        *Server
	cfg      Pool
	policy   policy.Policy
	backends []*backend.Backend
	byID     map[string]*backend.Backend
	monitor  *health.Monitor
	// kept are the running backends this pool carries over, with the
	// settings Commit applies to them.
	kept []Backend
}

func newPool(pc Pool, s *Server, prev *pool) (*pool, error) {
	pol, err := newPolicy(pc.Policy)
	if err != nil {
		return nil, err
	}
	p := &pool{s: s, cfg: pc, policy: pol, byID: map[string]*backend.Backend{}}
	obs := backend.ObserverFunc(func(b *backend.Backend, from, to backend.State, reason string) {
		s.log.Info("tcp backend state", zap.String("pool", pc.Name), zap.String("backend", b.ID()),
			zap.Stringer("from", from), zap.Stringer("to", to), zap.String("reason", reason))
		s.met.changes.WithLabelValues(pc.Name, b.ID(), to.String()).Inc()
	})
	for _, bc := range pc.Backends {
		var b *backend.Backend
		if prev != nil {
			if ob := prev.byID[bc.ID]; ob != nil && ob.Address() == bc.Address {
				b = ob
				p.kept = append(p.kept, bc)
			}
		}
		if b == nil {
			b = backend.New(backend.Options{ID: bc.ID, Address: bc.Address, Weight: *bc.Weight,
				MaxConns: bc.MaxConns, Healthy: pc.Health.Disabled, Observer: obs})
		}
		p.backends = append(p.backends, b)
		p.byID[bc.ID] = b
	}
	var check health.Checker
	if !pc.Health.Disabled {
		check = &health.TCP{}
	}
	p.monitor = health.NewMonitor(health.Config{Interval: pc.Health.Interval, Timeout: pc.Health.Timeout,
		Rise: pc.Health.Rise, Fall: pc.Health.Fall}, check, nil, s.log, nil)
	return p, nil
}

// carryOver applies the new settings to the backends kept from the
// running pool (a commit step: nothing before it changes them).
func (p *pool) carryOver() {
	for _, bc := range p.kept {
		b := p.byID[bc.ID]
		b.SetWeight(*bc.Weight)
		b.SetMaxConns(bc.MaxConns)
		if p.cfg.Health.Disabled && !b.Healthy() {
			b.SetHealthy(true, "health checks disabled")
		}
	}
}

// monitorAll starts the health checks of every backend.
func (p *pool) monitorAll() {
	for _, b := range p.backends {
		p.monitor.Add(b)
	}
}

// waitFirst waits (bounded) for the first round of checks so that the
// first connections find healthy backends.
func (p *pool) waitFirst(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, p.monitor.Config().Timeout+time.Second)
	defer cancel()
	p.monitor.WaitFirst(wctx)
}

// connect picks a backend and dials it, retrying other backends on a
// failed dial. The backend is Acquired on success; the caller Releases.
func (p *pool) connect(ctx context.Context, client netip.Addr) (*backend.Backend, *net.TCPConn, error) {
	tried := map[*backend.Backend]bool{}
	var lastErr error
	for range 1 + *p.cfg.Retries {
		b := p.policy.Pick(p.backends, policy.Hint{Client: client})
		if b != nil && tried[b] {
			b = nil
			for _, c := range p.backends {
				if c.Available() && !tried[c] {
					b = c
					break
				}
			}
		}
		if b == nil {
			break
		}
		tried[b] = true
		b.Acquire() // counted while dialling, so least_connections sees it
		c, err := p.dialBackend(ctx, b.Address())
		if err != nil {
			b.Release()
			b.Failure(*p.cfg.PassiveFails, "connect: "+err.Error())
			p.s.met.dialErrors.WithLabelValues(p.cfg.Name, b.ID()).Inc()
			lastErr = fmt.Errorf("%s: %w", b, err)
			continue
		}
		b.Success()
		return b, c, nil
	}
	if lastErr == nil {
		return nil, nil, fmt.Errorf("pool %s: %w", p.cfg.Name, errNoBackend)
	}
	return nil, nil, lastErr
}

func (p *pool) dialBackend(ctx context.Context, addr string) (*net.TCPConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	var c net.Conn
	var err error
	if p.s.dial != nil {
		c, err = p.s.dial(ctx, addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dialer returned %T, not a TCP connection", c)
	}
	return tc, nil
}

// track registers an open connection to b; false when b went to
// maintenance meanwhile.
func (s *Server) track(b *backend.Backend, sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.AdminState() == backend.Maintenance {
		return false
	}
	m := s.sessions[b]
	if m == nil {
		m = map[*session]struct{}{}
		s.sessions[b] = m
	}
	m[sess] = struct{}{}
	s.met.backendActive.WithLabelValues(sess.pool, b.ID()).Inc()
	return true
}

func (s *Server) untrack(b *backend.Backend, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[b][sess]; ok {
		delete(s.sessions[b], sess)
		if len(s.sessions[b]) == 0 {
			delete(s.sessions, b)
		}
		s.met.backendActive.WithLabelValues(sess.pool, b.ID()).Dec()
	}
}

// abortBackend closes every open connection to b.
func (s *Server) abortBackend(b *backend.Backend) int {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions[b]))
	for sess := range s.sessions[b] {
		list = append(list, sess)
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.abort()
	}
	return len(list)
}

// abortAll closes every open connection.
func (s *Server) abortAll() {
	s.mu.Lock()
	var list []*session
	for _, m := range s.sessions {
		for sess := range m {
			list = append(list, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.abort()
	}
}

func (p *pool) setState(id string, st backend.State) error {
	b, ok := p.byID[id]
	if !ok {
		return fmt.Errorf("no backend %q in pool %q", id, p.cfg.Name)
	}
	if st == backend.Down {
		return errors.New(`"down" is set by health checks; use "maintenance"`)
	}
	s := p.s
	b.SetAdminState(st, "api")
	s.mu.Lock()
	if t := s.drains[b]; t != nil {
		t.Stop()
		delete(s.drains, b)
	}
	if st == backend.Draining && !s.stopped {
		deadline := p.cfg.DrainTimeout
		s.drains[b] = time.AfterFunc(deadline, func() {
			if b.AdminState() != backend.Draining {
				return
			}
			if n := s.abortBackend(b); n > 0 {
				s.log.Warn("tcp drain deadline passed; connections closed", zap.String("pool", p.cfg.Name),
					zap.String("backend", b.ID()), zap.Int("closed", n), zap.Duration("drain_timeout", deadline))
			}
		})
	}
	s.mu.Unlock()
	if st == backend.Maintenance {
		s.abortBackend(b)
	}
	return nil
}
