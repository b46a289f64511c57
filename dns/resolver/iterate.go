package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/cache"
)

// Errors that end a resolution in SERVFAIL.
var (
	ErrReferralLimit = errors.New("referral limit reached")
	ErrCNAMELimit    = errors.New("CNAME chain too long")
	ErrCNAMELoop     = errors.New("CNAME loop")
	ErrQueryLimit    = errors.New("upstream query limit reached")
	ErrNoServers     = errors.New("no server for the zone answered usefully")
	ErrNSLookupDepth = errors.New("name server address lookups nested too deep")
)

// state is the budget and record of one client resolution, shared by the
// nested lookups of name server addresses it needs.
type state struct {
	r       *Resolver
	queries int
	max     int
	depth   int
	trace   *Resolution
	noCache bool            // Trace: walk from the hints, do not read the cache
	active  map[string]bool // NS names being looked up (breaks glueless cycles)

	ecs       *dns.EDNS0_SUBNET // client subnet to send (nil: none)
	client    netip.Addr        // address cached answers must hold for
	lastScope netip.Prefix      // ECS scope of the reply just accepted (zero: global)
	scope     netip.Prefix      // narrowest ECS scope of the answer so far
}

// noteScope records the ECS scope of an accepted answer of the main walk.
func (st *state) noteScope(p netip.Prefix) {
	if st.depth > 0 || !p.IsValid() || p.Bits() == 0 {
		return
	}
	if !st.scope.IsValid() || p.Bits() > st.scope.Bits() {
		st.scope = p
	}
}

func (r *Resolver) newState(tr *Resolution) *state {
	return &state{r: r, max: r.cfg.MaxUpstreamQueries, trace: tr, noCache: tr != nil, active: map[string]bool{}}
}

func (st *state) spend() error {
	if st.queries >= st.max {
		return ErrQueryLimit
	}
	st.queries++
	return nil
}

// isSub reports whether child is at or below parent (both FQDN).
func isSub(child, parent string) bool { return dns.IsSubDomain(parent, child) }

func parent(name string) string {
	if name == "." {
		return "."
	}
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// resolve finds qname/qtype, following CNAMEs across zones, and returns a
// response whose Answer holds the whole chain (Ns the SOA for a negative).
func (r *Resolver) resolve(ctx context.Context, st *state, qname string, qtype uint16) (*dns.Msg, error) {
	qname = strings.ToLower(dns.Fqdn(qname))
	var chain []dns.RR
	seen := map[string]bool{}
	name := qname
	for hop := 0; ; hop++ {
		if seen[name] {
			return nil, fmt.Errorf("%w at %s", ErrCNAMELoop, name)
		}
		seen[name] = true
		var resp *dns.Msg
		if !st.noCache && hop > 0 {
			if h, ok := r.cache.Lookup(cache.Key{Name: name, Type: qtype, Class: dns.ClassINET}, st.client); ok && !h.Stale {
				st.noteScope(h.Key.Scope)
				resp = new(dns.Msg)
				h.Fill(resp, r.now(), 0)
				st.note("cache: %s %s", name, dns.TypeToString[qtype])
			}
		}
		if resp == nil && !st.noCache {
			resp = r.nxdomainCut(st, name)
		}
		if resp == nil {
			var err error
			resp, err = r.iterate(ctx, st, name, qtype)
			if err != nil {
				return nil, err
			}
		}
		recs, next, done, err := followChain(resp.Answer, name, qtype)
		if err != nil {
			return nil, err
		}
		chain = append(chain, recs...)
		if n := countCNAMEs(chain); n > r.cfg.MaxCNAMEChain {
			return nil, fmt.Errorf("%w: %d CNAMEs from %s, limit %d", ErrCNAMELimit, n, qname, r.cfg.MaxCNAMEChain)
		}
		if done || next == name {
			out := new(dns.Msg)
			out.Rcode = resp.Rcode
			out.Answer = chain
			if !done {
				out.Ns = resp.Ns
			}
			return out, nil
		}
		for _, rr := range recs {
			if c, ok := rr.(*dns.CNAME); ok && !strings.EqualFold(c.Hdr.Name, name) {
				seen[strings.ToLower(c.Hdr.Name)] = true
			}
		}
		name = next
	}
}

func countCNAMEs(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeCNAME {
			n++
		}
	}
	return n
}

