package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/dns/rrset"
)

// Errors that end a resolution in SERVFAIL.
var (
	ErrReferralLimit = errors.New("referral limit reached")
	ErrCNAMELimit    = errors.New("CNAME chain too long")
	ErrCNAMELoop     = errors.New("CNAME loop")
	ErrQueryLimit    = errors.New("upstream query limit reached")
	ErrNoServers     = errors.New("no server for the zone answered usefully")
	ErrNSLookupDepth = errors.New("name server address lookups nested too deep")
	ErrReferralLoop  = errors.New("referral loop")
)

// state is the budget and record of one client resolution, shared by the
// nested lookups of name server addresses it needs.
type state struct {
	r       *Resolver
	queries int
	max     int
	depth   int
	trace   *Resolution
	id      uint64          // in dns.upstream events; 0 until the first one
	noCache bool            // Trace: walk from the hints, do not read the cache
	active  map[string]bool // NS names being looked up (breaks glueless cycles)

	ecs       *dns.EDNS0_SUBNET // client subnet to send (nil: none)
	client    netip.Addr        // address cached answers must hold for
	lastScope netip.Prefix      // ECS scope of the reply just accepted (zero: global)
	scope     netip.Prefix      // narrowest ECS scope of the answer so far

	cd    bool  // the client set CD: bogus data is answered, not refused (validate.go)
	bogus error // with cd: why the data answered failed validation; nothing of it is cached
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
	secure := r.val != nil // every hop of the chain validated
	var proofs []dns.RR    // NSEC proofs of wildcard answers along the chain
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
				resp.AuthenticatedData = h.Msg.AuthenticatedData
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
		secure = secure && resp.AuthenticatedData
		if r.val != nil {
			proofs = append(proofs, nsecProofs(resp.Ns)...)
		}
		chain = append(chain, recs...)
		chain = append(chain, sigsFor(resp.Answer, recs)...)
		if n := rrset.Count(chain, dns.TypeCNAME); n > r.cfg.MaxCNAMEChain {
			return nil, fmt.Errorf("%w: %d CNAMEs from %s, limit %d", ErrCNAMELimit, n, qname, r.cfg.MaxCNAMEChain)
		}
		if done || next == name {
			out := new(dns.Msg)
			out.Rcode = resp.Rcode
			out.Answer = chain
			out.AuthenticatedData = secure
			if !done {
				out.Ns = resp.Ns
			} else {
				out.Ns = proofs // a wildcard answer shows why the name itself does not exist
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
	start := qname
	if qtype == dns.TypeDS && qname != "." {
		start = parent(qname) // the DS lives on the parent side of the cut
	}
	d := r.closest(st, start)
	if !d.forward {
		r.warmKeys(d.zone)
	}
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
			nd := r.delegationFrom(cut, m.Ns, m.Extra)
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
			r.warmKeys(d.zone)
			asked = 0
		case vAnswer:
			out := r.inBailiwick(d, qname, m)
			if r.val != nil && !d.forward {
				saved := st.lastScope
				secure, err := r.validateAnswer(ctx, st, d.zone, qname, qtype, out)
				st.lastScope = saved
				if err != nil && !st.cd {
					return nil, err
				}
				if err != nil {
					st.bogus = err // CD: the client gets the data; it is not cached
					return out, nil
				}
				out.AuthenticatedData = secure
			}
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
		resp.AuthenticatedData = h.Msg.AuthenticatedData
		resp.Rcode = dns.RcodeNameError
		resp.Answer = nil
		st.note("cache: %s does not exist, so neither does %s (RFC 8020)", z, name)
		return resp
	}
	return nil
}

func (r *Resolver) store(st *state, k cache.Key, m *dns.Msg) {
	ttl, err := r.cache.Set(k, m)
	if err == nil {
		st.cached(k, ttl)
	}
}
