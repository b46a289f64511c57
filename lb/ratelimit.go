package lb

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// A route's rate limit: one token bucket (golang.org/x/time/rate) per
// client key, in a table bounded by max_keys. Limits are per lbd
// instance, shared with nobody (HAProxy's stick tables without peers).
//
// The answer's fields, on every answer of a limited route:
//
//	X-RateLimit-Limit:     the bucket size (burst): the most requests at once
//	X-RateLimit-Remaining: whole tokens left after this request
//	X-RateLimit-Reset:     Unix time in seconds at which the bucket is full again
//	RateLimit-Policy:      "<route>";q=<burst>;w=<seconds to refill the bucket>
//	RateLimit:             "<route>";r=<remaining>;t=<seconds until full>
//
// and a 429 adds Retry-After: the seconds until the next token.

// How a limit finds a request's key.
const (
	keyIP = iota
	keyHeader
	keyCookie
)

// parseLimitKey reads rate_limit.key: ip, header:<name> or cookie:<name>.
func parseLimitKey(s string) (kind int, name string, err error) {
	switch {
	case s == "ip":
		return keyIP, "", nil
	case strings.HasPrefix(s, "header:") && validFieldName(s[7:]):
		return keyHeader, s[7:], nil
	case strings.HasPrefix(s, "cookie:") && validCookieName(s[7:]):
		return keyCookie, s[7:], nil
	}
	return 0, "", errors.New("must be ip, header:<name> or cookie:<name>")
}

// limitParams are a limit's numbers; the admin API swaps them.
type limitParams struct {
	requests int
	per      time.Duration
	burst    int
	every    rate.Limit // tokens per second
	policy   string     // the RateLimit-Policy value
}

func newLimitParams(route string, requests int, per time.Duration, burst int) *limitParams {
	p := &limitParams{requests: requests, per: per, burst: burst, every: rate.Limit(float64(requests) / per.Seconds())}
	w := int64(math.Ceil(float64(burst) / float64(p.every)))
	p.policy = strconv.Quote(route) + ";q=" + strconv.Itoa(burst) + ";w=" + strconv.FormatInt(max(w, 1), 10)
	return p
}

// limitKey is a client: its address prefix, or a header or cookie value.
type limitKey struct {
	prefix netip.Prefix
	value  string
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time // last request (under limiter.mu)
}

// limiter is one route's rate limit.
type limiter struct {
	route     string
	cfg       RateLimitConfig // as configured: a reload keeps the limiter while it stays the same
	kind      int
	name      string // header or cookie name
	v4, v6    int
	params    atomic.Pointer[limitParams]
	limited   atomic.Uint64 // 429s
	allowed   atomic.Uint64
	evicted   atomic.Uint64 // keys dropped while not yet full, to make room
	mu        sync.Mutex
	keys      map[limitKey]*bucket
	lastSweep time.Time
	maxKeys   int
}

func newLimiter(route string, c RateLimitConfig) *limiter {
	kind, name, _ := parseLimitKey(c.Key) // validated
	l := &limiter{route: route, cfg: c, kind: kind, name: name, v4: c.IPv4Prefix, v6: c.IPv6Prefix,
		keys: map[limitKey]*bucket{}, maxKeys: c.MaxKeys}
	l.params.Store(newLimitParams(route, c.Requests, c.Per, c.Burst))
	return l
}

// key is the request's client key.
func (l *limiter) key(rf reqFields) limitKey {
	switch l.kind {
	case keyHeader:
		if v := rf.header(l.name); v != "" {
			return limitKey{value: v}
		}
	case keyCookie:
		if v, ok := rf.cookie(l.name); ok && v != "" {
			return limitKey{value: v}
		}
	}
	a := rf.clientAddr()
	bits := l.v6
	if a.Is4() {
		bits = l.v4
	}
	p, _ := a.Prefix(bits)
	return limitKey{prefix: p}
}

// limitResult is one decision and what the answer says about it.
type limitResult struct {
	p         *limitParams
	allowed   bool
	remaining int
	full      time.Duration // until the bucket is full again
	retry     time.Duration // until the next token (when refused)
	now       time.Time
}