// followChain walks answer from name: the records answering name/qtype
// directly or through CNAMEs inside this answer. done when data for qtype
// (or the CNAME itself, for qtype CNAME) was found; otherwise next is the
// name still to resolve (name itself when answer says nothing about it).
func followChain(answer []dns.RR, name string, qtype uint16) (recs []dns.RR, next string, done bool, err error) {
	cur := name
	visited := map[string]bool{}
	for {
		visited[cur] = true
		var found []dns.RR
		var cname *dns.CNAME
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype || qtype == dns.TypeANY {
				found = append(found, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname = c
			}
		}
		if len(found) > 0 {
			return append(recs, found...), "", true, nil
		}
		if cname == nil {
			return recs, cur, false, nil
		}
		recs = append(recs, cname)
		cur = strings.ToLower(dns.Fqdn(cname.Target))
		if visited[cur] {
			return nil, "", false, fmt.Errorf("%w at %s", ErrCNAMELoop, cur)
		}
	}
}

// delegation is where to ask about a name: the closest known zone cut.
type delegation struct {
	zone    string
	forward bool                        // forwarders: RD=1, answers accepted as given
	fixed   []netip.AddrPort            // stub, forward or root hint addresses
	ns      []string                    // NS names (from a referral)
	glue    map[string][]netip.AddrPort // NS name → addresses from glue
	source  string                      // "config", "cache", "referral"
}

func (d *delegation) addrs() []netip.AddrPort {
	out := append([]netip.AddrPort(nil), d.fixed...)
	for _, n := range d.ns {
		out = append(out, d.glue[n]...)
	}
	return out
}

// closest picks the most specific of the configured zones (stubs, forward
// zones, root hints or global forwarders) and the delegations cached for
// qname's ancestors.
func (r *Resolver) closest(st *state, qname string) *delegation {
	var cfg zoneServers
	for _, z := range r.comp.zones { // most specific first; "." always present
		if isSub(qname, z.zone) {
			cfg = z
			break
		}
	}
	if !st.noCache && !cfg.forward {
		for z := qname; dns.CountLabel(z) > dns.CountLabel(cfg.zone); z = parent(z) {
			h, ok := r.cache.Get(cache.Key{Name: z, Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation})
			if !ok || h.Stale {
				continue
			}
			d := r.delegationFrom(z, h.Msg.Ns, h.Msg.Extra, ".") // glue was checked when stored
			if d != nil && len(d.ns) > 0 {
				d.source = "cache"
				st.note("cache: delegation %s", z)
				return d
			}
		}
	}
	return &delegation{zone: cfg.zone, forward: cfg.forward, fixed: cfg.addrs, source: "config"}
}

// delegationFrom builds a delegation to child from NS records and glue;
// glue is only taken for names inside bailiwick (the zone that handed out
// the referral), so a server cannot plant addresses for names it does not
// serve.
func (r *Resolver) delegationFrom(child string, ns, extra []dns.RR, bailiwick string) *delegation {
	d := &delegation{zone: child, glue: map[string][]netip.AddrPort{}}
	seen := map[string]bool{}
	for _, rr := range ns {
		n, ok := rr.(*dns.NS)
		if !ok || !strings.EqualFold(n.Hdr.Name, child) {
			continue
		}
		t := strings.ToLower(dns.Fqdn(n.Ns))
		if !seen[t] {
			seen[t] = true
			d.ns = append(d.ns, t)
		}
	}
	for _, rr := range extra {
		owner := strings.ToLower(rr.Header().Name)
		if !seen[owner] || !isSub(owner, bailiwick) {
			continue
		}
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA)
		default:
			continue
		}
		if a.IsValid() {
			d.glue[owner] = append(d.glue[owner], netip.AddrPortFrom(a.Unmap(), uint16(r.cfg.Port)))
		}
	}
	return d
}

// verdict classifies one reply while iterating.
type verdict int

const (
	vAnswer   verdict = iota // data, CNAME, NXDOMAIN or NODATA from the zone's server
	vReferral                // a cut below the current zone toward qname
	vLame                    // not authoritative, or a referral sideways/upward
	vFail                    // SERVFAIL, REFUSED, NOTIMP, FORMERR
)

func classify(d *delegation, qname string, m *dns.Msg) (verdict, string) {
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return vFail, dns.RcodeToString[m.Rcode]
	}
	if d.forward {
		return vAnswer, ""
	}
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 {
		var cut string
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNS {
				cut = strings.ToLower(rr.Header().Name)
				break
			}
		}
		if cut != "" && !m.Authoritative {
			if isSub(cut, d.zone) && cut != d.zone && isSub(qname, cut) {
				return vReferral, cut
			}
			return vLame, "referral to " + cut + " does not lead below " + d.zone
		}
	}
	if !m.Authoritative {
		return vLame, "answer without the AA flag"
	}
	return vAnswer, ""
}

