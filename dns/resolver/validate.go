package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/dns/dnssec"
	"netsim/internal/cfgerr"
)

// DNSSEC validation (RFC 4033-4035): each answer a zone's servers give is
// checked with that zone's keys as it arrives (iterate), and the keys
// with the DS records of the parent, up to the trust anchor. An answer is
// secure (every RRset verified, every denial proved), insecure (below a
// delegation proved to have no DS) or bogus (anything else: SERVFAIL,
// with the Extended DNS Error that says why). The state is kept with the
// cached answer (the AD flag) and, per zone, with the keys.

// DNSSECConfig is the resolver.dnssec section.
type DNSSECConfig struct {
	// Validate turns validation on when a trust anchor is known.
	Validate bool `mapstructure:"validate"`
	// TrustAnchorFile is read at start: a BIND trust-anchors clause (what
	// dnsd writes to var/root.key) or DS / DNSKEY lines. "": the
	// simulated root's key when this dnsd signs the root zone, else none
	// (no validation).
	TrustAnchorFile string `mapstructure:"trust_anchor_file"`
}

// WithTrustAnchor sets the trust anchor (DS records of one zone, usually
// the root) when the config names no file: dnsd passes the key of the root
// zone it signs itself.
func WithTrustAnchor(ds []*dns.DS) Option {
	return func(r *Resolver) {
		if r.cfg.DNSSEC.Validate && r.cfg.DNSSEC.TrustAnchorFile == "" && len(ds) > 0 {
			r.val = newValidator(ds)
		}
	}
}

func (c DNSSECConfig) anchor() ([]*dns.DS, error) {
	if !c.Validate || c.TrustAnchorFile == "" {
		return nil, nil
	}
	ds, err := dnssec.ReadAnchor(c.TrustAnchorFile)
	if err != nil {
		return nil, cfgerr.New("dnssec.trust_anchor_file", c.TrustAnchorFile, err.Error())
	}
	return ds, nil
}

// validator holds the trust anchor and the keys validated so far.
type validator struct {
	anchorZone string
	anchor     []*dns.DS
	mu         sync.Mutex
	keys       map[string]*zoneKeys
}

func newValidator(ds []*dns.DS) *validator {
	return &validator{anchorZone: dns.CanonicalName(ds[0].Hdr.Name), anchor: ds, keys: map[string]*zoneKeys{}}
}

// zoneKeys is what is known of a zone's keys: secure (keys verified from
// the anchor down), insecure (no DS above it, or an insecure parent) or
// bogus (err), until expires.
type zoneKeys struct {
	keys    []*dns.DNSKEY
	secure  bool
	err     error
	expires time.Time
}

// bogusTTL: how long a zone found bogus stays so before it is asked again.
const bogusTTL = 5 * time.Second

// ErrBogus wraps every validation failure.
var ErrBogus = errors.New("DNSSEC validation failed")

func (v *validator) cached(zone string, now time.Time) *zoneKeys {
	v.mu.Lock()
	defer v.mu.Unlock()
	if zk := v.keys[zone]; zk != nil && now.Before(zk.expires) {
		return zk
	}
	return nil
}

func (v *validator) put(zone string, zk *zoneKeys) {
	v.mu.Lock()
	if len(v.keys) > 10_000 {
		v.keys = map[string]*zoneKeys{}
	}
	v.keys[zone] = zk
	v.mu.Unlock()
}

// flush forgets every zone's keys (with the cache flush).
func (v *validator) flush() {
	if v == nil {
		return
	}
	v.mu.Lock()
	v.keys = map[string]*zoneKeys{}
	v.mu.Unlock()
}

// keysOf returns zone's keys, fetching and validating its DNSKEY RRset
// and the DS records above it as needed.
func (r *Resolver) keysOf(ctx context.Context, st *state, zone string) *zoneKeys {
	v := r.val
	now := r.now()
	if zk := v.cached(zone, now); zk != nil {
		return zk
	}
	zk := r.fetchKeys(ctx, st, zone)
	if zk.err != nil {
		if errors.Is(zk.err, ErrQueryLimit) || ctx.Err() != nil {
			return zk // not the zone's fault: not remembered
		}
		zk.expires = now.Add(bogusTTL)
	}
	v.put(zone, zk)
	return zk
}

