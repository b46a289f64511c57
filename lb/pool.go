package lb

import (
	ctls "crypto/tls"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"netsim/lb/backend"
	"netsim/lb/health"
	"netsim/lb/policy"
	nstls "netsim/tls"
)

// hashSource says what a hash policy hashes.
type hashSource int

const (
	hashNone hashSource = iota
	hashClient
	hashHeader
	hashCookie
)

// pool is the runtime form of a PoolConfig. Its backend set is an
// immutable snapshot swapped atomically (copy-on-write), so the request
// path reads it without locks and policies can cache per snapshot.
type pool struct {
	name     string
	cfg      PoolConfig
	srv      *Server
	pol      policy.Policy
	hashFrom hashSource
	signer   *cookieSigner // sticky.mode cookie
	table    *stickTable   // sticky.mode source_ip
	monitor  *health.Monitor
	tlsCfg   *ctls.Config // re-encryption to the backends; nil: plain HTTP

	mu   sync.Mutex // serialises membership changes
	snap atomic.Pointer[snapshot]

	// Requests waiting for a backend below its max_connections.
	qmu     sync.Mutex
	freed   chan struct{} // closed (and replaced) when a slot frees up
	waiting atomic.Int32
}

// member is a backend plus what the L7 proxy keeps per backend.
type member struct {
	b      *backend.Backend
	tr     *http.Transport // the nethttp engine's connections
	conns  *backendConns   // the fast engine's
	met    backendMetrics
	source string        // "config" or "api"
	cfg    BackendConfig // as last configured
}

type snapshot struct {
	list  []*backend.Backend // what policies see
	byPtr map[*backend.Backend]*member
	byID  map[string]*member
	order []*member
}

func newSnapshot(ms []*member) *snapshot {
	s := &snapshot{
		list:  make([]*backend.Backend, len(ms)),
		byPtr: make(map[*backend.Backend]*member, len(ms)),
		byID:  make(map[string]*member, len(ms)),
		order: ms,
	}
	for i, m := range ms {
		s.list[i] = m.b
		s.byPtr[m.b] = m
		s.byID[m.b.ID()] = m
	}
	return s
}