// maxMinimiseSteps bounds the extra queries QNAME minimisation may add for
// one name (RFC 9156 §2.3, MAX_MINIMISE_COUNT).
const maxMinimiseSteps = 10

// iterate asks the closest known servers and follows referrals until one
// gives the answer for exactly qname/qtype (which may be a CNAME).
//
// With qname_minimisation (RFC 9156, relaxed like Unbound's default), a
// server is first asked only about the name one label below its zone
// (QTYPE A) until the last label is reached; a referral moves down as
// usual, NOERROR means "no cut here, one label more", and NXDOMAIN, a
// CNAME or a failure falls back to asking the full name.
func (r *Resolver) iterate(ctx context.Context, st *state, qname string, qtype uint16) (*dns.Msg, error) {
	d := r.closest(st, qname)
	minimise := r.cfg.QNAMEMinimisation
	asked := 0 // labels of the last minimised name that had no cut
	steps := 0
	for ref := 0; ; {
		if ref > r.cfg.MaxReferrals {
			return nil, fmt.Errorf("%w (%d) at %s", ErrReferralLimit, r.cfg.MaxReferrals, d.zone)
		}
		name, typ := qname, qtype
		if minimise && !d.forward && steps < maxMinimiseSteps {
			if n := max(asked, dns.CountLabel(d.zone)) + 1; n < dns.CountLabel(qname) {
				i, _ := dns.PrevLabel(qname, n)
				name, typ = qname[i:], dns.TypeA
			}
		}
		m, v, cut, err := r.askZone(ctx, st, d, name, typ)
		if name != qname {
			steps++
			if err != nil {
				if errors.Is(err, ErrQueryLimit) || ctx.Err() != nil {
					return nil, err
				}
				minimise = false // relaxed: ask the full name instead
				continue
			}
			if v == vAnswer {
				if m.Rcode != dns.RcodeSuccess || hasCNAME(m.Answer, name) {
					minimise = false
				} else {
					asked = dns.CountLabel(name) // exists, no zone cut: one label more
				}
				continue
			}
		} else if err != nil {
			return nil, err
		}
		switch v {
		case vReferral:
			ref++
			nd := r.delegationFrom(cut, m.Ns, m.Extra, d.zone)
			if len(nd.ns) == 0 {
				return nil, fmt.Errorf("%w: empty referral to %s", ErrNoServers, cut)
			}
			nd.source = "referral"
			deleg := &dns.Msg{}
			deleg.Ns = nsRecords(m.Ns, cut)
			for _, rr := range m.Extra {
				owner := strings.ToLower(rr.Header().Name)
				if _, ok := nd.glue[owner]; ok {
					deleg.Extra = append(deleg.Extra, rr)
				}
			}
			r.store(st, cache.Key{Name: cut, Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation}, deleg)
			d = nd
			asked = 0
		case vAnswer:
			out := r.inBailiwick(d, qname, m)
			// Cache only a complete answer for qname: data, NXDOMAIN or
			// NODATA. A CNAME chain that leaves this zone is cached by the
			// caller once the whole chain is resolved; stored here, it would
			// be served as if it were the whole answer.
			k := cache.Key{Name: qname, Type: qtype, Class: dns.ClassINET}
			if st.lastScope.IsValid() && st.lastScope.Bits() > 0 {
				k.Scope = st.lastScope
				st.noteScope(st.lastScope)
			}
			if _, next, done, err := followChain(out.Answer, qname, qtype); err == nil && (done || next == qname) {
				r.store(st, k, out)
			}
			if r.cfg.AggressiveNXDomain && out.Rcode == dns.RcodeNameError && len(out.Answer) == 0 && k.Scope.Bits() <= 0 {
				r.store(st, cache.Key{Name: qname, Class: dns.ClassINET, Kind: cache.NXDomainCut}, out)
			}
			return out, nil
		}
	}
}

