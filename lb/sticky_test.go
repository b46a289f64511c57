package lb

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func signer(ttl time.Duration) *cookieSigner {
	return &cookieSigner{pool: "web", name: "lb_web", key: []byte("0123456789abcdef0123456789abcdef"), ttl: ttl, sameSite: http.SameSiteLaxMode}
}

func TestCookieSigner(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := signer(time.Hour)
	good := s.value("b2", now)
	other := &cookieSigner{pool: "api", name: "x", key: s.key, ttl: time.Hour}
	tests := []struct {
		name    string
		value   string
		at      time.Time
		id      string
		refresh bool
		ok      bool
	}{
		{"valid", good, now, "b2", false, true},
		{"past half life", good, now.Add(40 * time.Minute), "b2", true, true},
		{"expired", good, now.Add(61 * time.Minute), "", false, false},
		{"other backend, same mac", "b1" + strings.TrimPrefix(good, "b2"), now, "", false, false},
		{"extended expiry", strings.Replace(good, fmt.Sprint(now.Add(time.Hour).Unix()), fmt.Sprint(now.Add(48*time.Hour).Unix()), 1), now, "", false, false},
		{"other pool's cookie", other.value("b2", now), now, "", false, false},
		{"id with dots", s.value("b.2.x", now), now, "b.2.x", false, true},
		{"empty", "", now, "", false, false},
		{"no dots", "b2", now, "", false, false},
		{"garbage", "..", now, "", false, false},
		{"negative expiry", "b2.-5." + s.mac("b2", -5), now, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, refresh, ok := s.parse(tt.value, tt.at)
			if id != tt.id || refresh != tt.refresh || ok != tt.ok {
				t.Fatalf("parse(%q) = %q %v %v, want %q %v %v", tt.value, id, refresh, ok, tt.id, tt.refresh, tt.ok)
			}
		})
	}
	session := signer(0)
	if id, _, ok := session.parse(session.value("b1", now), now.Add(1000*time.Hour)); !ok || id != "b1" {
		t.Fatal("session cookie (ttl 0) should not expire")
	}
	ck := s.cookie("b1", now, true)
	if !ck.Secure || !ck.HttpOnly || ck.MaxAge != 3600 || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie attributes %+v", ck)
	}
}

func FuzzCookieParse(f *testing.F) {
	s := signer(time.Hour)
	now := time.Unix(1_700_000_000, 0)
	for _, v := range []string{s.value("b1", now), "b1.0.x", "", "..", "a.b.c.d"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id, _, ok := s.parse(v, now)
		if ok && s.value(id, time.Time{}) == "" {
			t.Fatal("unreachable")
		}
		if ok && !strings.HasPrefix(v, id+".") {
			t.Fatalf("accepted %q naming %q", v, id)
		}
	})
}

func TestStickTable(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := newStickTable(time.Minute, 4)
	a := netip.MustParseAddr("10.0.0.1")
	tb.put(a, "b1", now)
	if id, ok := tb.get(a, now.Add(30*time.Second)); !ok || id != "b1" {
		t.Fatal("entry lost")
	}
	if _, ok := tb.get(a, now.Add(2*time.Minute)); ok {
		t.Fatal("expired entry returned")
	}
	for i := range 10 {
		tb.put(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), "b2", now)
	}
	if n := tb.len(); n > 4 {
		t.Fatalf("table grew to %d, max 4", n)
	}
}

func TestStripCookie(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"lb_web=b1.0.x"}, nil},
		{[]string{"a=1; lb_web=b1.0.x; b=2"}, []string{"a=1; b=2"}},
		{[]string{"lb_webx=1; a=2"}, []string{"lb_webx=1; a=2"}},
		{[]string{"a=1", "lb_web=z"}, []string{"a=1"}},
		{[]string{"a=lb_web"}, []string{"a=lb_web"}},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": tt.in}
		stripCookie(h, "lb_web")
		if fmt.Sprint(h["Cookie"]) != fmt.Sprint(tt.want) {
			t.Errorf("stripCookie(%q) = %q, want %q", tt.in, h["Cookie"], tt.want)
		}
	}
}
