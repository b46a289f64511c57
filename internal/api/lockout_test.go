package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"netsim/internal/cfgerr"
	"netsim/internal/testutil"
)

// call sends method /x from client with the Authorization value auth
// (none when empty) through h.
func call(h http.Handler, client, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("PATCH", "/x", nil)
	r.RemoteAddr = client
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestLockout: after failures bad tokens from one address, its bad
// tokens get 429 + Retry-After in the REST envelope; the valid token
// still passes from there; other addresses and token-less requests are
// unaffected; the lock ends after duration.
func TestLockout(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1e9, 0))
	cfg := LockoutConfig{Failures: 3, Window: time.Minute, Duration: 90 * time.Second, MaxClients: 16}
	lock := NewLockout(cfg, nil, clk.Now)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := AuthLockout("s3cret", lock, ok)
	bad, other := "192.0.2.7:4000", "192.0.2.8:4000"

	for i := range 3 {
		if w := call(h, bad, "Bearer guess"+fmt.Sprint(i)); w.Code != 401 {
			t.Fatalf("bad token %d: %d, want 401 (not locked yet)", i, w.Code)
		}
	}
	w := call(h, "192.0.2.7:5555", "Bearer guess9") // same address, another port
	if w.Code != 429 || w.Header().Get("Retry-After") != "90" {
		t.Fatalf("after 3 bad tokens: %d Retry-After %q, want 429 and 90 (%s)", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	var env struct {
		Error Error `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Code != "too_many_bad_tokens" || env.Error.Context["retry_after_seconds"] != float64(90) {
		t.Fatalf("429 body %s (%v), want the error envelope with code too_many_bad_tokens", w.Body, err)
	}
	if w := call(h, bad, "Bearer s3cret"); w.Code != 204 {
		t.Fatalf("valid token from a locked-out address: %d, want 204", w.Code)
	}
	if w := call(h, bad, ""); w.Code != 401 {
		t.Fatalf("no token from a locked-out address: %d, want 401 (not a guess)", w.Code)
	}
	if w := call(h, other, "Bearer guess"); w.Code != 401 {
		t.Fatalf("bad token from another address: %d, want 401", w.Code)
	}
	clk.Advance(60 * time.Second)
	if w := call(h, bad, "Bearer guess"); w.Code != 429 || w.Header().Get("Retry-After") != "30" {
		t.Fatalf("60 s into the lock: %d Retry-After %q, want 429 and 30", w.Code, w.Header().Get("Retry-After"))
	}
	clk.Advance(30 * time.Second)
	if w := call(h, bad, "Bearer guess"); w.Code != 401 {
		t.Fatalf("after the lock: %d, want 401 again", w.Code)
	}
}

// TestLockoutWindow: failures spread wider than the window never lock.
func TestLockoutWindow(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1e9, 0))
	h := AuthLockout("s3cret", NewLockout(LockoutConfig{Failures: 3, Window: time.Minute, Duration: time.Minute, MaxClients: 4}, nil, clk.Now),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for i := range 10 {
		if w := call(h, "192.0.2.7:1", "Bearer no"); w.Code != 401 {
			t.Fatalf("failure %d, 40 s apart: %d, want 401", i, w.Code)
		}
		clk.Advance(40 * time.Second)
	}
}

// TestLockoutBounded: a spray of bad tokens from many addresses keeps the
// table at max_clients.
func TestLockoutBounded(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1e9, 0))
	lock := NewLockout(LockoutConfig{Failures: 2, Window: time.Minute, Duration: time.Minute, MaxClients: 8}, nil, clk.Now)
	h := AuthLockout("s3cret", lock, http.NotFoundHandler())
	for i := range 1000 {
		call(h, fmt.Sprintf("[2001:db8::%x]:1", i), "Bearer no")
		if n := lock.Len(); n > 8 {
			t.Fatalf("after %d addresses the table holds %d, want at most 8", i+1, n)
		}
	}
	if lock.Len() != 8 {
		t.Fatalf("table holds %d, want 8", lock.Len())
	}
}

func TestLockoutOffAndConfig(t *testing.T) {
	if NewLockout(LockoutConfig{}, nil, nil) != nil {
		t.Fatal("failures 0 must turn the lock-out off")
	}
	h := AuthLockout("s3cret", nil, http.NotFoundHandler())
	for range 50 {
		if w := call(h, "192.0.2.7:1", "Bearer no"); w.Code != 401 {
			t.Fatalf("with the lock-out off: %d, want 401", w.Code)
		}
	}
	var errs cfgerr.List
	DefaultLockout().Validate("admin.lockout", &errs)
	if errs.Err() != nil {
		t.Fatalf("default: %v", errs.Err())
	}
	LockoutConfig{Failures: 5, Window: -1, MaxClients: 0}.Validate("admin.lockout", &errs)
	if got := len(cfgerr.All(errs.Err())); got != 3 {
		t.Fatalf("window, duration and max_clients are wrong; got %d errors: %v", got, errs.Err())
	}
}