// nxdomainCut answers NXDOMAIN for name when name or an ancestor is known
// not to exist (RFC 8020), with the SOA that said so.
func (r *Resolver) nxdomainCut(st *state, name string) *dns.Msg {
	if !r.cfg.AggressiveNXDomain {
		return nil
	}
	now := r.now()
	for z := name; z != "."; z = parent(z) {
		h, ok := r.cache.GetAt(cache.Key{Name: z, Class: dns.ClassINET, Kind: cache.NXDomainCut}, now)
		if !ok || h.Stale {
			continue
		}
		resp := new(dns.Msg)
		h.Fill(resp, now, 0)
		resp.Rcode = dns.RcodeNameError
		resp.Answer = nil
		st.note("cache: %s does not exist, so neither does %s (RFC 8020)", z, name)
		return resp
	}
	return nil
}

func hasCNAME(rrs []dns.RR, owner string) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeCNAME && strings.EqualFold(rr.Header().Name, owner) {
			return true
		}
	}
	return false
}

func nsRecords(rrs []dns.RR, owner string) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeNS && strings.EqualFold(rr.Header().Name, owner) {
			out = append(out, rr)
		}
	}
	return out
}

// inBailiwick keeps what the zone's server may speak for: answer records
// at or below its zone (all of them from forwarders) and an SOA for a
// negative answer; the additional section is dropped.
func (r *Resolver) inBailiwick(d *delegation, qname string, m *dns.Msg) *dns.Msg {
	out := &dns.Msg{}
	out.Rcode = m.Rcode
	out.Authoritative = m.Authoritative
	for _, rr := range m.Answer {
		if rr.Header().Class != dns.ClassINET {
			continue
		}
		if d.forward || isSub(strings.ToLower(rr.Header().Name), d.zone) {
			out.Answer = append(out.Answer, rr)
		}
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			owner := strings.ToLower(soa.Hdr.Name)
			if d.forward || isSub(owner, d.zone) {
				out.Ns = append(out.Ns, rr)
				break
			}
		}
	}
	return out
}

func (r *Resolver) store(st *state, k cache.Key, m *dns.Msg) {
	ttl, err := r.cache.Set(k, m)
	if err == nil {
		st.cached(k, ttl)
	}
}

// maxRetryRounds is how many more times servers that timed out are asked.
const maxRetryRounds = 2

// askZone tries the servers of d until one gives a usable reply: an
// answer or a referral. Timeouts, SERVFAIL, REFUSED and lame replies move
// on to the next server. NS names without glue are resolved when the
// servers with addresses are exhausted.
func (r *Resolver) askZone(ctx context.Context, st *state, d *delegation, qname string, qtype uint16) (*dns.Msg, verdict, string, error) {
	tried := map[netip.AddrPort]bool{}
	var lastErr error
	var timedOut []netip.AddrPort // asked again if every server failed: one lost packet is no reason to give up
	try := func(addrs []netip.AddrPort) (*dns.Msg, verdict, string, bool, error) {
		for _, a := range r.servers.order(addrs) {
			if tried[a] {
				continue
			}
			tried[a] = true
			if err := ctx.Err(); err != nil {
				return nil, 0, "", false, err
			}
			res, err := r.exchange(ctx, st, a, qname, qtype, d.forward)
			hop := st.hop(a, d, qname, qtype, res)
			if err != nil {
				hop.fail(err)
				if errors.Is(err, ErrQueryLimit) || ctx.Err() != nil {
					return nil, 0, "", false, err
				}
				lastErr = fmt.Errorf("%s: %w", a, err)
				if errors.Is(err, errTimeout) {
					timedOut = append(timedOut, a)
				}
				continue
			}
			v, why := classify(d, qname, res.msg)
			hop.result(res.msg, v, why)
			switch v {
			case vFail, vLame:
				lastErr = fmt.Errorf("%s: %s", a, why)
				continue
			}
			return res.msg, v, why, true, nil
		}
		return nil, 0, "", false, nil
	}
	m, v, cut, ok, err := try(d.addrs())
	if err != nil || ok {
		return m, v, cut, err
	}
	// Glueless (or every glued server failed): look up NS addresses.
	for _, ns := range d.ns {
		if len(d.glue[ns]) > 0 || st.active[ns] {
			continue
		}
		if isSub(ns, d.zone) {
			continue // in-bailiwick without glue: asking would loop back here
		}
		addrs, err := r.nsAddrs(ctx, st, ns)
		if err != nil {
			if errors.Is(err, ErrQueryLimit) || ctx.Err() != nil {
				return nil, 0, "", err
			}
			lastErr = fmt.Errorf("address of %s: %w", ns, err)
			continue
		}
		m, v, cut, ok, err := try(addrs)
		if err != nil || ok {
			return m, v, cut, err
		}
	}
	// Servers that timed out get up to two more tries, like Unbound's
	// outbound-msg-retry, as long as the resolution's time lasts.
	for round := 0; round < maxRetryRounds && len(timedOut) > 0 && ctx.Err() == nil; round++ {
		again := timedOut
		timedOut = nil
		for _, a := range again {
			tried[a] = false
		}
		m, v, cut, ok, err := try(again)
		if err != nil || ok {
			return m, v, cut, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, "", err
	}
	if lastErr == nil {
		lastErr = errors.New("no addresses")
	}
	return nil, 0, "", fmt.Errorf("%w %s: %v", ErrNoServers, d.zone, lastErr)
}

// nsAddrs resolves a name server's addresses (A, then AAAA when there is
// no A) as a nested lookup sharing the client's budget.
func (r *Resolver) nsAddrs(ctx context.Context, st *state, ns string) ([]netip.AddrPort, error) {
	if st.depth >= r.cfg.MaxNSLookupDepth {
		return nil, ErrNSLookupDepth
	}
	st.active[ns] = true
	st.depth++
	defer func() { st.depth--; delete(st.active, ns) }()
	var out []netip.AddrPort
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		var msg *dns.Msg
		if !st.noCache {
			if h, ok := r.cache.Get(cache.Key{Name: ns, Type: qt, Class: dns.ClassINET}); ok && !h.Stale {
				msg = h.Msg
			}
		}
		if msg == nil {
			st.note("looking up the address of %s (%s)", ns, dns.TypeToString[qt])
			m, err := r.resolve(ctx, st, ns, qt)
			if err != nil {
				if qt == dns.TypeA {
					continue
				}
				if len(out) == 0 {
					return nil, err
				}
				break
			}
			msg = m
			r.store(st, cache.Key{Name: ns, Type: qt, Class: dns.ClassINET}, m)
		}
		for _, rr := range msg.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					out = append(out, netip.AddrPortFrom(a, uint16(r.cfg.Port)))
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(r.cfg.Port)))
				}
			}
		}
		if len(out) > 0 {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address", ns)
	}
	return out, nil
}

