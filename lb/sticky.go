package lb

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"netsim/internal/cfgerr"
)

// minSecret is the shortest sticky secret accepted, in bytes.
const minSecret = 16

// stickyKey is the HMAC key of a pool's cookies: sticky.secret, else the
// contents of sticky.secret_file (surrounding white space trimmed; read at
// start and on every reload, so rotating it is editing the file and
// sending SIGHUP), else fallback, the process's own random key. Instances
// given the same secret honour each other's cookies: a cookie carries
// everything needed to check it, and no instance keeps state about it.
func stickyKey(sc StickyConfig, fallback []byte) ([]byte, error) {
	switch {
	case sc.Secret != "":
		return []byte(sc.Secret), nil
	case sc.SecretFile == "":
		return fallback, nil
	}
	b, err := os.ReadFile(sc.SecretFile)
	if err != nil {
		return nil, cfgerr.New("sticky.secret_file", sc.SecretFile, "cannot be read: %v (want a file holding the shared HMAC key)", err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < minSecret {
		return nil, cfgerr.New("sticky.secret_file", sc.SecretFile, "holds %d bytes, want at least %d", len(b), minSecret)
	}
	return b, nil
}

func parseSameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("must be lax, strict or none")
}

// cookieSigner makes and checks sticky cookies. The value names the backend
// and carries an expiry, both covered by an HMAC-SHA256 keyed with a secret
// the client never sees, so a client can keep its backend but cannot pick
// one: "<backend id>.<expiry unix or 0>.<mac>".
type cookieSigner struct {
	pool     string
	name     string
	key      []byte
	ttl      time.Duration
	sameSite http.SameSite
}

const macLen = 16 // bytes of HMAC kept: 128 bits

func (c *cookieSigner) mac(id string, exp int64) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(c.pool))
	m.Write([]byte{0})
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:macLen])
}

// value returns the cookie value for backend id, issued at now.
func (c *cookieSigner) value(id string, now time.Time) string {
	var exp int64
	if c.ttl > 0 {
		exp = now.Add(c.ttl).Unix()
	}
	return id + "." + strconv.FormatInt(exp, 10) + "." + c.mac(id, exp)
}

// parse checks a cookie value and returns the backend id, and whether the
// cookie should be re-issued (past half its lifetime). ok is false for a
// forged, malformed or expired cookie.
func (c *cookieSigner) parse(v string, now time.Time) (id string, refresh, ok bool) {
	i := strings.LastIndexByte(v, '.')
	if i <= 0 {
		return "", false, false
	}
	sig := v[i+1:]
	rest := v[:i]
	j := strings.LastIndexByte(rest, '.')
	if j <= 0 {
		return "", false, false
	}
	id = rest[:j]
	exp, err := strconv.ParseInt(rest[j+1:], 10, 64)
	if err != nil || exp < 0 {
		return "", false, false
	}
	if !hmac.Equal([]byte(sig), []byte(c.mac(id, exp))) {
		return "", false, false
	}
	if exp != 0 {
		left := time.Unix(exp, 0).Sub(now)
		if left <= 0 {
			return "", false, false
		}
		refresh = left < c.ttl/2
	}
	if exp == 0 && c.ttl > 0 {
		refresh = true // config changed from session cookies to a TTL
	}
	return id, refresh, true
}

// cookie is the Set-Cookie for backend id.
func (c *cookieSigner) cookie(id string, now time.Time, secure bool) *http.Cookie {
	ck := &http.Cookie{
		Name:     c.name,
		Value:    c.value(id, now),
		Path:     "/",
		HttpOnly: true,
		Secure:   secure || c.sameSite == http.SameSiteNoneMode,
		SameSite: c.sameSite,
	}
	if c.ttl > 0 {
		ck.MaxAge = int(c.ttl / time.Second)
	}
	return ck
}

// stickTable maps client addresses to backend ids for source-IP affinity,
// with an idle expiry and a bounded size (HAProxy's "stick on src").
type stickTable struct {
	ttl time.Duration
	max atomic.Int64 // a reload changes it while requests run

	mu sync.RWMutex
	m  map[netip.Addr]stickEntry
}

type stickEntry struct {
	id      string
	expires int64 // unix nanos
}

func newStickTable(ttl time.Duration, max int) *stickTable {
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	t := &stickTable{ttl: ttl, m: map[netip.Addr]stickEntry{}}
	t.setMax(max)
	return t
}

// setMax changes the size limit (a reload keeping the table).
func (t *stickTable) setMax(n int) { t.max.Store(int64(n)) }

func (t *stickTable) get(a netip.Addr, now time.Time) (string, bool) {
	t.mu.RLock()
	e, ok := t.m[a]
	t.mu.RUnlock()
	if !ok || e.expires < now.UnixNano() {
		return "", false
	}
	return e.id, true
}

// put records that a is served by id. It writes only when the entry is
// new, different or past half its lifetime, so steady traffic mostly reads.
func (t *stickTable) put(a netip.Addr, id string, now time.Time) {
	n := now.UnixNano()
	t.mu.RLock()
	e, ok := t.m[a]
	t.mu.RUnlock()
	if ok && e.id == id && e.expires-n > int64(t.ttl/2) {
		return
	}
	t.mu.Lock()
	if int64(len(t.m)) >= t.max.Load() {
		t.evict(n)
	}
	t.m[a] = stickEntry{id: id, expires: n + int64(t.ttl)}
	t.mu.Unlock()
}

// evict drops expired entries, then (if still full) about half the rest;
// called with mu held.
func (t *stickTable) evict(now int64) {
	for k, e := range t.m {
		if e.expires < now {
			delete(t.m, k)
		}
	}
	if int64(len(t.m)) < t.max.Load() {
		return
	}
	i := 0
	for k := range t.m { // map order is random
		if i%2 == 0 {
			delete(t.m, k)
		}
		i++
	}
}

func (t *stickTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}
