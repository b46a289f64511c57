package lb

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"netsim/internal/cfgerr"
)

// instance starts another lbd on cfg (fresh listeners on 127.0.0.1:0, its
// own registry and random process key) and waits until every backend of
// pool web is up in it. It returns the frontend's base URL.
func instance(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Frontends = slices.Clone(cfg.Frontends)
	cfg.Frontends[0].Listen = "127.0.0.1:0"
	srv := newServer(t, cfg)
	run(t, srv)
	waitBackends(t, srv, "up")
	return "http://" + srv.Addr("http").String()
}

// TestStickyCookieAcrossInstances: two lbd instances that share nothing but
// sticky.secret_file. A cookie minted by A for each backend is honoured by
// B: every request to B carrying it goes to that backend, and B does not
// re-issue it. Without the shared key B rejects the cookie and balances
// the requests round robin over three backends.
func TestStickyCookieAcrossInstances(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "sticky.key")
	if err := os.WriteFile(keyFile, []byte("a shared key of more than sixteen bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newHarness(t, 3, func(c *Config) {
		c.Pools[0].Sticky = StickyConfig{Mode: "cookie", Cookie: "lb_web", TTL: time.Hour, SameSite: "lax", SecretFile: keyFile, MaxTable: 100}
	})
	b := instance(t, a.cfg)
	c := clientFrom("127.0.0.1")

	minted := map[string]string{} // backend id → cookie value minted by A
	for i := 0; i < 30 && len(minted) < 3; i++ {
		id, cks := getID(t, c, a.base)
		for _, ck := range cks {
			if ck.Name == "lb_web" {
				minted[id] = ck.Value
			}
		}
	}
	if len(minted) != 3 {
		t.Fatalf("A minted cookies for %d backends, want 3: %v", len(minted), minted)
	}
	for want, v := range minted {
		for i := range 6 {
			got, cks := getID(t, c, b, "Cookie", "lb_web="+v)
			if got != want {
				t.Fatalf("request %d to B with A's cookie for %s went to %s", i, want, got)
			}
			if len(cks) != 0 {
				t.Fatalf("B re-issued A's cookie for %s: %v (it did not accept it)", want, cks)
			}
		}
	}
}

// TestHashAcrossInstances: header_hash and source_ip_hash pick the same
// backend for a key on two instances, even when the second lists the
// backends in another order (rendezvous hashing over the backends' ids,
// seeded by nothing of the process).
func TestHashAcrossInstances(t *testing.T) {
	hashPolicies(t, func(t *testing.T, pol string, hashed func(*Config)) {
		a := newHarness(t, 4, hashed)
		cfg := a.cfg
		cfg.Pools = slices.Clone(cfg.Pools)
		cfg.Pools[0].Backends = slices.Clone(cfg.Pools[0].Backends)
		slices.Reverse(cfg.Pools[0].Backends)
		b := instance(t, cfg)
		seen := map[string]bool{}
		for i := range 40 {
			c, user := clientFrom("127.0.0.1"), fmt.Sprint("user-", i)
			if pol == "source_ip_hash" {
				c, user = clientFrom(fmt.Sprintf("127.0.%d.%d", 1+i/200, 2+i%200)), ""
			}
			onA, _ := getID(t, c, a.base, "X-User", user)
			onB, _ := getID(t, c, b, "X-User", user)
			if onA != onB {
				t.Fatalf("key %d: A picked %s, B picked %s", i, onA, onB)
			}
			seen[onA] = true
		}
		if len(seen) < 3 {
			t.Fatalf("40 keys went to %d backends (%v): the test does not exercise the hash", len(seen), seen)
		}
	})
}

func TestStickySecretFile(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	good := filepath.Join(dir, "good")
	_ = os.WriteFile(short, []byte("tiny\n"), 0o600)
	_ = os.WriteFile(good, []byte("  0123456789abcdef0123\n"), 0o600)
	fallback := []byte("process key")
	tests := []struct {
		name    string
		sc      StickyConfig
		want    string
		wantErr string
	}{
		{"no key configured: the process's", StickyConfig{}, "process key", ""},
		{"secret", StickyConfig{Secret: "0123456789abcdef"}, "0123456789abcdef", ""},
		{"file, trimmed", StickyConfig{SecretFile: good}, "0123456789abcdef0123", ""},
		{"missing file", StickyConfig{SecretFile: filepath.Join(dir, "none")}, "", "cannot be read"},
		{"short file", StickyConfig{SecretFile: short}, "", "holds 4 bytes, want at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := stickyKey(tt.sc, fallback)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || len(cfgerr.All(err)) != 1 || cfgerr.All(err)[0].Key != "sticky.secret_file" {
					t.Fatalf("err = %v, want sticky.secret_file: …%s…", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(k) != tt.want {
				t.Fatalf("key = %q, %v; want %q", k, err, tt.want)
			}
		})
	}
}

// TestStickySecretFileReload rotates the key the way an operator would:
// write the file, reload. A cookie minted under the old key is then
// refused (the request is balanced and gets a new cookie); one minted
// under the new key is honoured.
func TestStickySecretFileReload(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "sticky.key")
	write := func(k string) {
		if err := os.WriteFile(keyFile, []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("the first key, long enough")
	h := newHarness(t, 3, func(c *Config) {
		c.Pools[0].Sticky = StickyConfig{Mode: "cookie", Cookie: "lb_web", TTL: time.Hour, SameSite: "lax", SecretFile: keyFile, MaxTable: 100}
	})
	c := clientFrom("127.0.0.1")
	_, cks := getID(t, c, h.base)
	if len(cks) != 1 {
		t.Fatalf("first request: cookies %v, want one", cks)
	}
	old := cks[0].Value
	if _, again := getID(t, c, h.base, "Cookie", "lb_web="+old); len(again) != 0 {
		t.Fatalf("the cookie was not honoured before the rotation: re-issued %v", again)
	}
	write("the second key, long enough")
	if err := h.srv.Reload(h.cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	_, again := getID(t, c, h.base, "Cookie", "lb_web="+old)
	if len(again) != 1 || again[0].Value == old {
		t.Fatalf("after the rotation the old cookie was honoured (Set-Cookie %v)", again)
	}
	if _, third := getID(t, c, h.base, "Cookie", "lb_web="+again[0].Value); len(third) != 0 {
		t.Fatalf("the cookie minted under the new key was not honoured: re-issued %v", third)
	}

	write("short")
	if err := h.srv.Reload(h.cfg); err == nil || !strings.Contains(err.Error(), "sticky.secret_file") {
		t.Fatalf("reload with a 5-byte key: err %v, want a sticky.secret_file error", err)
	}
}

func TestStickyOneKeySource(t *testing.T) {
	_, err := ParseConfig([]byte("pools: [{name: web, sticky: {mode: cookie, secret: 0123456789abcdef, secret_file: k}}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]"))
	if err == nil || !strings.Contains(err.Error(), "pools[0].sticky.secret_file") || !strings.Contains(err.Error(), "one key source") {
		t.Fatalf("secret and secret_file both set: err %v, want pools[0].sticky.secret_file … one key source", err)
	}
}
