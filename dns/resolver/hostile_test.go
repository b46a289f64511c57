package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/ede"
	"netsim/internal/testutil"
)

// A hostile authority: evil.test.'s server (and, where a case says so,
// the TLD's) misbehaves on purpose to plant records about victim.test.
// Every forged address is in 198.51.100.0/24 and every forged name holds
// "poison", so a clean cache is one where no entry mentions either.

const (
	victimNS = "127.0.102.3"
	evilNS   = "127.0.102.4"
	tldNS    = "127.0.102.2"
)

var hostileSpec = map[string]map[string]string{
	"127.0.102.1": {".": rootZone("127.0.102.1", tldNS)},
	tldNS: {"test.": tldZone(tldNS, `victim IN NS ns.victim
ns.victim IN A 127.0.102.3
evil IN NS ns.evil
ns.evil IN A 127.0.102.4
`)},
	victimNS: {"victim.test.": leafZone("victim.test.", "ns", `ns IN A 127.0.102.3
www IN A 192.0.2.10
mail IN A 192.0.2.11
`)},
	evilNS: {"evil.test.": leafZone("evil.test.", "ns", `ns IN A 127.0.102.4
www IN A 192.0.2.20
`)},
}

// truth is what victim.test. really holds.
var truth = map[string]string{"www.victim.test.": "192.0.2.10", "mail.victim.test.": "192.0.2.11", "ns.victim.test.": "127.0.102.3"}

func hostileResolver(t *testing.T, mod func(*Config), opts ...Option) (*world, *Resolver) {
	t.Helper()
	w := memWorld(t, hostileSpec)
	r := newMemResolver(t, w, "127.0.102.1", func(c *Config) {
		c.Timeout = time.Second
		c.UpstreamTimeout = 150 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	}, opts...)
	return w, r
}

// assertClean checks every cache entry, through the cache API, for the
// marks of a forgery, and that what is cached about victim.test. is true.
func assertClean(t *testing.T, r *Resolver) {
	t.Helper()
	for _, h := range r.Cache().Entries(nil) {
		for _, sec := range [][]dns.RR{h.Msg.Answer, h.Msg.Ns, h.Msg.Extra} {
			for _, rr := range sec {
				if s := rr.String(); strings.Contains(s, "198.51.100.") || strings.Contains(s, "poison") {
					t.Errorf("cache entry %s holds forged %s", h.Key, s)
				}
			}
		}
	}
	for name, addr := range truth {
		h, ok := r.Cache().Lookup(cacheKey(name, dns.TypeA), loopback)
		if !ok {
			continue
		}
		for _, rr := range h.Msg.Answer {
			if a, isA := rr.(*dns.A); isA && a.A.String() != addr {
				t.Errorf("cache has %s at %s, truth is %s", name, a.A, addr)
			}
		}
	}
}

// askVictim resolves www.victim.test. and wants the truth.
func askVictim(t *testing.T, r *Resolver) {
	t.Helper()
	m := r.Answer(context.Background(), query("www.victim.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != truth["www.victim.test."] {
		t.Fatalf("www.victim.test after the attack: %v", m)
	}
}

// viaAlias makes alias.evil.test. a CNAME to www.evil.test. and passes
// every other question to h (nil: answer from the zone). A client asking
// for the alias makes www.evil.test. a hop of a chain: its answer is then
// cached under its own name as the server gave it, which is where a
// forgery would stay (the answer for the name asked is rebuilt from the
// chain).
func viaAlias(h hook) hook {
	return func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
		if strings.EqualFold(req.Question[0].Name, "alias.evil.test.") {
			return forged(req, dns.RcodeSuccess, []string{"alias.evil.test. 300 IN CNAME www.evil.test."}, nil, nil), false
		}
		if h == nil {
			return nil, false
		}
		return h(req, tcp)
	}
}