func (r *Resolver) fetchKeys(ctx context.Context, st *state, zone string) *zoneKeys {
	if st.fetching == nil {
		st.fetching = map[string]bool{}
	}
	st.fetching[zone] = true
	defer delete(st.fetching, zone)
	v := r.val
	now := r.now()
	var ds []*dns.DS
	if zone == v.anchorZone {
		ds = v.anchor
		st.note("dnssec: %s: trust anchor, DS key tag %d", zone, ds[0].KeyTag)
	} else if !dns.IsSubDomain(v.anchorZone, zone) {
		return &zoneKeys{expires: now.Add(time.Hour)} // outside the anchor: insecure
	} else {
		pz := r.keysOf(ctx, st, r.parentZone(zone))
		if pz.err != nil || !pz.secure {
			return &zoneKeys{err: pz.err, expires: pz.expires}
		}
		m, err := r.lookupFor(ctx, st, zone, dns.TypeDS)
		if err != nil {
			return &zoneKeys{err: fmt.Errorf("DS of %s: %w", zone, err)}
		}
		if !m.AuthenticatedData {
			return &zoneKeys{expires: now.Add(ttlOf(m, time.Hour))} // an insecure parent said so
		}
		for _, rr := range m.Answer {
			if d, ok := rr.(*dns.DS); ok && strings.EqualFold(d.Hdr.Name, zone) {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			st.note("dnssec: %s: the parent proves it has no DS: insecure delegation", zone)
			return &zoneKeys{expires: now.Add(ttlOf(m, time.Hour))}
		}
	}
	m, err := r.lookupFor(ctx, st, zone, dns.TypeDNSKEY)
	if err != nil {
		return &zoneKeys{err: fmt.Errorf("DNSKEY of %s: %w", zone, err)}
	}
	keySet := dnssec.RRset(m.Answer, zone, dns.TypeDNSKEY)
	keys, ver, err := dnssec.VerifyKeys(zone, keySet, dnssec.Sigs(m.Answer, zone, dns.TypeDNSKEY), ds, now)
	if err != nil {
		st.note("dnssec: %s: DNSKEY does not match its DS: %v", zone, err)
		return &zoneKeys{err: fmt.Errorf("%w: %w", ErrBogus, err)}
	}
	st.note("dnssec: %s: DS %d -> DNSKEY %d -> RRSIG over DNSKEY verified: secure", zone, ds[0].KeyTag, ver.Sig.KeyTag)
	if !m.AuthenticatedData {
		// cached as validated now, for clients that ask for the keys (a
		// copy: records filled from the cache are shared)
		m.Answer = copyRRs(m.Answer)
		clamp(m.Answer, ver.Expires, now)
		m.AuthenticatedData = true
		r.store(st, cache.Key{Name: zone, Type: dns.TypeDNSKEY, Class: dns.ClassINET}, m)
	}
	exp := ver.Expires
	if t := now.Add(ttlOf(m, time.Hour)); t.Before(exp) {
		exp = t
	}
	return &zoneKeys{keys: keys, secure: true, expires: exp}
}

// parentZone is the zone above zone: the closest delegation cached above
// it, or simply its parent name (an empty non-terminal holds no zone, but
// asking its DS of the parent's servers gives the right denial anyway).
func (r *Resolver) parentZone(zone string) string {
	for z := parent(zone); z != "."; z = parent(z) {
		if h, ok := r.cache.Get(cache.Key{Name: z, Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation}); ok && !h.Stale {
			return z
		}
	}
	return "."
}

// lookupFor answers name/t from the cache or by iterating, for the
// validator's own needs (DNSKEY and DS records).
func (r *Resolver) lookupFor(ctx context.Context, st *state, name string, t uint16) (*dns.Msg, error) {
	k := cache.Key{Name: name, Type: t, Class: dns.ClassINET}
	if h, ok := r.cache.Get(k); ok && !h.Stale {
		m := new(dns.Msg)
		h.Fill(m, r.now(), 0)
		m.AuthenticatedData = h.Msg.AuthenticatedData
		return m, nil
	}
	st.depth++
	defer func() { st.depth-- }()
	saved := st.lastScope
	defer func() { st.lastScope = saved }()
	return r.iterate(ctx, st, name, t)
}

func ttlOf(m *dns.Msg, max time.Duration) time.Duration {
	d := max
	for _, rr := range append(m.Answer, m.Ns...) {
		if t := time.Duration(rr.Header().Ttl) * time.Second; t < d {
			d = t
		}
	}
	return d
}

// validateAnswer checks an answer from the servers of zone: it returns
// whether it is secure, or an error wrapping ErrBogus. It clamps the TTLs
// of verified records to the expiry of their signatures.
func (r *Resolver) validateAnswer(ctx context.Context, st *state, zone, qname string, qtype uint16, m *dns.Msg) (bool, error) {
	if qtype == dns.TypeDNSKEY && qname == zone && !st.fetching[zone] {
		return zk0(r.keysOf(ctx, st, zone))
	}
	if qtype == dns.TypeDNSKEY && qname == zone {
		return false, nil // fetchKeys checks it against the DS, not by itself
	}
	zk := r.keysOf(ctx, st, zone)
	if zk.err != nil {
		return false, zk.err
	}
	if !zk.secure {
		return false, nil
	}
	now := r.now()
	var nsecs []*dns.NSEC
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NSEC); ok {
			nsecs = append(nsecs, n)
		}
	}
	check := func(section []dns.RR, what string) error {
		seen := map[string]bool{}
		for _, rr := range section {
			h := rr.Header()
			key := strings.ToLower(h.Name) + "/" + dns.TypeToString[h.Rrtype]
			if h.Rrtype == dns.TypeRRSIG || seen[key] {
				continue
			}
			seen[key] = true
			set := dnssec.RRset(section, h.Name, h.Rrtype)
			sigs := dnssec.Sigs(section, h.Name, h.Rrtype)
			signer, keys := zone, zk.keys
			if len(sigs) > 0 && !strings.EqualFold(sigs[0].SignerName, zone) && dns.IsSubDomain(zone, dns.CanonicalName(sigs[0].SignerName)) {
				// a chain into a child zone the same servers serve
				signer = dns.CanonicalName(sigs[0].SignerName)
				ck := r.keysOf(ctx, st, signer)
				if ck.err != nil {
					return ck.err
				}
				if !ck.secure {
					continue
				}
				keys = ck.keys
			}
			ver, err := dnssec.VerifyRRset(set, sigs, keys, signer, now)
			if err != nil {
				st.note("dnssec: %s %s (%s): %v", h.Name, dns.TypeToString[h.Rrtype], what, err)
				return fmt.Errorf("%w: %w", ErrBogus, err)
			}
			if expanded(ver.Sig, h.Name) {
				if err := dnssec.ProveWildcard(nsecs, h.Name); err != nil {
					return fmt.Errorf("%w: %w", ErrBogus, err)
				}
			}
			clamp(set, ver.Expires, now)
			clamp(dnssec.RRsetOf(sigs), ver.Expires, now)
		}
		return nil
	}
	if err := check(m.Answer, "answer"); err != nil {
		return false, err
	}
	last := qname
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			last = strings.ToLower(c.Target)
		}
	}
	_, _, done, _ := followChain(m.Answer, qname, qtype)
	if m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && !done && isSub(last, zone)) {
		if err := check(m.Ns, "authority"); err != nil {
			return false, err
		}
		var err error
		if m.Rcode == dns.RcodeNameError {
			err = dnssec.ProveNXDomain(nsecs, last)
		} else {
			err = dnssec.ProveNoData(nsecs, last, qtype)
		}
		if err != nil {
			st.note("dnssec: denial of %s %s: %v", last, dns.TypeToString[qtype], err)
			return false, fmt.Errorf("%w: %w", ErrBogus, err)
		}
	}
	st.note("dnssec: %s %s from %s: secure", qname, dns.TypeToString[qtype], zone)
	return true, nil
}

// clamp lowers the TTLs of a verified RRset so that it is not kept past
// its signature's expiry (RFC 4035 §5.3.3).
func clamp(set []dns.RR, expires, now time.Time) {
	left := expires.Sub(now) / time.Second
	if left < 0 {
		left = 0
	}
	for _, rr := range set {
		if h := rr.Header(); time.Duration(h.Ttl) > left {
			h.Ttl = uint32(left)
		}
	}
}

// zk0 is the state of a zone's own DNSKEY answer: its keys' state.
func zk0(zk *zoneKeys) (bool, error) { return zk.secure, zk.err }

// expanded reports whether sig says its RRset was synthesised from a
// wildcard: fewer labels than the owner has, not counting a leading "*"
// (the wildcard's own records, such as its NSEC, are not expansions).
func expanded(sig *dns.RRSIG, owner string) bool {
	n := dns.CountLabel(owner)
	if strings.HasPrefix(owner, "*.") {
		n--
	}
	return int(sig.Labels) < n
}
