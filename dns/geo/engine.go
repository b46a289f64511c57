// Package geo answers GeoDNS names: it places the client (its source
// address, or the EDNS Client Subnet a resolver sent on its behalf) with a
// GeoIP database, picks the pool configured for that network, country or
// continent, draws members by weight among those that pass health checks,
// and says which ECS scope the answer holds for. See README.md.
package geo

import (
	"context"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/dns/ecs"
	"netsim/internal/health"
)

// Engine answers the geo-managed names of one configuration. It is
// immutable except for health state; reload by building a new Engine,
// starting it, swapping it in (an atomic.Pointer in the server), and
// closing the old one.
type Engine struct {
	log       *zap.Logger
	loc       Locator
	now       func() time.Time
	rand      func(n uint64) uint64
	checkerOf func(HealthConfig) health.Checker

	ignoreECS bool
	trust     []netip.Prefix
	names     map[string]*name
	ordered   []*name

	monitors []*monitorEntry
	mu       sync.Mutex // serialises view rebuilds

	m *metrics
	// rot rotates answers that list every member of an equal-weight pool,
	// so successive answers lead with a different address (round-robin).
	rot atomic.Uint32

	startOnce sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

type name struct {
	spec       *nameSpec
	name       string
	ttl        uint32
	answers    int
	failOpen   bool
	usesDB     bool
	pools      []*pool
	def        *pool
	nets       []netTarget
	countries  map[string]ruleTarget
	continents map[string]ruleTarget
}

type netTarget struct {
	prefix netip.Prefix
	ruleTarget
}

type ruleTarget struct {
	pool  *pool
	label string // "network 127.0.10.0/24", "country GB", …
}

type pool struct {
	owner   *name
	name    string
	cfg     PoolConfig
	members []*member
	view    atomic.Pointer[poolView]
	answers [numDecisions]prometheus.Counter
}

type member struct {
	addr   netip.Addr
	weight uint64
	check  string
	mon    *health.Monitor // nil without health checks
	rr     dns.RR
	one    []dns.RR // rr alone, shared by answers of one record
}

// poolView is an immutable snapshot of a pool's available members,
// rebuilt on every health change and read lock-free per query.
type poolView struct {
	fam     [2]famView // 0: IPv4 (A), 1: IPv6 (AAAA)
	leftOut []LeftOut
}

type famView struct {
	avail      []*member
	availTotal uint64
	all        []*member
	allTotal   uint64
}

type monitorEntry struct {
	mon   *health.Monitor
	pools []*pool
}

// decision says how the pool was reached (the label of
// dnsd_geo_answers_total).
type decision int

const (
	decMatched decision = iota
	decDefault
	decFailover
	decFailOpen
	decFailClosed
	numDecisions
)

var decisionNames = [numDecisions]string{"matched", "default", "failover", "fail_open", "fail_closed"}

// Option adjusts New.
type Option func(*Engine)

// WithRand injects the random source used for weighted draws: it must
// return a uniform value in [0, n) and be safe for concurrent use.
func WithRand(f func(n uint64) uint64) Option { return func(e *Engine) { e.rand = f } }

// WithClock injects the clock.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithChecker injects how health checks are made (tests use it).
func WithChecker(f func(HealthConfig) health.Checker) Option {
	return func(e *Engine) { e.checkerOf = f }
}

// New validates cfg and builds an Engine that locates clients with loc
// (nil: every client gets its name's default pool). Health probes do not
// run until Start. Metrics are registered with reg (nil: none); counters
// already registered by a previous Engine are reused, so counts continue
// across reloads, and the member-state gauges follow the newest Engine.
func New(cfg Config, loc Locator, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Engine, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	e := &Engine{
		log: log, loc: loc, now: time.Now, rand: mrand.Uint64N,
		ignoreECS: cfg.IgnoreECS, trust: c.trust,
		names: make(map[string]*name, len(c.names)),
	}
	e.checkerOf = defaultChecker
	for _, o := range opts {
		o(e)
	}
	e.m = newMetrics(reg)
	monByKey := map[string]*monitorEntry{}
	for _, ns := range c.names {
		n := &name{spec: ns, name: ns.name, ttl: ns.ttl, answers: ns.answers, failOpen: ns.failOpen,
			usesDB:    len(ns.countries) > 0 || len(ns.continents) > 0,
			countries: map[string]ruleTarget{}, continents: map[string]ruleTarget{}}
		byName := map[*poolSpec]*pool{}
		for _, ps := range ns.pools {
			p := &pool{owner: n, name: ps.name, cfg: ps.cfg}
			for d := range numDecisions {
				p.answers[d] = e.m.answers.WithLabelValues(n.name, p.name, decisionNames[d])
			}
			for _, ms := range ps.members {
				m := &member{addr: ms.addr, weight: uint64(ms.weight), check: ms.check}
				m.rr = makeRR(n.name, ns.ttl, ms.addr)
				m.one = []dns.RR{m.rr}
				if ms.check != "" {
					key := monitorKey(ns.health, ms.check)
					me, ok := monByKey[key]
					if !ok {
						me = &monitorEntry{}
						me.mon = e.newMonitor(ns.health, ms.check, me)
						monByKey[key] = me
						e.monitors = append(e.monitors, me)
					}
					me.pools = appendUnique(me.pools, p)
					m.mon = me.mon
				}
				p.members = append(p.members, m)
			}
			byName[ps] = p
			n.pools = append(n.pools, p)
		}
		n.def = byName[ns.def]
		for _, r := range ns.nets {
			n.nets = append(n.nets, netTarget{prefix: r.prefix, ruleTarget: ruleTarget{byName[r.pool], "network " + r.prefix.String()}})
		}
		for cc, ps := range ns.countries {
			n.countries[cc] = ruleTarget{byName[ps], "country " + cc}
		}
		for cc, ps := range ns.continents {
			n.continents[cc] = ruleTarget{byName[ps], "continent " + cc}
		}
		for _, p := range n.pools {
			p.view.Store(e.buildView(p))
		}
		e.names[n.name] = n
		e.ordered = append(e.ordered, n)
	}
	return e, nil
}

func appendUnique(ps []*pool, p *pool) []*pool {
	for _, q := range ps {
		if q == p {
			return ps
		}
	}
	return append(ps, p)
}

// Start runs the health probes, each first at once, until ctx is
// cancelled or Close is called. Call it when the configuration is loaded,
// before serving, so that dead members are known before the first query.
func (e *Engine) Start(ctx context.Context) {
	e.startOnce.Do(func() {
		e.m.reportState(e)
		ctx, e.cancel = context.WithCancel(ctx)
		for _, me := range e.monitors {
			e.wg.Add(1)
			go func(m *health.Monitor) {
				defer e.wg.Done()
				m.Run(ctx)
			}(me.mon)
		}
	})
}

// Close stops the probes and waits for them.
func (e *Engine) Close() {
	e.startOnce.Do(func() {}) // a Start after Close does nothing
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// Names lists the geo-managed names (lower case, fully qualified).
func (e *Engine) Names() []string {
	out := make([]string, len(e.ordered))
	for i, n := range e.ordered {
		out[i] = n.name
	}
	return out
}

// Manages reports whether qname is a geo-managed name.
func (e *Engine) Manages(qname string) bool {
	return e.lookup(qname) != nil
}

func (e *Engine) lookup(qname string) *name {
	if n, ok := e.names[qname]; ok {
		return n
	}
	if hasUpper(qname) || !strings.HasSuffix(qname, ".") {
		if n, ok := e.names[canonicalName(qname)]; ok {
			return n
		}
	}
	return nil
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Answer answers qname/qtype for a query from client carrying the ECS
// option opt (nil if none). The bool is false when qname is not
// geo-managed: the caller then answers from its zones as usual. Safe for
// concurrent use; no locks, and no allocation beyond the reply option
// (and the answer slice when a name's answers > 1).
func (e *Engine) Answer(qname string, qtype uint16, client netip.Addr, opt *dns.EDNS0_SUBNET) (Result, bool) {
	n := e.lookup(qname)
	if n == nil {
		return Result{}, false
	}
	return e.answer(n, qtype, client, opt, true), true
}

// Explain is Answer without counting the answer in the metrics (for the
// explanations endpoint).
func (e *Engine) Explain(qname string, qtype uint16, client netip.Addr, opt *dns.EDNS0_SUBNET) (Result, bool) {
	n := e.lookup(qname)
	if n == nil {
		return Result{}, false
	}
	return e.answer(n, qtype, client, opt, false), true
}

func (e *Engine) answer(n *name, qtype uint16, client netip.Addr, opt *dns.EDNS0_SUBNET, count bool) Result {
	r := Result{TTL: n.ttl}
	var sub *ecs.Subnet
	if opt != nil {
		s, err := ecs.Parse(opt)
		if err != nil {
			x := &r.Explanation
			x.Name, x.Client = n.name, client.Unmap()
			r.Rcode = dns.RcodeFormatError
			x.Source = "ecs"
			x.ECSIgnored = "malformed: FORMERR"
			return r
		}
		sub = &s
	}
	d := e.decide(n, qtype, client, sub, &r.Explanation)
	if count {
		d.count()
	}
	r.Rcode = d.rcode
	if d.useECS {
		r.Scope = d.scope
		r.ECS = ecs.Reply(opt, d.scope)
	}
	r.Answer = d.records()
	return r
}