// take spends a token of key's bucket if it has one.
func (l *limiter) take(k limitKey, now time.Time) limitResult {
	p := l.params.Load()
	b := l.bucket(k, p, now)
	ok := b.l.AllowN(now, 1)
	tokens := b.l.TokensAt(now)
	res := limitResult{p: p, allowed: ok, remaining: max(int(math.Floor(tokens)), 0), now: now}
	res.full = secondsDur((float64(p.burst) - tokens) / float64(p.every))
	if ok {
		l.allowed.Add(1)
	} else {
		l.limited.Add(1)
		res.retry = secondsDur((1 - tokens) / float64(p.every))
	}
	return res
}

func secondsDur(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// bucket finds or makes k's bucket, keeping the table within max_keys.
func (l *limiter) bucket(k limitKey, p *limitParams, now time.Time) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.keys[k]; b != nil {
		b.seen = now
		return b
	}
	fill := secondsDur(float64(p.burst) / float64(p.every))
	if len(l.keys) >= l.maxKeys || now.Sub(l.lastSweep) >= max(fill, time.Second) {
		l.sweep(now, fill)
	}
	if len(l.keys) >= l.maxKeys {
		l.evictOne()
	}
	b := &bucket{l: rate.NewLimiter(p.every, p.burst), seen: now}
	l.keys[k] = b
	return b
}

// sweep drops the buckets idle long enough to be full again: dropping
// them changes nothing a client sees.
func (l *limiter) sweep(now time.Time, fill time.Duration) {
	l.lastSweep = now
	for k, b := range l.keys {
		if now.Sub(b.seen) >= fill {
			delete(l.keys, k)
		}
	}
}

// evictOne makes room in a full table: of a few keys (the map's order is
// random), the one idle longest goes. Its client starts again with a full
// bucket; the count is in the admin API.
func (l *limiter) evictOne() {
	var (
		oldest limitKey
		seen   time.Time
		n      int
	)
	for k, b := range l.keys {
		if n == 0 || b.seen.Before(seen) {
			oldest, seen = k, b.seen
		}
		if n++; n == 8 {
			break
		}
	}
	delete(l.keys, oldest)
	l.evicted.Add(1)
}

// set changes the numbers (admin API); every key's bucket follows at once.
func (l *limiter) set(requests int, per time.Duration, burst int, now time.Time) {
	p := newLimitParams(l.route, requests, per, burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.params.Store(p)
	for _, b := range l.keys {
		b.l.SetLimitAt(now, p.every)
		b.l.SetBurstAt(now, p.burst)
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// The answer's fields for a decision (see the top of this file).
func (r *limitResult) fields(sink fieldSink, route string) {
	sink.set("X-RateLimit-Limit", strconv.Itoa(r.p.burst))
	sink.set("X-RateLimit-Remaining", strconv.Itoa(r.remaining))
	sink.set("X-RateLimit-Reset", strconv.FormatInt(r.now.Add(r.full).Add(time.Second-1).Unix(), 10))
	sink.set("RateLimit-Policy", r.p.policy)
	sink.set("RateLimit", strconv.Quote(route)+";r="+strconv.Itoa(r.remaining)+";t="+strconv.FormatInt(ceilSeconds(r.full), 10))
	if !r.allowed {
		sink.set("Retry-After", strconv.FormatInt(max(ceilSeconds(r.retry), 1), 10))
	}
}

// keyName says what the limit counts by, for messages and the admin API.
func (l *limiter) keyName() string {
	switch l.kind {
	case keyHeader:
		return "value of header " + l.name
	case keyCookie:
		return "value of cookie " + l.name
	}
	return "client address /" + strconv.Itoa(l.v4) + " (IPv6 /" + strconv.Itoa(l.v6) + ")"
}

func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// rateLimitFields are the fields a limited route's answers carry, which
// replace any of the same name from the backend.
var rateLimitFields = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "Retry-After"}