// TestPoisoningAttempts: each hostile reply leaves the cache clean and
// victim.test. resolvable to the truth. Each case names the defence it
// proves; with that defence disabled the case fails.
func TestPoisoningAttempts(t *testing.T) {
	const www = "www.evil.test."
	cases := []struct {
		name   string
		server string // whose hook: evilNS unless set
		qname  string // asked first; alias.evil.test (CNAME www.evil.test) unless set
		rcode  int    // of that first answer
		hook   hook
		check  func(t *testing.T, r *Resolver)
	}{
		{name: "answer: out-of-bailiwick record", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeSuccess, []string{www + " 300 IN A 192.0.2.20", "www.victim.test. 300 IN A 198.51.100.66"}, nil, nil), false
		}},
		{name: "answer: cname to the victim with its forged data", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeSuccess, []string{www + " 300 IN CNAME www.victim.test.", "www.victim.test. 300 IN A 198.51.100.66"}, nil, nil), false
		}, check: func(t *testing.T, r *Resolver) {
			h, ok := r.Cache().Lookup(cacheKey("alias.evil.test.", dns.TypeA), loopback)
			if !ok || len(h.Msg.Answer) != 3 || h.Msg.Answer[2].(*dns.A).A.String() != truth["www.victim.test."] {
				t.Errorf("the chain is not cached with the victim's own answer: %v", h.Msg)
			}
		}},
		{name: "answer: records off the question's chain", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeSuccess, []string{www + " 300 IN A 192.0.2.20", "poison.evil.test. 300 IN A 198.51.100.67", "evil.test. 300 IN NS ns.poison.evil.test."}, nil, nil), false
		}},
		{name: "authority: NS for the victim's zone", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeSuccess, []string{www + " 300 IN A 192.0.2.20"},
				[]string{"victim.test. 86400 IN NS ns.poison.evil.test."}, []string{"ns.poison.evil.test. 86400 IN A 198.51.100.66"}), false
		}},
		{name: "authority: another zone's SOA in a negative answer", rcode: dns.RcodeNameError, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeNameError, nil, []string{"victim.test. 300 IN SOA ns.victim.test. poison.victim.test. 1 2 3 4 300"}, nil), false
		}},
		{name: "additional: address of the victim's server", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeSuccess, []string{www + " 300 IN A 192.0.2.20"}, nil,
				[]string{"ns.victim.test. 86400 IN A 198.51.100.66", "www.victim.test. 86400 IN A 198.51.100.66"}), false
		}},
		{name: "referral sideways to the victim's zone", rcode: dns.RcodeServerFailure, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return referral(req, []string{"victim.test. 86400 IN NS ns.evil.test."}, []string{"ns.evil.test. 86400 IN A 198.51.100.66"}), false
		}},
		{name: "referral with glue for the victim's server", qname: "www.sub.evil.test.", rcode: dns.RcodeServerFailure, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return referral(req, []string{"sub.evil.test. 86400 IN NS ns.victim.test."}, []string{"ns.victim.test. 86400 IN A 198.51.100.66"}), false
		}},
		// The TLD hands out evil.test.'s delegation as its registrant set it
		// up: one of its name servers is the victim's, with a forged address
		// (sibling glue). The TLD speaks for the delegation, not for
		// ns.victim.test.'s address: only its own zone does.
		{name: "sibling glue from the parent", server: tldNS, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			if !dns.IsSubDomain("evil.test.", strings.ToLower(req.Question[0].Name)) {
				return nil, false
			}
			return referral(req, []string{"evil.test. 86400 IN NS ns.evil.test.", "evil.test. 86400 IN NS ns.victim.test."},
				[]string{"ns.evil.test. 86400 IN A 127.0.102.4", "ns.victim.test. 86400 IN A 198.51.100.66"}), false
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w, r := hostileResolver(t, nil)
				if tc.server == "" {
					w.servers[evilNS].setHook(viaAlias(tc.hook))
				} else {
					w.servers[evilNS].setHook(viaAlias(nil))
					w.servers[tc.server].setHook(tc.hook)
				}
				qname := tc.qname
				if qname == "" {
					qname = "alias.evil.test."
				}
				m := r.Answer(context.Background(), query(qname, dns.TypeA), loopback)
				if m.Rcode != tc.rcode {
					t.Fatalf("%s: rcode %s, want %s: %v", qname, dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode], m)
				}
				// RD=0 lets a client read delegations out of the cache too
				rd0 := query("www.victim.test", dns.TypeA)
				rd0.RecursionDesired = false
				if ref, ok := r.AnswerCached(rd0, loopback); ok {
					for _, rr := range append(append([]dns.RR{}, ref.Ns...), ref.Extra...) {
						if strings.Contains(rr.String(), "198.51.100.") || strings.Contains(rr.String(), "poison") {
							t.Errorf("RD=0 referral serves forged %s", rr)
						}
					}
				}
				assertClean(t, r)
				askVictim(t, r)
				assertClean(t, r)
				if tc.check != nil {
					tc.check(t, r)
				}
			})
		})
	}
}

