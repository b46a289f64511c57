// Package rrl is Response Rate Limiting for dnsd's UDP answers, in BIND's
// model: each (client prefix, kind of response, name, type) has an account
// that earns a configured number of credits a second; a response spends
// one; a response without credit is dropped, or every slip-th one goes out
// truncated so that a real client behind a spoofed prefix retries over TCP.
//
// The account is a GCRA (the virtual-scheduling form of a token bucket):
// it holds at most one second's credit, so a flood of one response from
// one prefix gets exactly the configured rate, a second's burst first.
// Unlike BIND, a dropped response costs no credit: BIND lets the balance
// fall to -window×rate and answers a sustained flood nothing at all; here
// the flood keeps getting the rate (the reflection it can cause is bounded
// all the same) and window is how long an account is remembered, and a
// prefix listed as limited, after its last limited response.
package rrl

import (
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Kind of response, each with its own rate.
type Kind uint8

// Kinds, as BIND names them.
const (
	Response Kind = iota // an answer or NODATA: keyed by name and type
	Referral             // keyed by the delegation's name
	NXDomain             // keyed by the zone (SOA owner)
	Error                // REFUSED, FORMERR, SERVFAIL…: one account per prefix
	kinds
)

var kindNames = [kinds]string{"responses", "referrals", "nxdomains", "errors"}

func (k Kind) String() string {
	if k < kinds {
		return kindNames[k]
	}
	return "unknown"
}

// Action is what to do with a response.
type Action uint8

// Actions.
const (
	Send Action = iota // within the rate, exempt, or log-only
	Drop               // no credit: send nothing
	Slip               // no credit: send a truncated reply (TC=1, no records)
)

// Verdict is why an Action was taken, for metrics.
type Verdict uint8

// Verdicts.
const (
	Answered     Verdict = iota // within the rate
	Dropped                     // limited, nothing sent
	Slipped                     // limited, sent truncated
	Logged                      // would have been limited (log-only)
	ExemptPrefix                // the client is in an exempt prefix
	ExemptCookie                // the client presented a valid server cookie
	verdicts
)

var verdictNames = [verdicts]string{"answered", "dropped", "slipped", "logged", "exempt_prefix", "exempt_cookie"}

func (v Verdict) String() string { return verdictNames[v] }

// key identifies an account.
type key struct {
	prefix netip.Prefix
	name   uint64 // Hash of the name the kind is keyed by (0 for errors)
	qtype  uint16
	kind   Kind
}

// account is one GCRA: tat is the theoretical arrival time of the next
// response on the limiter's clock (nanoseconds).
type account struct {
	tat        int64
	created    int64 // first response counted
	seen       int64 // last response counted
	limitedAt  int64 // last limited response (0: never)
	since      int64 // first limited response of the current episode
	limited    uint64
	slipped    uint64
	answered   uint64
	name       string // for the admin view
	slipCount  uint32
	loggedOnce bool
}

// shards spread the accounts over locks: readers of one listener run on
// every core.
const shards = 16

type shard struct {
	mu sync.Mutex
	m  map[key]*account
}

// Limiter counts one listener's responses. Safe for concurrent use.
type Limiter struct {
	cfg      Config
	logOnly  bool
	now      func() time.Time
	log      *zap.Logger
	exempt   []netip.Prefix
	interval [kinds]int64 // ns between responses; 0: unlimited
	burst    [kinds]int64 // tolerance: interval × (rate-1)
	window   int64
	perShard int
	sh       [shards]shard
	counts   *Counters
}

// Option adjusts a Limiter.
type Option func(*Limiter)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithLogger logs the start of each limited episode (BIND's "limit
// responses to …" line): one line per account and window, never per packet.
func WithLogger(log *zap.Logger) Option { return func(l *Limiter) { l.log = log } }

// WithCounters counts verdicts (metrics.go).
func WithCounters(c *Counters) Option { return func(l *Limiter) { l.counts = c } }

// New builds a limiter; cfg must have passed Validate.
func New(cfg Config, logOnly bool, opts ...Option) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ex, _ := parsePrefixes(cfg.Exempt)
	l := &Limiter{cfg: cfg, logOnly: logOnly, now: time.Now, log: zap.NewNop(), exempt: ex,
		window: int64(cfg.Window), perShard: max(1, cfg.MaxEntries/shards)}
	for k, rate := range [kinds]int{cfg.ResponsesPerSecond, cfg.ReferralsPerSecond, cfg.NXDomainsPerSecond, cfg.ErrorsPerSecond} {
		if rate > 0 {
			l.interval[k] = int64(time.Second) / int64(rate)
			l.burst[k] = l.interval[k] * int64(rate-1)
		}
	}
	for _, o := range opts {
		o(l)
	}
	for i := range l.sh {
		l.sh[i].m = make(map[key]*account)
	}
	return l, nil
}

// LogOnly reports whether the limiter only logs.
func (l *Limiter) LogOnly() bool { return l.logOnly }

// Config is the configuration in force.
func (l *Limiter) Config() Config { return l.cfg }

// Hash is the account key of a name: FNV-1a over its lower-case text
// form. Callers hash once and keep the result (packed answers do).
func Hash(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// Check counts one response of kind to client, keyed by name (its Hash
// in nameHash; the text is kept only for the admin view) and qtype, and
// says whether to send it. cookie is true when the query carried a valid
// server cookie of ours (RFC 7873): such a client is not spoofed and is
// never limited.
func (l *Limiter) Check(client netip.Addr, kind Kind, name string, nameHash uint64, qtype uint16, cookie bool) (Action, Verdict) {
	a, v := l.check(client, kind, name, nameHash, qtype, cookie)
	l.counts.add(kind, v)
	return a, v
}

func (l *Limiter) check(client netip.Addr, kind Kind, name string, nameHash uint64, qtype uint16, cookie bool) (Action, Verdict) {
	if kind >= kinds || l.interval[kind] == 0 {
		return Send, Answered
	}
	if cookie {
		return Send, ExemptCookie
	}
	client = client.Unmap()
	for _, p := range l.exempt {
		if p.Contains(client) {
			return Send, ExemptPrefix
		}
	}
	bits := l.cfg.IPv4PrefixLength
	if !client.Is4() {
		bits = l.cfg.IPv6PrefixLength
	}
	prefix, err := client.Prefix(bits)
	if err != nil {
		return Send, Answered // not an address: nothing to count
	}
	k := key{prefix: prefix, name: nameHash, qtype: qtype, kind: kind}
	if kind == Error {
		k.name, k.qtype, name = 0, 0, ""
	}
	now := l.now().UnixNano()
	s := &l.sh[(uint64(k.name)^uint64(bits)^prefixHash(prefix))%shards]
	s.mu.Lock()
	acc := s.m[k]
	if acc == nil {
		if len(s.m) >= l.perShard {
			l.evict(s, now)
		}
		acc = &account{tat: now, created: now, name: name}
		s.m[k] = acc
	}
	acc.seen = now
	tat := max(acc.tat, now)
	if tat-now <= l.burst[kind] {
		acc.tat = tat + l.interval[kind]
		acc.answered++
		s.mu.Unlock()
		return Send, Answered
	}
	// no credit
	if acc.limitedAt == 0 || now-acc.limitedAt > l.window {
		acc.since = now
		acc.loggedOnce = false
	}
	acc.limitedAt = now
	acc.limited++
	first := !acc.loggedOnce
	acc.loggedOnce = true
	act, v := Drop, Dropped
	if l.logOnly {
		act, v = Send, Logged
	} else if l.cfg.Slip > 0 {
		acc.slipCount++
		if acc.slipCount%uint32(l.cfg.Slip) == 0 {
			act, v = Slip, Slipped
			acc.slipped++
		}
	}
	s.mu.Unlock()
	if first {
		l.log.Info("limit responses", zap.String("prefix", prefix.String()), zap.Stringer("kind", kind),
			zap.String("name", name), zap.Uint16("qtype", qtype), zap.Bool("log_only", l.logOnly))
	}
	return act, v
}

// prefixHash mixes a prefix's address for the shard choice.
func prefixHash(p netip.Prefix) uint64 {
	b := p.Addr().As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// evict makes room in a full shard: accounts idle past the window go
// first; if none is, an eighth of the shard, the ones idle longest that a
// map walk meets first (BIND reuses its oldest entries the same way).
// s.mu is held.
func (l *Limiter) evict(s *shard, now int64) {
	for k, a := range s.m {
		if now-a.seen > l.window {
			delete(s.m, k)
		}
	}
	if len(s.m) < l.perShard {
		return
	}
	n := max(1, len(s.m)/8)
	var oldest int64 = 1<<63 - 1
	for _, a := range s.m {
		oldest = min(oldest, a.seen)
	}
	cut := oldest + (now-oldest)/2
	for k, a := range s.m {
		if n == 0 {
			break
		}
		if a.seen <= cut {
			delete(s.m, k)
			n--
		}
	}
	for k := range s.m { // every account seen within the last half: any eighth
		if n == 0 {
			break
		}
		delete(s.m, k)
		n--
	}
}

// Account is one account that was limited within the window.
type Account struct {
	Prefix   netip.Prefix `json:"prefix"`
	Kind     string       `json:"kind"`
	Name     string       `json:"name,omitempty"`
	QType    uint16       `json:"-"`
	Since    time.Time    `json:"since"`        // first limited reply of this episode
	Last     time.Time    `json:"last_limited"` // last limited reply
	First    time.Time    `json:"first_seen"`   // first reply counted in the account
	Seen     time.Time    `json:"last_seen"`    // last reply counted
	Limited  uint64       `json:"limited"`
	Slipped  uint64       `json:"slipped"`
	Answered uint64       `json:"answered"`
}

// Limited lists the accounts limited within the last window, and the
// number of accounts kept.
func (l *Limiter) Limited() (out []Account, accounts int) {
	now := l.now().UnixNano()
	for i := range l.sh {
		s := &l.sh[i]
		s.mu.Lock()
		accounts += len(s.m)
		for k, a := range s.m {
			if a.limitedAt == 0 || now-a.limitedAt > l.window {
				continue
			}
			out = append(out, Account{Prefix: k.prefix, Kind: k.kind.String(), Name: a.name, QType: k.qtype,
				Since: time.Unix(0, a.since), Last: time.Unix(0, a.limitedAt), First: time.Unix(0, a.created), Seen: time.Unix(0, a.seen),
				Limited: a.limited, Slipped: a.slipped, Answered: a.answered})
		}
		s.mu.Unlock()
	}
	return out, accounts
}
