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
	desc    string // for traces: what was checked
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

// keysOf returns zone's keys: the DNSKEY RRset, validated against the
// DS records above it when it was resolved (validateAnswer), from the
// cache or a resolution of its own (coalesced with any in flight).
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
	now := r.now()
	if !dns.IsSubDomain(r.val.anchorZone, zone) {
		return &zoneKeys{expires: now.Add(time.Hour)} // outside the anchor: insecure
	}
	m, err := r.lookupFor(ctx, st, zone, dns.TypeDNSKEY)
	if err != nil {
		return &zoneKeys{err: fmt.Errorf("DNSKEY of %s: %w", zone, err)}
	}
	ttl := now.Add(ttlOf(m, time.Hour))
	if !m.AuthenticatedData {
		st.note("dnssec: %s: insecure (no DS at the parent, or an insecure parent)", zone)
		return &zoneKeys{expires: ttl} // below an insecure delegation
	}
	var keys []*dns.DNSKEY
	var tags []string
	for _, rr := range dnssec.RRset(m.Answer, zone, dns.TypeDNSKEY) {
		k := rr.(*dns.DNSKEY)
		keys = append(keys, k)
		role := "ZSK"
		if k.Flags&dns.SEP != 0 {
			role = "KSK"
		}
		tags = append(tags, fmt.Sprintf("%s %d", role, k.KeyTag()))
	}
	desc := fmt.Sprintf("DNSKEY (%s) secure: a KSK matches the DS above and signs the set", strings.Join(tags, ", "))
	if zone == r.val.anchorZone {
		desc = fmt.Sprintf("DNSKEY (%s) secure: a KSK matches the DS of the trust anchor and signs the set", strings.Join(tags, ", "))
	}
	return &zoneKeys{keys: keys, secure: true, expires: ttl, desc: desc}
}

// dsOf returns the DS records that vouch for zone's keys: the trust
// anchor's, or the parent's, validated with the parent's keys. secure is
// false for an insecure delegation (the parent proves it has no DS, or is
// insecure itself).
func (r *Resolver) dsOf(ctx context.Context, st *state, zone string) (ds []*dns.DS, secure bool, err error) {
	v := r.val
	if zone == v.anchorZone {
		return v.anchor, true, nil
	}
	pz := r.keysOf(ctx, st, r.parentZone(zone))
	if pz.err != nil || !pz.secure {
		return nil, false, pz.err
	}
	m, err := r.lookupFor(ctx, st, zone, dns.TypeDS)
	if err != nil {
		return nil, false, fmt.Errorf("DS of %s: %w", zone, err)
	}
	if !m.AuthenticatedData {
		return nil, false, nil
	}
	for _, rr := range m.Answer {
		if d, ok := rr.(*dns.DS); ok && strings.EqualFold(d.Hdr.Name, zone) {
			ds = append(ds, d)
		}
	}
	return ds, len(ds) > 0, nil
}

// validateKeys checks a zone's own DNSKEY answer against the DS records
// that vouch for it (RFC 4035 §5.2).
func (r *Resolver) validateKeys(ctx context.Context, st *state, zone string, m *dns.Msg) (bool, error) {
	ds, secure, err := r.dsOf(ctx, st, zone)
	if err != nil || !secure {
		if err == nil {
			st.note("dnssec: %s: the parent proves it has no DS: insecure delegation", zone)
		}
		return false, err
	}
	now := r.now()
	keySet := dnssec.RRset(m.Answer, zone, dns.TypeDNSKEY)
	sigs := dnssec.Sigs(m.Answer, zone, dns.TypeDNSKEY)
	_, ver, err := dnssec.VerifyKeys(zone, keySet, sigs, ds, now)
	if err != nil {
		st.note("dnssec: %s: DNSKEY does not match its DS: %v", zone, err)
		return false, fmt.Errorf("%w: %w", ErrBogus, err)
	}
	st.note("dnssec: %s: DS %d -> DNSKEY %d -> RRSIG over DNSKEY verified: secure", zone, ds[0].KeyTag, ver.Sig.KeyTag)
	clamp(keySet, ver.Expires, now)
	clamp(dnssec.RRsetOf(sigs), ver.Expires, now)
	return true, nil
}