// newTransport is the connection pool to one backend. Proxy from the
// environment is deliberately off: HTTP_PROXY must not capture backend
// traffic.
func newTransport(pc PoolConfig, tc *ctls.Config) *http.Transport {
	d := &net.Dialer{Timeout: pc.DialTimeout, KeepAlive: 30 * time.Second}
	var tlsCfg *ctls.Config
	if tc != nil {
		tlsCfg = tc.Clone()
	}
	return &http.Transport{
		TLSClientConfig:        tlsCfg, // HTTP/1.1 only (ForceAttemptHTTP2 off, NextProtos http/1.1)
		TLSHandshakeTimeout:    pc.DialTimeout,
		Proxy:                  nil,
		DialContext:            d.DialContext,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    pc.MaxIdlePerBackend,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  pc.ResponseTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false,
		MaxResponseHeaderBytes: 64 << 10,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
}

func sameTransportConfig(a, b PoolConfig) bool {
	return a.DialTimeout == b.DialTimeout && a.ResponseTimeout == b.ResponseTimeout && a.MaxIdlePerBackend == b.MaxIdlePerBackend &&
		reflect.DeepEqual(a.TLS, b.TLS)
}

// backendTLS builds the client TLS config of a pool with re-encryption.
func backendTLS(t *PoolTLS) (*ctls.Config, error) {
	if t == nil {
		return nil, nil
	}
	c, err := nstls.ClientConfig(nstls.ClientOptions{CAFile: t.CA, ServerName: t.ServerName, CertFile: t.Cert, KeyFile: t.Key,
		NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return c, nil
}

// buildPool makes the runtime pool for pc. old, when not nil, is the pool
// of the same name in the running config: its backends with the same id
// and address are carried over with their state, counters, health and
// connections; API-added backends are kept; a value changed in the config
// file wins over one set through the API, an unchanged one does not.
//
// It changes the backends it carries over (weights, limits, transports)
// and the stick table: a reload calls it only once nothing can fail.
// tlsCfg is the pool's re-encryption config (nil: plain HTTP).
func (s *Server) buildPool(pc PoolConfig, old *pool, tlsCfg *ctls.Config) (*pool, error) {
	pol, err := policy.New(pc.Policy, nil)
	if err != nil {
		return nil, err
	}
	p := &pool{name: pc.Name, cfg: pc, srv: s, pol: pol, tlsCfg: tlsCfg}
	switch pc.Policy {
	case "source_ip_hash":
		p.hashFrom = hashClient
	case "header_hash":
		p.hashFrom = hashHeader
	case "cookie_hash":
		p.hashFrom = hashCookie
	}
	switch pc.Sticky.Mode {
	case "cookie":
		ss, _ := parseSameSite(pc.Sticky.SameSite)
		key, err := stickyKey(pc.Sticky, s.cookieKey)
		if err != nil {
			return nil, err
		}
		p.signer = &cookieSigner{pool: pc.Name, name: pc.Sticky.Cookie, key: key, ttl: pc.Sticky.TTL, sameSite: ss}
	case "source_ip":
		if old != nil && old.table != nil && old.cfg.Sticky.TTL == pc.Sticky.TTL {
			p.table = old.table
			p.table.setMax(pc.Sticky.MaxTable)
		} else {
			p.table = newStickTable(pc.Sticky.TTL, pc.Sticky.MaxTable)
		}
	}

	var oldSnap *snapshot
	if old != nil {
		oldSnap = old.snap.Load()
	}
	var ms []*member
	seen := map[string]bool{}
	for _, bc := range pc.Backends {
		seen[bc.ID] = true
		var prev *member
		if oldSnap != nil {
			prev = oldSnap.byID[bc.ID]
		}
		if prev != nil && prev.b.Address() == bc.Address {
			ms = append(ms, s.carryOver(p, prev, bc, old.cfg, "config"))
			continue
		}
		if prev != nil {
			s.log.Info("backend address changed: replaced", zap.String("pool", pc.Name), zap.String("backend", bc.ID),
				zap.String("from", prev.b.Address()), zap.String("to", bc.Address))
		}
		ms = append(ms, s.newMember(p, bc, "config"))
	}
	if oldSnap != nil {
		for _, m := range oldSnap.order {
			if m.source == "api" && !seen[m.b.ID()] {
				ms = append(ms, s.carryOver(p, m, m.cfg, old.cfg, "api"))
			}
		}
	}
	p.snap.Store(newSnapshot(ms))
	return p, nil
}

func (s *Server) newMember(p *pool, bc BackendConfig, source string) *member {
	b := backend.New(backend.Options{
		ID: bc.ID, Address: bc.Address, Weight: *bc.Weight, MaxConns: bc.MaxConnections,
		SlowStart: p.cfg.SlowStart,
		// With active checks a new backend waits for its first check;
		// without, the monitor marks it up at once.
		Healthy:   false,
		Observer:  s.observer(p.name),
		OnDrained: s.closeIdle(p.name),
		OnRelease: s.wakeQueue(p.name),
		Now:       s.now,
	})
	return &member{b: b, tr: newTransport(p.cfg, p.tlsCfg), conns: newBackendConns(bc.Address, p.cfg, p.tlsCfg, s.now),
		met: s.met.forBackend(p.name, bc.ID), source: source, cfg: bc}
}

// closeIdle closes the member's idle backend connections (both engines').
func (m *member) closeIdle() {
	m.tr.CloseIdleConnections()
	m.conns.closeIdle(false)
}

func (s *Server) carryOver(p *pool, prev *member, bc BackendConfig, oldPC PoolConfig, source string) *member {
	m := &member{b: prev.b, tr: prev.tr, conns: prev.conns, met: prev.met, source: source, cfg: bc}
	if *bc.Weight != *prev.cfg.Weight {
		m.b.SetWeight(*bc.Weight)
	}
	if bc.MaxConnections != prev.cfg.MaxConnections {
		m.b.SetMaxConns(bc.MaxConnections)
	}
	m.b.SetSlowStart(p.cfg.SlowStart)
	if !sameTransportConfig(oldPC, p.cfg) {
		m.tr = newTransport(p.cfg, p.tlsCfg)
		m.conns = newBackendConns(bc.Address, p.cfg, p.tlsCfg, s.now)
		prev.tr.CloseIdleConnections()
		prev.conns.closeIdle(true)
	}
	return m
}

// pick chooses a backend for a request, trying a sticky choice first.
func (p *pool) pick(sn *snapshot, h policy.Hint) *backend.Backend {
	return p.pol.Pick(sn.list, h)
}

// pickOther chooses a backend other than those tried, for a retry: the
// policy's choice when it differs, else the first available untried one
// from a rotating start.
func (p *pool) pickOther(sn *snapshot, h policy.Hint, tried []*backend.Backend) *backend.Backend {
	isTried := func(b *backend.Backend) bool {
		for _, t := range tried {
			if t == b {
				return true
			}
		}
		return false
	}
	if b := p.pol.Pick(sn.list, h); b != nil && !isTried(b) {
		return b
	}
	n := len(sn.list)
	if n == 0 {
		return nil
	}
	start := int(p.srv.retrySeq.Add(1) % uint64(n))
	for i := 0; i < n; i++ {
		b := sn.list[(start+i)%n]
		if b.Available() && !isTried(b) {
			return b
		}
	}
	return nil
}

// addBackend adds a backend through the API.
func (p *pool) addBackend(bc BackendConfig) (*member, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sn := p.snap.Load()
	if _, ok := sn.byID[bc.ID]; ok {
		return nil, errExists
	}
	if p.srv.stopped {
		return nil, errStopped
	}
	m := p.srv.newMember(p, bc, "api")
	ms := append(append([]*member(nil), sn.order...), m)
	p.snap.Store(newSnapshot(ms))
	if p.monitor != nil {
		p.monitor.Add(m.b)
	}
	return m, nil
}

var (
	errExists  = fmt.Errorf("exists")
	errStopped = fmt.Errorf("lbd has shut down")
)

// removeBackend takes a backend out of the pool. Requests already on it
// finish: they hold the member; its idle connections close now and the
// rest as they go idle.
func (p *pool) removeBackend(id string) (*member, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sn := p.snap.Load()
	m, ok := sn.byID[id]
	if !ok {
		return nil, false
	}
	ms := make([]*member, 0, len(sn.order)-1)
	for _, x := range sn.order {
		if x != m {
			ms = append(ms, x)
		}
	}
	p.snap.Store(newSnapshot(ms))
	if p.monitor != nil {
		p.monitor.Remove(m.b)
	}
	m.tr.CloseIdleConnections()
	m.conns.closeIdle(true)
	return m, true
}

// summary describes why nothing is available, for 503 bodies.
func (sn *snapshot) summary() []map[string]string {
	out := make([]map[string]string, 0, len(sn.order))
	for _, m := range sn.order {
		out = append(out, map[string]string{"id": m.b.ID(), "state": m.b.State().String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"] < out[j]["id"] })
	return out
}

// ejectThreshold is the passive-ejection threshold for b: the configured
// one, or 0 (never eject) when b is the last available backend — ejecting
// it would turn a partly failing pool into one that fails everything (the
// reason for Envoy's max_ejection_percent).
func (p *pool) ejectThreshold(sn *snapshot, b *backend.Backend) int {
	n := p.cfg.Passive.ConsecutiveFailures
	if n <= 0 {
		return 0
	}
	for _, o := range sn.list {
		if o != b && o.Available() {
			return n
		}
	}
	return 0
}
