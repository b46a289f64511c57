package dnssec

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// SignerOptions are the signature timing of a zone.
type SignerOptions struct {
	// Validity is how long a new signature is valid (RFC 4034 §3.1.5).
	Validity time.Duration
	// Refresh: a cached signature with less than this left is made anew.
	Refresh time.Duration
	// Jitter spreads expirations over up to this much, so that the
	// signatures of a zone do not all expire at once.
	Jitter time.Duration
	// Inception is backdated this much for clients whose clock is behind.
	Backdate time.Duration
	// NSEC3, when set, proves denial with NSEC3 (RFC 5155) instead of NSEC.
	NSEC3 *NSEC3Params
}

// DefaultSignerOptions: two weeks, re-signed in the last week, expiries
// spread over a day (BIND's and Knot's defaults are of this order).
func DefaultSignerOptions() SignerOptions {
	return SignerOptions{Validity: 14 * 24 * time.Hour, Refresh: 7 * 24 * time.Hour, Jitter: 24 * time.Hour, Backdate: time.Hour}
}

// Signer signs the RRsets of one zone online, keeping each signature in a
// cache until it nears its expiry: a popular answer is signed once, not
// once per query.
type Signer struct {
	Origin string
	keys   *Keys
	opt    SignerOptions
	now    func() time.Time
	jitter func(time.Duration) time.Duration
	cache  *sigCache
	// offset moves the signer's clock (the expired-signatures lab: a
	// signer whose clock is wrong); 0 normally.
	offset atomic.Int64
	made   atomic.Uint64
	hits   atomic.Uint64
	// NegTTL is the TTL of NSEC records (RFC 9077: the SOA's negative TTL).
	NegTTL uint32
	// the zone signed whole for transfers, its last version (chain.go)
	zmu    sync.Mutex
	signed *SignedZone
}

// NewSigner returns a signer of origin with keys. now may be nil (time.Now).
func NewSigner(keys *Keys, opt SignerOptions, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	if opt.Validity <= 0 {
		n3 := opt.NSEC3
		opt = DefaultSignerOptions()
		opt.NSEC3 = n3
	}
	if opt.Refresh >= opt.Validity {
		opt.Refresh = opt.Validity / 2
	}
	return &Signer{Origin: keys.Origin, keys: keys, opt: opt, now: now, cache: newSigCache(sigCacheEntries), NegTTL: 3600,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}}
}

// Keys returns the signer's keys.
func (s *Signer) Keys() *Keys { return s.keys }

// SetClockOffset moves the signer's clock by d (negative: into the past)
// and forgets the cached signatures.
func (s *Signer) SetClockOffset(d time.Duration) {
	s.offset.Store(int64(d))
	s.cache.reset()
	s.zmu.Lock()
	s.signed = nil
	s.zmu.Unlock()
}

// NSEC3 returns the NSEC3 parameters, nil when denial is by NSEC.
func (s *Signer) NSEC3() *NSEC3Params { return s.opt.NSEC3 }

// ClockOffset is what SetClockOffset set.
func (s *Signer) ClockOffset() time.Duration { return time.Duration(s.offset.Load()) }

// Stats says how many signatures were made and how many RRsets were
// answered from the cache.
func (s *Signer) Stats() (made, cached uint64) { return s.made.Load(), s.hits.Load() }

func (s *Signer) clock() time.Time { return s.now().Add(time.Duration(s.offset.Load())) }

// Sign returns the RRSIGs of rrs (one RRset: same owner, type, class),
// from the cache or made now, and the time after which they should not be
// served without re-signing. signOwner is the owner the data has in the
// zone: a wildcard ("*.apps.example.test.") when rrs were synthesised
// from one, else "" (the records' own owner). The RRSIGs returned have the
// records' owner and TTL and are the caller's to keep (not shared).
func (s *Signer) Sign(rrs []dns.RR, signOwner string) ([]dns.RR, time.Time, error) {
	h := rrs[0].Header()
	owner := dns.CanonicalName(h.Name)
	if signOwner != "" {
		owner = dns.CanonicalName(signOwner)
	}
	key := cacheKey(owner, rrs)
	now := s.clock()
	if e := s.cache.get(key); e != nil && now.Before(e.refresh) {
		s.hits.Add(1)
		return e.rrsigs(h.Name, h.Ttl), e.refresh.Add(-time.Duration(s.offset.Load())), nil
	}
	set := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = owner
		set[i] = c
	}
	inception := now.Add(-s.opt.Backdate)
	expiration := now.Add(s.opt.Validity - s.jitter(s.opt.Jitter))
	e := &sigEntry{refresh: expiration.Add(-s.opt.Refresh)}
	for _, k := range s.keysFor(h.Rrtype) {
		sig := &dns.RRSIG{
			Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: h.Class, Ttl: h.Ttl},
			Algorithm:  k.DNSKEY.Algorithm,
			OrigTtl:    h.Ttl,
			Expiration: uint32(expiration.Unix()),
			Inception:  uint32(inception.Unix()),
			KeyTag:     k.DNSKEY.KeyTag(),
			SignerName: s.Origin,
		}
		if err := sig.Sign(k.Signer, set); err != nil {
			return nil, time.Time{}, err
		}
		s.made.Add(1)
		e.sigs = append(e.sigs, sig)
	}
	s.cache.put(key, e)
	return e.rrsigs(h.Name, h.Ttl), e.refresh.Add(-time.Duration(s.offset.Load())), nil
}

// keysFor: the DNSKEY RRset is signed by the key-signing keys, everything
// else by the zone-signing keys; a CSK does both.
func (s *Signer) keysFor(t uint16) []*Key {
	var ksk, zsk []*Key
	for _, k := range s.keys.List {
		if k.SEP() {
			ksk = append(ksk, k)
		} else {
			zsk = append(zsk, k)
		}
	}
	if t == dns.TypeDNSKEY || len(zsk) == 0 {
		return ksk
	}
	return zsk
}

// cacheKey identifies an RRset by what its signature covers: owner, type,
// TTL and the records' data in canonical order (so every rotation of a
// set, and every GeoDNS variant with the same records, shares one entry).
func cacheKey(owner string, rrs []dns.RR) string {
	h := rrs[0].Header()
	parts := make([]string, len(rrs))
	for i, rr := range rrs {
		s := rr.String()
		// the data after the header: "name ttl class type "
		parts[i] = s[len(rr.Header().String()):]
	}
	slices.Sort(parts)
	var b strings.Builder
	b.WriteString(owner)
	b.WriteByte('|')
	b.WriteString(dns.TypeToString[h.Rrtype])
	b.WriteByte('|')
	b.WriteString(strconv.FormatUint(uint64(h.Ttl), 10))
	for _, p := range parts {
		b.WriteByte('|')
		b.WriteString(p)
	}
	return b.String()
}