// parentZone is the zone above zone: the closest delegation cached above
// it, or the root.
func (r *Resolver) parentZone(zone string) string {
	for z := parent(zone); z != "."; z = parent(z) {
		if h, ok := r.cache.Get(cache.Key{Name: z, Type: dns.TypeNS, Class: dns.ClassINET, Kind: cache.Delegation}); ok && !h.Stale {
			return z
		}
	}
	return "."
}

// lookupFor answers name/t for the validator (DNSKEY and DS records) from
// the cache, or from a resolution of its own, shared with any other for
// the same question (validated there: never with CD).
func (r *Resolver) lookupFor(ctx context.Context, st *state, name string, t uint16) (*dns.Msg, error) {
	k := cache.Key{Name: name, Type: t, Class: dns.ClassINET}
	if h, ok := r.cache.Get(k); ok && !h.Stale {
		m := new(dns.Msg)
		h.Fill(m, r.now(), 0)
		m.AuthenticatedData = h.Msg.AuthenticatedData
		return m, nil
	}
	f, _ := r.join(k, false, subnet{}, false)
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	st.note("dnssec: fetched %s %s", name, dns.TypeToString[t])
	return f.msg, nil
}

// warmKeys starts fetching zone's keys (and, below the anchor, its DS)
// while the resolution goes on asking its servers, so that validating
// their answer waits for no more round trips than the answer itself.
func (r *Resolver) warmKeys(zone string) {
	if r.val == nil || r.val.cached(zone, r.now()) != nil {
		return
	}
	for _, t := range []uint16{dns.TypeDNSKEY, dns.TypeDS} {
		if t == dns.TypeDS && zone == r.val.anchorZone {
			continue
		}
		k := cache.Key{Name: zone, Type: t, Class: dns.ClassINET}
		if h, ok := r.cache.Get(k); ok && !h.Stale {
			continue
		}
		r.join(k, false, subnet{}, false)
	}
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
	if qtype == dns.TypeDNSKEY && qname == zone {
		return r.validateKeys(ctx, st, zone, m) // against the DS, not by itself
	}
	zk := r.keysOf(ctx, st, zone)
	if zk.err != nil {
		return false, zk.err
	}
	if !zk.secure {
		return false, nil
	}
	if qtype == dns.TypeRRSIG && len(m.Answer) > 0 {
		// Signatures without the RRsets they cover cannot be checked:
		// served, but never called secure (no ad).
		st.note("dnssec: an answer of RRSIG records cannot be verified (the RRsets they sign are not in it): not secure")
		return false, nil
	}
	now := r.now()
	nsecs := dnssec.DenialOf(m.Ns) // NSEC or NSEC3
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
			st.note("dnssec: %s %s: RRSIG by key %d of %s verifies", h.Name, dns.TypeToString[h.Rrtype], ver.Sig.KeyTag, signer)
			if expanded(ver.Sig, h.Name) {
				if err := nsecs.Wildcard(h.Name, ver.Sig.Labels); err != nil {
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
			err = nsecs.NXDomain(last)
		} else {
			err = nsecs.NoData(last, qtype)
		}
		if err != nil {
			st.note("dnssec: denial of %s %s: %v", last, dns.TypeToString[qtype], err)
			return false, fmt.Errorf("%w: %w", ErrBogus, err)
		}
	}
	if st.trace != nil {
		r.noteChain(st, zone)
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

// noteChain tells a trace the chain of trust from the anchor down to
// zone: each zone's keys as they were checked.
func (r *Resolver) noteChain(st *state, zone string) {
	var chain []string
	for z := zone; ; z = r.parentZone(z) {
		chain = append(chain, z)
		if z == r.val.anchorZone || z == "." {
			break
		}
	}
	now := r.now()
	for i := len(chain) - 1; i >= 0; i-- {
		if zk := r.val.cached(chain[i], now); zk != nil && zk.desc != "" {
			st.note("dnssec: %s: %s", chain[i], zk.desc)
		}
	}
}
