// Package geo answers GeoDNS names: it places the client (its source
// address, or the EDNS Client Subnet a resolver sent on its behalf) with a
// GeoIP database, picks the pool configured for that network, country or
// continent, draws members by weight among those that pass health checks,
// and says which ECS scope the answer holds for. See README.md.
package geo

import (
	"context"
	"fmt"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/dns/geo/ecs"
	"netsim/dns/geo/health"
	"netsim/dns/rrset"
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
	e.m = newMetrics(reg, e)
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

func monitorKey(h HealthConfig, target string) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d|%s|%s|%d|%d", h.Type, target, h.Path, h.Host, h.ExpectStatus, h.Interval, h.Timeout, h.Rise, h.Fall)
}

func defaultChecker(h HealthConfig) health.Checker {
	if h.Type == "http" {
		return health.NewHTTP(h.Path, h.Host, h.ExpectStatus)
	}
	return health.TCP{}
}

func (e *Engine) newMonitor(h HealthConfig, target string, me *monitorEntry) *health.Monitor {
	return health.NewMonitor(target, e.checkerOf(h), health.Config{
		Interval: h.Interval, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall,
	}, health.Options{
		Now:      e.now,
		OnChange: func(c health.Change) { e.onHealthChange(me, c) },
		OnProbe:  e.onProbe,
	})
}

func makeRR(owner string, ttl uint32, a netip.Addr) dns.RR {
	if a.Is4() {
		b := a.As4()
		return &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IP(b[:])}
	}
	b := a.As16()
	return &dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.IP(b[:])}
}

