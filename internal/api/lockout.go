package api

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"netsim/internal/cfgerr"
)

// LockoutConfig is admin.lockout of dnsd and lbd: after Failures bad
// tokens from one client address within Window, that address's requests
// with a bad token get 429 and Retry-After for Duration. Requests with no
// token still get 401 and are not counted (they guess nothing); a request
// with the valid token always passes, even from a locked-out address.
// MaxClients bounds the table of addresses with recent failures; when it
// is full, expired entries go first, then the one whose last failure is
// oldest. Addresses are counted one by one (an IPv6 /64 is many).
type LockoutConfig struct {
	Failures   int           `mapstructure:"failures"`    // [10]; 0 turns the lock-out off
	Window     time.Duration `mapstructure:"window"`      // [1m]
	Duration   time.Duration `mapstructure:"duration"`    // [5m]
	MaxClients int           `mapstructure:"max_clients"` // [4096]
}

// DefaultLockout is the lock-out both daemons start from.
func DefaultLockout() LockoutConfig {
	return LockoutConfig{Failures: 10, Window: time.Minute, Duration: 5 * time.Minute, MaxClients: 4096}
}

// Validate adds what is wrong to errs under prefix ("admin.lockout").
func (c LockoutConfig) Validate(prefix string, errs *cfgerr.List) {
	if c.Failures < 0 {
		errs.Add(prefix+".failures", c.Failures, "want 0 (off) or more bad tokens")
	}
	if c.Failures == 0 {
		return
	}
	if c.Window <= 0 {
		errs.Add(prefix+".window", c.Window, "want a positive duration such as 1m")
	}
	if c.Duration <= 0 {
		errs.Add(prefix+".duration", c.Duration, "want a positive duration such as 5m")
	}
	if c.MaxClients <= 0 {
		errs.Add(prefix+".max_clients", c.MaxClients, "want 1 or more addresses")
	}
}

// Lockout counts bad tokens per client address. A nil *Lockout locks
// nobody out. It is safe for concurrent use.
type Lockout struct {
	cfg LockoutConfig
	log *zap.Logger
	now func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*badTokens
}

// badTokens is one address's recent failures.
type badTokens struct {
	first  time.Time // start of the current window
	n      int       // failures in it
	until  time.Time // locked out until then (zero: not locked)
	latest time.Time // last failure, for eviction
}

// NewLockout returns the lock-out cfg asks for, or nil when it is off.
// now may be nil (time.Now); log may be nil.
func NewLockout(cfg LockoutConfig, log *zap.Logger, now func() time.Time) *Lockout {
	if cfg.Failures <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Lockout{cfg: cfg, log: log, now: now, clients: map[netip.Addr]*badTokens{}}
}

// retryAfter reports how long a locked-out client must wait; 0: not locked.
func (l *Lockout) retryAfter(a netip.Addr) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[a]
	if b == nil {
		return 0
	}
	return b.until.Sub(l.now())
}

// fail records a bad token from a and reports whether it locked a out.
func (l *Lockout) fail(a netip.Addr) bool {
	if l == nil {
		return false
	}
	now := l.now()
	l.mu.Lock()
	b := l.clients[a]
	if b == nil {
		if len(l.clients) >= l.cfg.MaxClients {
			l.evict(now)
		}
		b = &badTokens{first: now}
		l.clients[a] = b
	}
	if now.Sub(b.first) >= l.cfg.Window {
		b.first, b.n = now, 0
	}
	b.n++
	b.latest = now
	locked := b.n >= l.cfg.Failures && !b.until.After(now)
	if locked {
		b.until = now.Add(l.cfg.Duration)
		b.first, b.n = b.until, 0 // a new window starts when the lock ends
	}
	l.mu.Unlock()
	if locked {
		l.log.Warn("admin API: too many bad tokens; client locked out",
			zap.Stringer("client", a), zap.Int("failures", l.cfg.Failures),
			zap.Duration("window", l.cfg.Window), zap.Duration("for", l.cfg.Duration))
	}
	return locked
}

// evict makes room for one address: entries neither locked nor inside
// their window go first; when none has expired, the one whose last
// failure is oldest. Called with mu held, on the bad-token path only.
func (l *Lockout) evict(now time.Time) {
	var oldest netip.Addr
	var at time.Time
	found := false
	for a, b := range l.clients {
		if !b.until.After(now) && now.Sub(b.first) >= l.cfg.Window {
			delete(l.clients, a)
			continue
		}
		if !found || b.latest.Before(at) {
			oldest, at, found = a, b.latest, true
		}
	}
	if len(l.clients) >= l.cfg.MaxClients && found {
		delete(l.clients, oldest)
	}
}

// Len is the number of addresses in the table.
func (l *Lockout) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// tooMany writes the 429 of a locked-out client.
func tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteError(w, r, Errorf(http.StatusTooManyRequests, "too_many_bad_tokens",
		"too many requests with a bad bearer token from this address: retry after %d s with the right token (a valid token is always accepted)", secs).
		With("retry_after_seconds", secs))
}

// clientAddr is the request's remote address without the port; the zero
// Addr when it has none (an in-process call), which is still counted.
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}
