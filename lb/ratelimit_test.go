package lb

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func testLimiter(requests int, per time.Duration, burst, maxKeys int) *limiter {
	c := RateLimitConfig{Requests: requests, Per: per, Burst: burst, MaxKeys: maxKeys}
	(&RouteConfig{RateLimit: &c}).applyDefaults()
	return newLimiter("api", c)
}

func ipKey(s string) limitKey {
	return limitKey{prefix: netip.PrefixFrom(netip.MustParseAddr(s), 32)}
}

// TestRateLimitFields: the header arithmetic of a 10/s bucket of 20,
// on an injected clock.
func TestRateLimitFields(t *testing.T) {
	l := testLimiter(10, time.Second, 20, 100)
	t0 := time.Unix(1_700_000_000, 0)
	k := ipKey("192.0.2.1")
	for i := range 20 {
		r := l.take(k, t0)
		if !r.allowed || r.remaining != 19-i {
			t.Fatalf("request %d: allowed %v remaining %d, want true %d", i+1, r.allowed, r.remaining, 19-i)
		}
	}
	r := l.take(k, t0)
	h := http.Header{}
	r.fields(headerSink(h), "api")
	want := map[string]string{
		"X-RateLimit-Limit":     "20",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     strconv.FormatInt(t0.Unix()+2, 10), // 20 tokens at 10/s
		"RateLimit-Policy":      `"api";q=20;w=2`,
		"RateLimit":             `"api";r=0;t=2`,
		"Retry-After":           "1", // one token in 100ms, rounded up
	}
	if r.allowed {
		t.Fatal("21st request at once was allowed")
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v { // the names as the seed spells them
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	// 250ms later: 2.5 tokens back, one spent now; 18.5 to refill take
	// 1.85 s, so Reset is t0+2.1 s rounded up.
	t1 := t0.Add(250 * time.Millisecond)
	r = l.take(k, t1)
	h = http.Header{}
	r.fields(headerSink(h), "api")
	if !r.allowed || r.remaining != 1 || h[want0("X-RateLimit-Reset")][0] != strconv.FormatInt(t0.Unix()+3, 10) || h.Get("Retry-After") != "" {
		t.Fatalf("after 250ms: allowed %v, fields %v", r.allowed, h)
	}
	// Another client has its own bucket.
	if r := l.take(ipKey("192.0.2.2"), t1); !r.allowed || r.remaining != 19 {
		t.Fatalf("second client: %+v", r)
	}
}

// TestRateLimitTwiceTheRate: at 2× the configured rate for 10 s, the
// number allowed is rate × 10 s + burst (±5 %; exact here, on an
// injected clock).
// want0 is a field name as lbd writes it (not canonical, on purpose).
func want0(name string) string { return name }

func TestRateLimitTwiceTheRate(t *testing.T) {
	for _, c := range []struct{ rate, burst int }{{10, 5}, {50, 20}, {100, 100}} {
		l := testLimiter(c.rate, time.Second, c.burst, 10)
		now := time.Unix(1_700_000_000, 0)
		k := ipKey("198.51.100.7")
		step := time.Second / time.Duration(2*c.rate)
		allowed := 0
		for range 2 * c.rate * 10 {
			if l.take(k, now).allowed {
				allowed++
			}
			now = now.Add(step)
		}
		want := c.rate*10 + c.burst
		if d := allowed - want; d < -want/20 || d > want/20 {
			t.Errorf("rate %d burst %d: %d allowed in 10 s at twice the rate, want %d ±5%%", c.rate, c.burst, allowed, want)
		}
		t.Logf("rate %d/s burst %d, %d requests in 10 s: %d allowed (rate×10+burst = %d)", c.rate, c.burst, 2*c.rate*10, allowed, want)
	}
}

// TestRateLimitKeyTable: the table never holds more than max_keys; idle
// full buckets go first, and a forced eviction is counted.
func TestRateLimitKeyTable(t *testing.T) {
	l := testLimiter(1, time.Second, 2, 3)
	now := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		l.take(ipKey("203.0.113."+strconv.Itoa(i)), now)
		if n := l.size(); n > 3 {
			t.Fatalf("after %d keys the table holds %d, max_keys 3", i+1, n)
		}
	}
	if l.evicted.Load() != 7 {
		t.Fatalf("evicted %d, want 7", l.evicted.Load())
	}
	// 2 s later every bucket is full again: sweeping drops them all
	// without an eviction.
	now = now.Add(2 * time.Second)
	l.take(ipKey("203.0.113.200"), now)
	if n, ev := l.size(), l.evicted.Load(); n != 1 || ev != 7 {
		t.Fatalf("after the idle time: %d keys, %d evicted; want 1, 7", n, ev)
	}
}

// TestRateLimitSet: numbers changed through the API apply to the
// buckets that exist.
func TestRateLimitSet(t *testing.T) {
	l := testLimiter(1, time.Second, 1, 10)
	now := time.Unix(1_700_000_000, 0)
	k := ipKey("192.0.2.9")
	l.take(k, now)
	if l.take(k, now).allowed {
		t.Fatal("second request with burst 1 allowed")
	}
	l.set(100, time.Second, 100, now)
	now = now.Add(100 * time.Millisecond) // 10 tokens at 100/s
	if r := l.take(k, now); !r.allowed || r.p.burst != 100 {
		t.Fatalf("after set: %+v", r)
	}
}

func TestLimitKey(t *testing.T) {
	cases := []struct {
		key  string
		hdr  fields
		ip   string
		want string
	}{
		{"ip", nil, "192.0.2.77", "192.0.2.0/24"},
		{"ip", nil, "2001:db8::1:2", "2001:db8::/64"},
		{"header:X-API-Key", fields{"X-Api-Key": "k1"}, "192.0.2.1", "k1"},
		{"header:X-API-Key", nil, "192.0.2.1", "192.0.2.0/24"},
	}
	for _, c := range cases {
		cfg := RateLimitConfig{Requests: 1, Key: c.key, IPv4Prefix: 24}
		(&RouteConfig{RateLimit: &cfg}).applyDefaults()
		l := newLimiter("r", cfg)
		rf := &fakeReq{fields: c.hdr, addr: netip.MustParseAddr(c.ip)}
		k := l.key(rf)
		got := k.value
		if got == "" {
			got = k.prefix.String()
		}
		if got != c.want {
			t.Errorf("key %s for %s %v: %q, want %q", c.key, c.ip, c.hdr, got, c.want)
		}
	}
}

// fakeReq is reqFields over a map and an address.
type fakeReq struct {
	fields
	addr netip.Addr
}

func (f *fakeReq) header(name string) string {
	v, _ := f.field(http.CanonicalHeaderKey(name))
	return string(v)
}
func (f *fakeReq) cookie(string) (string, bool) { return "", false }
func (f *fakeReq) clientAddr() netip.Addr       { return f.addr }