func famOf(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// buildView snapshots a pool's members by family and availability.
func (e *Engine) buildView(p *pool) *poolView {
	v := &poolView{}
	for _, m := range p.members {
		f := &v.fam[famOf(m.addr)]
		f.all = append(f.all, m)
		f.allTotal += m.weight
		if m.mon == nil || m.mon.Available() {
			f.avail = append(f.avail, m)
			f.availTotal += m.weight
			continue
		}
		st := m.mon.Status()
		reason := fmt.Sprintf("health check %s down since %s", st.Target, st.Since.UTC().Format(time.RFC3339))
		if st.LastError != "" {
			reason += ": " + st.LastError
		}
		v.leftOut = append(v.leftOut, LeftOut{Member: m.addr.String(), Reason: reason})
	}
	return v
}

func (e *Engine) onHealthChange(me *monitorEntry, c health.Change) {
	e.m.changes.WithLabelValues(c.Target, c.To.String()).Inc()
	fields := []zap.Field{zap.String("target", c.Target), zap.Stringer("from", c.From), zap.Stringer("to", c.To)}
	{
		var where []string
		for _, p := range me.pools {
			where = append(where, p.owner.name+"/"+p.name)
		}
		fields = append(fields, zap.Strings("pools", where))
		e.mu.Lock()
		for _, p := range me.pools {
			p.view.Store(e.buildView(p))
		}
		e.mu.Unlock()
	}
	if c.Err != nil {
		fields = append(fields, zap.Error(c.Err))
	}
	if c.To == health.Down {
		e.log.Warn("geo member down: left out of answers", fields...)
	} else {
		e.log.Info("geo member up", fields...)
	}
}

func (e *Engine) onProbe(target string, err error, took time.Duration) {
	result := "ok"
	if err != nil {
		result = "fail"
	}
	e.m.probes.WithLabelValues(target, result).Inc()
	e.m.probeSeconds.Observe(took.Seconds())
}

// Start runs the health probes, each first at once, until ctx is
// cancelled or Close is called. Call it when the configuration is loaded,
// before serving, so that dead members are known before the first query.
func (e *Engine) Start(ctx context.Context) {
	e.startOnce.Do(func() {
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

// Result is a geo answer.
type Result struct {
	// Answer holds the records, owned by the Engine and shared between
	// queries: do not modify them (dns.Copy first, e.g. to set the owner
	// name to the question's case). Empty with Rcode success: NODATA (a
	// type other than A/AAAA, or a pool with no member of that family).
	Answer []dns.RR
	// Rcode is dns.RcodeSuccess, dns.RcodeFormatError (malformed ECS
	// option, RFC 7871 §6) or dns.RcodeServerFailure (every member down
	// and the name is fail: closed).
	Rcode int
	// ECS is the option to attach to the reply, nil when the query had
	// none or it was not used (then no option is echoed, as from a server
	// that ignores ECS). Its SCOPE PREFIX-LENGTH is Scope.
	ECS *dns.EDNS0_SUBNET
	// Scope is the SCOPE PREFIX-LENGTH: the length of the network the
	// answer holds for (see ecs.Scope).
	Scope uint8
	// TTL of the records (seconds).
	TTL uint32
	// Explanation says how the answer was chosen.
	Explanation Explanation
}

// Explanation records each step of a geo decision. Building it does not
// allocate: its strings are prepared at load or on health changes.
type Explanation struct {
	Name string `json:"name"`
	// Client is the query's source address.
	Client netip.Addr `json:"client"`
	// ECS is the client subnet from the query, if any.
	ECS netip.Prefix `json:"ecs,omitzero"`
	// Source is what located the client: "ecs", "client" (the source
	// address), or "ecs-opt-out" (SOURCE /0: nobody's address is used).
	Source string `json:"source"`
	// ECSIgnored says why a query's ECS option was not used.
	ECSIgnored string `json:"ecs_ignored,omitempty"`
	// Located is the address looked up ("" when none was).
	Located netip.Addr `json:"located,omitzero"`
	// DatabaseConsulted is false when no rule needed the GeoIP database
	// (a network rule matched, or the name has no country/continent rules).
	DatabaseConsulted bool `json:"database_consulted"`
	// Found and Location: the database record.
	Found    bool     `json:"found_in_database"`
	Location Location `json:"location"`
	// Rule is the rule that chose the pool: "network 127.0.10.0/24",
	// "country GB", "continent EU" or "default".
	Rule string `json:"rule"`
	// Pool is the pool answered from.
	Pool string `json:"pool"`
	// Failover is set when the chosen pool had no available member.
	Failover string `json:"failover,omitempty"`
	// Network is the network the decision holds for (the ECS scope).
	Network netip.Prefix `json:"network,omitzero"`
	// LeftOut lists the members of the pool that were not eligible.
	LeftOut []LeftOut `json:"left_out,omitempty"`
}

// LeftOut is a member that was not eligible, and why.
type LeftOut struct {
	Member string `json:"member"`
	Reason string `json:"reason"`
}

// String renders the explanation in one line.
func (x Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: client %s", x.Name, x.Client)
	if x.ECS.IsValid() {
		fmt.Fprintf(&b, " ecs %s", x.ECS)
	}
	fmt.Fprintf(&b, "; located by %s", x.Source)
	if x.ECSIgnored != "" {
		fmt.Fprintf(&b, " (ecs ignored: %s)", x.ECSIgnored)
	}
	if x.DatabaseConsulted {
		if x.Found {
			fmt.Fprintf(&b, "; database: %s/%s in %s", x.Location.Country, x.Location.Continent, x.Location.Network)
		} else {
			fmt.Fprintf(&b, "; database: no record (%s)", x.Location.Network)
		}
	}
	fmt.Fprintf(&b, "; rule %s -> pool %s", x.Rule, x.Pool)
	if x.Failover != "" {
		fmt.Fprintf(&b, " (%s)", x.Failover)
	}
	for _, l := range x.LeftOut {
		fmt.Fprintf(&b, "; left out %s: %s", l.Member, l.Reason)
	}
	return b.String()
}

// Reasons an ECS option was not used.
const (
	ecsIgnoredConfig    = "geo.ignore_ecs is set"
	ecsIgnoredUntrusted = "client is not in geo.trust_ecs_from"
)

// Failover reasons.
const (
	failoverDefault = "no available member in the chosen pool: answered from the default pool"
	failOpenAll     = "every member is down: fail-open answers them all as if healthy"
	failClosedAll   = "every member is down: fail-closed answers SERVFAIL"
)

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
	client = client.Unmap()
	r := Result{TTL: n.ttl}
	x := &r.Explanation
	x.Name = n.name
	x.Client = client

	// 1. Where is the client?
	var subnet ecs.Subnet
	useECS := false
	if opt != nil {
		s, err := ecs.Parse(opt)
		if err != nil {
			r.Rcode = dns.RcodeFormatError
			x.Source = "ecs"
			x.ECSIgnored = "malformed: FORMERR"
			return r
		}
		x.ECS = s.Prefix
		switch {
		case e.ignoreECS:
			x.ECSIgnored = ecsIgnoredConfig
		case !e.trusted(client):
			x.ECSIgnored = ecsIgnoredUntrusted
		default:
			useECS, subnet = true, s
		}
	}
	var addr netip.Addr
	switch {
	case useECS && subnet.OptOut():
		x.Source = "ecs-opt-out"
	case useECS:
		x.Source = "ecs"
		addr = subnet.Addr()
	default:
		x.Source = "client"
		addr = client
	}
	x.Located = addr

	// 2. Which pool, and for which network does that choice hold?
	target, network := e.choose(n, addr, x)
	p := target.pool
	x.Rule = target.label
	x.Pool = p.name
	x.Network = network
	if useECS {
		r.Scope = ecs.Scope(subnet, network)
		r.ECS = ecs.Reply(opt, r.Scope)
	}

	var f int
	switch qtype {
	case dns.TypeA:
		f = 0
	case dns.TypeAAAA:
		f = 1
	default:
		return r // NODATA: the name exists, with A/AAAA only
	}

	// 3. Which members?
	v := p.view.Load()
	x.LeftOut = v.leftOut
	fv := &v.fam[f]
	dec := decMatched
	if target.label == "default" {
		dec = decDefault
	}
	if len(fv.all) == 0 {
		return r // NODATA: this pool has no address of the family
	}
	members, total := fv.avail, fv.availTotal
	if len(members) == 0 {
		if d := n.def; d != p {
			dv := d.view.Load()
			if df := &dv.fam[f]; len(df.avail) > 0 {
				p, members, total = d, df.avail, df.availTotal
				dec = decFailover
				x.Failover = failoverDefault
				x.Pool = d.name
			}
		}
	}
	if len(members) == 0 {
		if !n.failOpen {
			r.Rcode = dns.RcodeServerFailure
			x.Failover = failClosedAll
			if count {
				p.answers[decFailClosed].Inc()
			}
			return r
		}
		members, total = fv.all, fv.allTotal
		dec = decFailOpen
		x.Failover = failOpenAll
	}
	r.Answer = e.pick(members, total, n.answers)
	if count {
		p.answers[dec].Inc()
	}
	return r
}

func (e *Engine) trusted(client netip.Addr) bool {
	if len(e.trust) == 0 {
		return true
	}
	for _, p := range e.trust {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

var defaultTarget = ruleTarget{label: "default"}

// choose applies the rules for addr and returns the chosen pool with the
// network around addr for which every address would get the same pool:
// the database record's network (when the database was consulted), or the
// matching network rule, narrowed so that it does not straddle any other
// network rule. That network is the ECS scope.
func (e *Engine) choose(n *name, addr netip.Addr, x *Explanation) (ruleTarget, netip.Prefix) {
	if !addr.IsValid() { // opt-out: nobody's address
		t := defaultTarget
		t.pool = n.def
		return t, netip.Prefix{}
	}
	bitsLen := 0
	var chosen ruleTarget
	matched := false
	for i := range n.nets {
		if n.nets[i].prefix.Contains(addr) {
			chosen, matched = n.nets[i].ruleTarget, true
			bitsLen = n.nets[i].prefix.Bits()
			break
		}
	}
	if !matched {
		chosen = defaultTarget
		chosen.pool = n.def
		if n.usesDB && e.loc != nil {
			loc, found := e.loc.Locate(addr)
			x.DatabaseConsulted, x.Found, x.Location = true, found, loc
			if loc.Network.IsValid() && loc.Network.Addr().BitLen() == addr.BitLen() {
				bitsLen = loc.Network.Bits()
			} else {
				bitsLen = addr.BitLen()
			}
			if found {
				if t, ok := n.countries[loc.Country]; ok {
					chosen = t
				} else if t, ok := n.continents[loc.Continent]; ok {
					chosen = t
				}
			}
		}
	}
	// Narrow the network until no other network rule lies inside it.
	for i := range n.nets {
		q := n.nets[i].prefix
		if q.Bits() <= bitsLen || q.Addr().BitLen() != addr.BitLen() || q.Contains(addr) {
			continue
		}
		if netip.PrefixFrom(addr, bitsLen).Masked().Contains(q.Addr()) {
			bitsLen = commonBits(addr, q.Addr()) + 1
		}
	}
	return chosen, netip.PrefixFrom(addr, bitsLen).Masked()
}

// commonBits is the length of the common prefix of two addresses of the
// same family.
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	off := 0
	if a.Is4() {
		off = 96
	}
	hi := beUint64(x[:8]) ^ beUint64(y[:8])
	n := 0
	if hi != 0 {
		n = bits.LeadingZeros64(hi)
	} else {
		n = 64 + bits.LeadingZeros64(beUint64(x[8:])^beUint64(y[8:]))
	}
	return min(n, 128) - off
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// pick draws k members by weight without replacement. For k == 1 (the
// default) it returns the member's shared one-record slice.
func (e *Engine) pick(ms []*member, total uint64, k int) []dns.RR {
	if len(ms) == 1 {
		return ms[0].one
	}
	if k == 1 {
		return pickOne(ms, e.rand(total)).one
	}
	k = min(k, len(ms))
	if k == len(ms) && equalWeights(ms) {
		// every member goes out: rotate the order instead of drawing it
		out := make([]dns.RR, k)
		for i := range out {
			out[i] = ms[i].rr
		}
		rrset.Rotate(out, e.rot.Add(1)-1)
		return out
	}
	out := make([]dns.RR, 0, k)
	var usedSmall [16]bool
	var used []bool
	if len(ms) <= len(usedSmall) {
		used = usedSmall[:len(ms)]
	} else {
		used = make([]bool, len(ms))
	}
	left := total
	for len(out) < k {
		r := e.rand(left)
		for i, m := range ms {
			if used[i] {
				continue
			}
			if r < m.weight {
				used[i] = true
				left -= m.weight
				out = append(out, m.rr)
				break
			}
			r -= m.weight
		}
	}
	return out
}

func equalWeights(ms []*member) bool {
	for _, m := range ms[1:] {
		if m.weight != ms[0].weight {
			return false
		}
	}
	return true
}

// pickOne returns the member whose cumulative weight range holds r.
func pickOne(ms []*member, r uint64) *member {
	for _, m := range ms {
		if r < m.weight {
			return m
		}
		r -= m.weight
	}
	return ms[len(ms)-1]
}
