package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrNotCacheable is returned by Set for a response that must not be cached.
var ErrNotCacheable = errors.New("response is not cacheable")

// TTL computes how long msg may be cached under kind, after caps, and
// whether it is a negative answer. ok is false when it must not be cached:
// SERVFAIL and other errors, a negative answer without an SOA (RFC 2308 §5),
// or a TTL of zero.
func (c *Cache) TTL(kind Kind, msg *dns.Msg) (ttl uint32, negative, ok bool) {
	const unset = ^uint32(0)
	min := unset
	take := func(rrs []dns.RR, only uint16) {
		for _, rr := range rrs {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT || (only != 0 && h.Rrtype != only) {
				continue
			}
			if h.Ttl < min {
				min = h.Ttl
			}
		}
	}
	switch {
	case kind == Delegation:
		take(msg.Ns, dns.TypeNS)
		take(msg.Extra, 0)
	case msg.Rcode == dns.RcodeNameError || (msg.Rcode == dns.RcodeSuccess && len(msg.Answer) == 0):
		negative = true
		var soa *dns.SOA
		for _, rr := range msg.Ns {
			if s, isSOA := rr.(*dns.SOA); isSOA {
				soa = s
				break
			}
		}
		if soa == nil {
			return 0, true, false
		}
		min = soa.Hdr.Ttl
		if soa.Minttl < min {
			min = soa.Minttl
		}
		// A CNAME chain ahead of an NXDOMAIN bounds the entry too.
		take(msg.Answer, 0)
	case msg.Rcode == dns.RcodeSuccess:
		take(msg.Answer, 0)
	default:
		return 0, false, false
	}
	if min == unset {
		return 0, negative, false
	}
	ttl = min
	if negative {
		if c.cfg.NegativeMaxTTL > 0 && time.Duration(ttl)*time.Second > c.cfg.NegativeMaxTTL {
			ttl = uint32(c.cfg.NegativeMaxTTL / time.Second)
		}
	} else {
		if time.Duration(ttl)*time.Second < c.cfg.MinTTL {
			ttl = uint32(c.cfg.MinTTL / time.Second)
		}
		if c.cfg.MaxTTL > 0 && time.Duration(ttl)*time.Second > c.cfg.MaxTTL {
			ttl = uint32(c.cfg.MaxTTL / time.Second)
		}
	}
	return ttl, negative, ttl > 0
}

// clampRRs copies rrs with each TTL capped to the configured bounds.
func (c *Cache) clampRRs(rrs []dns.RR, negative bool) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		cp := dns.Copy(rr)
		h := cp.Header()
		if negative {
			if s, ok := cp.(*dns.SOA); ok && s.Minttl < h.Ttl {
				h.Ttl = s.Minttl
			}
			if c.cfg.NegativeMaxTTL > 0 && time.Duration(h.Ttl)*time.Second > c.cfg.NegativeMaxTTL {
				h.Ttl = uint32(c.cfg.NegativeMaxTTL / time.Second)
			}
		} else {
			if time.Duration(h.Ttl)*time.Second < c.cfg.MinTTL {
				h.Ttl = uint32(c.cfg.MinTTL / time.Second)
			}
			if c.cfg.MaxTTL > 0 && time.Duration(h.Ttl)*time.Second > c.cfg.MaxTTL {
				h.Ttl = uint32(c.cfg.MaxTTL / time.Second)
			}
		}
		out = append(out, cp)
	}
	return out
}

// Set stores a copy of msg under k and returns the TTL it will live for.
// The header fields kept are Rcode, Authoritative, AuthenticatedData and the sections; the
// question is taken from k when answering. An entry already under k is
// replaced.
func (c *Cache) Set(k Key, msg *dns.Msg) (time.Duration, error) {
	ttl, negative, ok := c.TTL(k.Kind, msg)
	if !ok {
		return 0, ErrNotCacheable
	}
	if c.cfg.Jitter > 0 && ttl > 1 {
		cut := uint32(float64(ttl) * c.cfg.Jitter * rand.Float64())
		ttl -= cut
	}
	k.Name = strings.ToLower(k.Name)
	if k.Scope.IsValid() {
		k.Scope = k.Scope.Masked()
	}
	stored := &dns.Msg{}
	stored.Rcode = msg.Rcode
	stored.Authoritative = msg.Authoritative
	stored.AuthenticatedData = msg.AuthenticatedData // a validating resolver's "secure"
	stored.Answer = c.clampRRs(msg.Answer, false)
	stored.Ns = c.clampRRs(msg.Ns, negative)
	stored.Extra = c.clampRRs(msg.Extra, false)
	now := c.now().UnixNano()
	e := &entry{
		key:      k,
		msg:      stored,
		stored:   now,
		expire:   now + int64(ttl)*int64(time.Second),
		ttl:      ttl,
		negative: negative,
		size:     memory(k, stored),
	}
	s := c.shard(k.Name)
	if e.size > s.maxBytes/4 {
		return 0, fmt.Errorf("%w: %d bytes is over a quarter of a shard's %d", ErrNotCacheable, e.size, s.maxBytes)
	}
	s.mu.Lock()
	if old, ok := s.m[k]; ok {
		c.unlink(s, old)
	}
	for len(s.m) >= s.maxEntries || (s.bytes+e.size > s.maxBytes && len(s.m) > 0) {
		c.evict(s)
	}
	c.link(s, e)
	c.notify(OpSet, k, ttl)
	s.mu.Unlock()
	return time.Duration(ttl) * time.Second, nil
}