// Trace resolves name/qtype afresh, walking from the root hints (or the
// configured stub/forward zone) without reading the cache, and records each
// upstream query. What it learns is cached as a normal resolution would.
// The error is for bad input only; a failed resolution is described in the
// Resolution (Rcode SERVFAIL, Error).
func (r *Resolver) Trace(ctx context.Context, name string, qtype uint16) (*Resolution, error) {
	return r.TraceFrom(ctx, name, qtype, netip.Addr{})
}

// TraceFrom is Trace on behalf of client: with ECS on, its subnet is sent
// upstream as for its own queries (an invalid client sends none).
func (r *Resolver) TraceFrom(ctx context.Context, name string, qtype uint16, client netip.Addr) (*Resolution, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return nil, fmt.Errorf("%q is not a domain name", name)
	}
	if qtype == 0 || qtype == dns.TypeOPT || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return nil, fmt.Errorf("type %d cannot be resolved", qtype)
	}
	name = strings.ToLower(dns.Fqdn(name))
	tr := &Resolution{Name: name, Type: dns.TypeToString[qtype], Started: r.now().UTC()}
	st := r.newState(tr)
	if client.IsValid() && r.cfg.ECS.Enabled {
		sub, err := r.subnet(new(dns.Msg), client)
		if err != nil {
			return nil, err
		}
		st.ecs, st.client = sub.opt, sub.at
		tr.Client = client.String()
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	msg, err := r.resolve(ctx, st, name, qtype)
	err = timeoutErr(err, r.cfg.Timeout)
	tr.Duration = Duration(time.Since(start))
	tr.Queries = st.queries
	if err != nil {
		tr.Rcode = dns.RcodeToString[dns.RcodeServerFailure]
		tr.Error = err.Error()
		return tr, nil
	}
	k := cache.Key{Name: name, Type: qtype, Class: dns.ClassINET}
	if st.scope.IsValid() && st.scope.Bits() > 0 {
		k.Scope = st.scope
		tr.Scope = st.scope.String()
	}
	r.store(st, k, msg)
	tr.Rcode = dns.RcodeToString[msg.Rcode]
	for _, rr := range msg.Answer {
		tr.Answer = append(tr.Answer, rr.String())
	}
	for _, rr := range msg.Ns {
		tr.Authority = append(tr.Authority, rr.String())
	}
	return tr, nil
}
