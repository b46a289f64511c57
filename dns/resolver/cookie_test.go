package resolver

import (
	"context"
	"encoding/hex"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/miekg/dns"
)

// The resolver sends DNS cookies upstream as BIND does: its own client
// cookie for each server on every query, and from the second query on the
// server cookie that server gave (dnsd's, which its rate limiting exempts);
// a BADCOOKIE reply is asked again once with the new server cookie.
func TestCookiesUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := faultMemWorld(t)
		var mu sync.Mutex
		seen := map[string][]string{} // by question name: the cookies sent, hex
		badOnce := true
		badHook(w, func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			mu.Lock()
			defer mu.Unlock()
			c := ""
			if opt := req.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if k, ok := o.(*dns.EDNS0_COOKIE); ok {
						c = k.Cookie
					}
				}
			}
			name := req.Question[0].Name
			seen[name] = append(seen[name], c)
			if name == "bad-cookie.bad.test." && badOnce && len(c) >= 16 {
				badOnce = false
				m := new(dns.Msg)
				m.SetRcode(req, dns.RcodeBadCookie)
				m.SetEdns0(1232, false)
				m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c[:16] + "0100000012345678abcdefabcdefabcd"}}
				return m, false
			}
			return nil, false // the zones answer, with dnsd's cookie
		})
		r := newMemResolver(t, w, "127.0.101.1", nil)
		for _, name := range []string{"www.bad.test", "other.bad.test", "third.bad.test"} {
			if m := r.Answer(context.Background(), query(name, dns.TypeA), loopback); m.Rcode == dns.RcodeServerFailure {
				t.Fatalf("%s: SERVFAIL", name)
			}
		}
		mu.Lock()
		var all []string
		for _, name := range []string{"www.bad.test.", "other.bad.test.", "third.bad.test."} {
			all = append(all, seen[name]...)
		}
		mu.Unlock()
		if len(all) < 3 {
			t.Fatalf("bad.test.'s servers saw %d queries, want 3", len(all))
		}
		// two servers: each one's first query has the client cookie alone
		// (8 bytes), later ones also the server cookie dnsd gave (8+16)
		full := 0
		for i, c := range all {
			raw, err := hex.DecodeString(c)
			if err != nil || (len(raw) != 8 && len(raw) != 24) {
				t.Fatalf("query %d carried cookie %q, want 8 or 24 bytes", i, c)
			}
			if len(raw) == 24 {
				full++
			}
		}
		if full < len(all)-2 {
			t.Errorf("%d of %d queries carried a server cookie, want all but each server's first: %v", full, len(all), all)
		}
		// BADCOOKIE: asked again at once with the cookie it gave
		if m := r.Answer(context.Background(), query("bad-cookie.bad.test", dns.TypeA), loopback); m.Rcode != dns.RcodeNameError {
			t.Fatalf("after BADCOOKIE: %s, want the zone's NXDOMAIN", dns.RcodeToString[m.Rcode])
		}
		mu.Lock()
		defer mu.Unlock()
		got := seen["bad-cookie.bad.test."]
		if len(got) < 2 || len(got[1]) != 2*(8+16) || got[1][16:] != "0100000012345678abcdefabcdefabcd" {
			t.Errorf("after BADCOOKIE the queries carried %v, want the second with the server cookie given", got)
		}
	})
}