// TestLoopsEndInSERVFAIL: CNAME and referral loops set up by a hostile
// server end in SERVFAIL without waiting for any timeout (on the bubble's
// clock), with an error the caller can tell apart (errors.Is) to explain
// the failure, e.g. as an Extended DNS Error.
func TestLoopsEndInSERVFAIL(t *testing.T) {
	cases := []struct {
		name   string
		server string // whose hook: evilNS unless set
		hook   hook
		want   error
	}{
		{name: "cname loop", want: ErrCNAMELoop, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return forged(req, dns.RcodeSuccess, []string{"www.evil.test. 300 IN CNAME a.evil.test.", "a.evil.test. 300 IN CNAME www.evil.test."}, nil, nil), false
		}},
		{name: "cname loop over two answers", want: ErrCNAMELoop, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			next := map[string]string{"www.evil.test.": "a.evil.test.", "a.evil.test.": "b.evil.test.", "b.evil.test.": "www.evil.test."}
			name := strings.ToLower(req.Question[0].Name)
			return forged(req, dns.RcodeSuccess, []string{name + " 300 IN CNAME " + next[name]}, nil, nil), false
		}},
		{name: "referral to itself", want: ErrReferralLoop, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return referral(req, []string{"evil.test. 300 IN NS ns.evil.test."}, []string{"ns.evil.test. 300 IN A 127.0.102.4"}), false
		}},
		// evil.test.'s name server is named in a zone whose name server
		// is named in evil.test.: neither address can be found first
		{name: "glueless name server cycle", server: tldNS, want: ErrReferralLoop, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			switch name := strings.ToLower(req.Question[0].Name); {
			case dns.IsSubDomain("evil.test.", name):
				return referral(req, []string{"evil.test. 300 IN NS ns.cycle.test."}, nil), false
			case dns.IsSubDomain("cycle.test.", name):
				return referral(req, []string{"cycle.test. 300 IN NS ns.evil.test."}, nil), false
			}
			return nil, false
		}},
		{name: "referral back to the root", want: ErrReferralLoop, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return referral(req, []string{". 300 IN NS a.root."}, []string{"a.root. 300 IN A 127.0.102.1"}), false
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w, r := hostileResolver(t, nil)
				server := tc.server
				if server == "" {
					server = evilNS
				}
				w.servers[server].setHook(tc.hook)
				const qname = "www.evil.test."
				start := time.Now()
				m := r.Answer(context.Background(), query(qname, dns.TypeA), loopback)
				if took := time.Since(start); m.Rcode != dns.RcodeServerFailure || took >= r.cfg.UpstreamTimeout {
					t.Fatalf("%s after %v (an upstream timeout is %v): %v", dns.RcodeToString[m.Rcode], took, r.cfg.UpstreamTimeout, m)
				}
				// the SERVFAIL says why (RFC 8914): EDE 0 Other, naming the loop
				if e := ede.Find(m); e == nil || e.InfoCode != dns.ExtendedErrorCodeOther || !strings.Contains(e.ExtraText, tc.want.Error()) {
					t.Fatalf("SERVFAIL with EDE %v, want code 0 (Other) with a text naming %q", e, tc.want)
				}
				_, err := r.resolve(context.Background(), r.newState(nil), qname, dns.TypeA)
				if !errors.Is(err, tc.want) {
					t.Fatalf("error %v, want one that is %v", err, tc.want)
				}
				assertClean(t, r)
				askVictim(t, r)
			})
		})
	}
}

// TestNXNSAttack: a referral naming 200 name servers without glue, all
// under the victim's zone, costs at most max_ns_lookups_per_referral
// lookups, so the victim's server sees that many queries, not hundreds.
func TestNXNSAttack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const names, limit = 200, 5
		w, r := hostileResolver(t, func(c *Config) {
			c.MaxNSLookupsPerReferral = limit
			c.MaxUpstreamQueries = 1000 // the referral cap alone bounds the work
		})
		w.servers[evilNS].setHook(func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			var ns []string
			for i := range names {
				ns = append(ns, fmt.Sprintf("nx.evil.test. 300 IN NS n%d.victim.test.", i))
			}
			return referral(req, ns, nil), false
		})
		m := r.Answer(context.Background(), query("www.nx.evil.test", dns.TypeA), loopback)
		if m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("rcode %s: %v", dns.RcodeToString[m.Rcode], m)
		}
		victim := w.servers[victimNS].queries.Load()
		if victim > limit || victim == 0 {
			t.Fatalf("the victim's server got %d queries for one client query, want 1 to %d", victim, limit)
		}
		if got := testutil.Value(t, r.m.nsCapped); got != 1 {
			t.Fatalf("capped referrals counted %v, want 1", got)
		}
		t.Logf("200 glueless NS names: %d queries to the victim, %d upstream queries in all", victim, w.total())
		assertClean(t, r)
	})
}

// TestReferralWithHundredsOfGluedServers: the other NXNSAttack variant,
// 200 name servers with glue pointing at 200 addresses of victims that do
// not answer usefully: the client query's max_upstream_queries budget
// bounds the addresses tried.
func TestReferralWithHundredsOfGluedServers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const names, budget = 200, 20
		w := memWorld(t, hostileSpec)
		w.servers[evilNS].setHook(func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			var ns, glue []string
			for i := range names {
				ns = append(ns, fmt.Sprintf("nx.evil.test. 300 IN NS n%d.nx.evil.test.", i))
				glue = append(glue, fmt.Sprintf("n%d.nx.evil.test. 300 IN A 127.0.%d.%d", i, 200+i/250, 1+i%250))
			}
			return referral(req, ns, glue), false
		})
		var victims atomic.Int64
		dial := func(ctx context.Context, network, address string) (net.Conn, error) {
			if strings.HasPrefix(address, "127.0.20") {
				victims.Add(1)
			}
			return w.dial(ctx, network, address)
		}
		r, _ := newTestResolver(t, w, "127.0.102.1", func(c *Config) { c.MaxUpstreamQueries = budget }, WithDialer(dial))
		if m := r.Answer(context.Background(), query("www.nx.evil.test", dns.TypeA), loopback); m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("rcode %s: %v", dns.RcodeToString[m.Rcode], m)
		}
		if n := victims.Load(); n == 0 || n > budget {
			t.Fatalf("%d of the 200 glued addresses asked, want 1 to %d", n, budget)
		}
		t.Logf("200 glued NS names: %d addresses asked (max_upstream_queries %d)", victims.Load(), budget)
	})
}
