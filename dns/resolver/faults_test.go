package resolver

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
)

var (
	fTLD = tldZone("127.0.101.2", `good IN NS ns.good
ns.good IN A 127.0.101.3
bad IN NS ns1.bad
bad IN NS ns2.bad
ns1.bad IN A 127.0.101.4
ns2.bad IN A 127.0.101.5
glueless IN NS ns.good.test.
fwd IN NS ns.good.test.
`)
	fGood = leafZone("good.test.", "ns", `ns IN A 127.0.101.3
www IN A 192.0.2.1
loop1 IN CNAME loop2
loop2 IN CNAME loop1
cross IN CNAME x.bad.test.
long1 IN CNAME long2
long2 IN CNAME long3
long3 IN CNAME long4
long4 IN CNAME www
`)
	fBad = leafZone("bad.test.", "ns1", `@ IN NS ns2
ns1 IN A 127.0.101.4
ns2 IN A 127.0.101.5
www IN A 192.0.2.2
x IN CNAME cross.good.test.
big IN TXT "`+"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"+`"
`)
	fGlueless = leafZone("glueless.test.", "ns.good.test.", "www IN A 192.0.2.3\n")
	fFwd      = leafZone("fwd.test.", "ns.good.test.", `a IN A 192.0.2.10
b IN A 192.0.2.11
c IN A 192.0.2.12
d IN A 192.0.2.13
`)
)

var faultSpec = map[string]map[string]string{
	"127.0.101.1": {".": rootZone("127.0.101.1", "127.0.101.2")},
	"127.0.101.2": {"test.": fTLD},
	"127.0.101.3": {"good.test.": fGood, "glueless.test.": fGlueless, "fwd.test.": fFwd},
	"127.0.101.4": {"bad.test.": fBad},
	"127.0.101.5": {"bad.test.": fBad},
}

// faultWorld serves faultSpec on sockets.
func faultWorld(t *testing.T) *world { return startWorld(t, faultSpec) }

// faultMemWorld serves faultSpec in memory, for tests in a synctest bubble.
func faultMemWorld(t *testing.T) *world { return memWorld(t, faultSpec) }

func badHook(w *world, h hook) {
	w.servers["127.0.101.4"].setHook(h)
	w.servers["127.0.101.5"].setHook(h)
}

// TestFaults: each misbehaviour ends in SERVFAIL within the time limit,
// and the resolver keeps answering other names. Each case runs in a
// synctest bubble over an in-memory network, so "within the limit" is
// measured on the bubble's clock and holds however loaded the machine is.
// Every case runs with 0x20 case randomisation off and on.
func TestFaults(t *testing.T) {
	const limit = time.Second
	cases := []struct {
		name  string
		hook  hook
		fresh func() hook // a hook with state: a new one for each run
		mod   func(*Config)
		qname string
		qtype uint16
		ok    bool   // NOERROR expected; otherwise SERVFAIL
		why   string // for SERVFAIL: what Trace must name as the cause
		check func(t *testing.T, r *Resolver, m *dns.Msg)
	}{
		{name: "never answers", why: "timeout", hook: func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true }},
		// the resolution limit runs out before the upstream timeouts do:
		// still a timeout, not "context deadline exceeded"
		{name: "resolution limit before upstream timeout", why: "timeout", hook: func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true },
			mod: func(c *Config) { c.Timeout = 200 * time.Millisecond }},
		{name: "wrong id", why: "timeout", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			m := forged(req, dns.RcodeSuccess, []string{"www.bad.test. 300 IN A 198.51.100.66"}, nil, nil)
			m.Id++
			return m, false
		}, check: droppedAs("id")},
		{name: "wrong question", why: "timeout", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			m := forged(req, dns.RcodeSuccess, []string{"evil.bad.test. 300 IN A 198.51.100.66"}, nil, nil)
			m.Question[0].Name = "evil.bad.test."
			return m, false
		}, check: droppedAs("question")},
		{name: "refused (lame)", why: "REFUSED", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeRefused)
			return m, false
		}},
		{name: "answer without aa (lame)", why: "without the AA flag", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			m := new(dns.Msg)
			m.SetReply(req)
			m.Answer = []dns.RR{mustRR("www.bad.test. 300 IN A 198.51.100.66")}
			return m, false
		}},
		{name: "referral upward (loop)", why: "does not lead below bad.test.", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return referral(req, []string{"test. 300 IN NS a.nic.test."}, []string{"a.nic.test. 300 IN A 127.0.101.2"}), false
		}},
		{name: "referral to itself (loop)", why: "does not lead below bad.test.", hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			return referral(req, []string{"bad.test. 300 IN NS ns1.bad.test."}, []string{"ns1.bad.test. 300 IN A 127.0.101.4"}), false
		}},
		{name: "endless deeper referrals", why: "referral limit", qname: "a.b.c.d.e.f.g.h.i.j.www.bad.test", mod: func(c *Config) { c.MaxReferrals = 4 },
			fresh: deeperReferrals},
		{name: "cname loop in one zone", why: "CNAME loop", qname: "loop1.good.test"},
		{name: "cname loop across zones", why: "CNAME loop", qname: "cross.good.test"},
		{name: "cname chain over the limit", why: "CNAME chain too long", qname: "long1.good.test", mod: func(c *Config) { c.MaxCNAMEChain = 3 }},
		{name: "cname chain within the limit", qname: "long1.good.test", ok: true, check: func(t *testing.T, _ *Resolver, m *dns.Msg) {
			if len(m.Answer) != 5 {
				t.Errorf("want 4 CNAMEs and an A, got %v", m.Answer)
			}
		}},
		{name: "truncated over udp, tcp retry", qname: "www.bad.test", ok: true, hook: func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
			if tcp {
				return nil, false
			}
			m := new(dns.Msg)
			m.SetReply(req)
			m.Authoritative = true
			m.Truncated = true
			return m, false
		}, check: func(t *testing.T, r *Resolver, m *dns.Msg) {
			if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
				t.Errorf("answer after TCP retry: %v", m.Answer)
			}
			if testutil.Value(t, r.m.upstream.WithLabelValues("tcp", "ok")) == 0 {
				t.Error("no TCP query counted")
			}
		}},
		{name: "edns rejected, plain retry", qname: "www.bad.test", ok: true, hook: func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
			if req.IsEdns0() == nil {
				return nil, false
			}
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeFormatError)
			return m, false
		}, check: func(t *testing.T, r *Resolver, m *dns.Msg) {
			if len(m.Answer) != 1 {
				t.Errorf("answer after EDNS fallback: %v", m.Answer)
			}
			for _, u := range r.Upstreams() {
				if strings.HasPrefix(u.Address, "127.0.101.4") || strings.HasPrefix(u.Address, "127.0.101.5") {
					if u.EDNS && u.Queries > 0 {
						t.Errorf("%s still marked as EDNS-capable", u.Address)
					}
				}
			}
		}},
		{name: "all upstreams down", why: "no server for the zone", mod: func(c *Config) { c.RootHints = []string{"127.0.101.250", "127.0.101.251"} }},
		{name: "glueless delegation", qname: "www.glueless.test", ok: true},
	}
	for i := range 2 * len(cases) {
		tc, caps := cases[i/2], i%2 == 1 // each case with 0x20 off and on
		t.Run(fmt.Sprintf("%s/0x20=%v", tc.name, caps), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := faultMemWorld(t)
				h := tc.hook
				if tc.fresh != nil {
					h = tc.fresh()
				}
				badHook(w, h)
				r := newMemResolver(t, w, "127.0.101.1", func(c *Config) {
					c.Timeout = limit
					c.UpstreamTimeout = 150 * time.Millisecond
					c.CaseRandomisation = caps
					if tc.mod != nil {
						tc.mod(c)
					}
				})
				qname, qtype, rcode := tc.qname, tc.qtype, dns.RcodeServerFailure
				if qname == "" {
					qname = "www.bad.test"
				}
				if qtype == 0 {
					qtype = dns.TypeA
				}
				if tc.ok {
					rcode = dns.RcodeSuccess
				}
				start := time.Now()
				m := r.Answer(context.Background(), query(qname, qtype), loopback)
				took := time.Since(start)
				if m.Rcode != rcode {
					t.Fatalf("rcode %s, want %s: %v", dns.RcodeToString[m.Rcode], dns.RcodeToString[rcode], m)
				}
				if took > r.cfg.Timeout {
					t.Fatalf("took %v, limit %v", took, r.cfg.Timeout)
				}
				if tc.check != nil {
					tc.check(t, r, m)
				}
				if !tc.ok {
					res, err := r.Trace(context.Background(), qname, qtype)
					if err != nil || res.Rcode != "SERVFAIL" || !strings.Contains(res.Error, tc.why) {
						t.Fatalf("trace: %v rcode %s error %q, want it to name %q", err, res.Rcode, res.Error, tc.why)
					}
				}
				if tc.name == "all upstreams down" {
					return
				}
				// the resolver keeps serving other names
				if ok := r.Answer(context.Background(), query("www.good.test", dns.TypeA), loopback); ok.Rcode != dns.RcodeSuccess || len(ok.Answer) != 1 {
					t.Fatalf("good name after the fault: %v", ok)
				}
			})
		})
	}
}

// deeperReferrals refers the n-th query to a zone cut n labels below
// bad.test., served by the same server: a referral chain that never ends.
func deeperReferrals() hook {
	var n atomic.Int32
	return func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
		labels := dns.SplitDomainName(strings.ToLower(req.Question[0].Name))
		k := int(n.Add(1))
		idx := max(0, len(labels)-2-k)
		cut := strings.Join(labels[idx:], ".") + "."
		return referral(req, []string{cut + " 300 IN NS ns." + cut}, []string{"ns." + cut + " 300 IN A 127.0.101.4"}), false
	}
}

// droppedAs is a TestFaults check: replies were dropped for why.
func droppedAs(why string) func(*testing.T, *Resolver, *dns.Msg) {
	return func(t *testing.T, r *Resolver, _ *dns.Msg) {
		if testutil.Value(t, r.m.dropped.WithLabelValues(why)) == 0 {
			t.Errorf("replies with the wrong %s not counted as dropped", why)
		}
	}
}

// silentBad is a resolver over faultSpec in memory whose bad.test.
// servers swallow every query.
func silentBad(t *testing.T, mod func(*Config), opts ...Option) (*world, *Resolver) {
	w := faultMemWorld(t)
	badHook(w, func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true })
	return w, newMemResolver(t, w, "127.0.101.1", mod, opts...)
}

// badQueries is how many queries bad.test.'s servers were sent.
func badQueries(w *world) int64 {
	return w.servers["127.0.101.4"].queries.Load() + w.servers["127.0.101.5"].queries.Load()
}

// TestHangDoesNotBlockOthers: while one zone's servers swallow queries, a
// name elsewhere is resolved at once, and the stuck client gets SERVFAIL
// within the limit (on the bubble's clock).
func TestHangDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, r := silentBad(t, func(c *Config) {
			c.Timeout = 2500 * time.Millisecond
			c.UpstreamTimeout = time.Second
		})
		stuck := make(chan *dns.Msg, 1)
		start := time.Now()
		go func() { stuck <- r.Answer(context.Background(), query("www.bad.test", dns.TypeA), loopback) }()
		synctest.Wait() // the stuck resolution waits on a silent server
		if badQueries(w) == 0 {
			t.Fatal("the stuck resolution did not reach the silent servers")
		}
		t0 := time.Now()
		if m := r.Answer(context.Background(), query("www.good.test", dns.TypeA), loopback); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("good name during the hang: %v", m)
		}
		if d := time.Since(t0); d != 0 { // nothing of the good name's path waits
			t.Fatalf("good name took %v while another zone hangs", d)
		}
		m := <-stuck
		if m.Rcode != dns.RcodeServerFailure || time.Since(start) > r.cfg.Timeout {
			t.Fatalf("stuck client: %s after %v, limit %v", dns.RcodeToString[m.Rcode], time.Since(start), r.cfg.Timeout)
		}
	})
}

// TestFailureCache: after a failed resolution the same question gets
// SERVFAIL at once, without upstream queries, for failure_ttl (RFC 9520);
// then it is tried again. A flush forgets the failure.
func TestFailureCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newTestClock()
		w, r := silentBad(t, func(c *Config) {
			c.UpstreamTimeout = 400 * time.Millisecond
			c.FailureTTL = 5 * time.Second
		}, WithClock(clk.Now))
		ask := func() (*dns.Msg, time.Duration) {
			start := time.Now()
			m := r.Answer(context.Background(), query("www.bad.test", dns.TypeA), loopback)
			return m, time.Since(start)
		}
		if m, _ := ask(); m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("first: %v", m)
		}
		n := badQueries(w)
		if n == 0 {
			t.Fatal("the dead servers were not asked")
		}
		m, took := ask()
		if m.Rcode != dns.RcodeServerFailure || badQueries(w) != n || took != 0 { // no upstream timeout waited for
			t.Fatalf("within failure_ttl: %s after %v, %d new upstream queries", dns.RcodeToString[m.Rcode], took, badQueries(w)-n)
		}
		if testutil.Value(t, r.m.failureHits) != 1 {
			t.Fatal("failure-cache answer not counted")
		}
		clk.Advance(6 * time.Second)
		if ask(); badQueries(w) == n {
			t.Fatal("not retried after failure_ttl")
		}
		n = badQueries(w)
		r.forgetFailures("www.bad.test.")
		if ask(); badQueries(w) == n {
			t.Fatal("not retried after the failure was forgotten")
		}
	})
}

// TestCloseStopsResolutions: Close cancels resolutions in flight and
// returns without waiting for upstream timeouts; waiting clients get
// SERVFAIL, and later queries do not start new work.
func TestCloseStopsResolutions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, r := silentBad(t, func(c *Config) {
			c.Timeout = 10 * time.Second
			c.UpstreamTimeout = 5 * time.Second
		})
		got := make(chan *dns.Msg, 1)
		go func() { got <- r.Answer(context.Background(), query("www.bad.test", dns.TypeA), loopback) }()
		synctest.Wait()
		if badQueries(w) == 0 {
			t.Fatal("the query did not reach the silent servers")
		}
		start := time.Now()
		_ = r.Close()
		if d := time.Since(start); d != 0 {
			t.Fatalf("Close waited %v (for an upstream timeout?)", d)
		}
		synctest.Wait()
		select {
		case m := <-got:
			if m.Rcode != dns.RcodeServerFailure {
				t.Fatalf("waiting client got %v", m)
			}
		default:
			t.Fatal("waiting client not answered after Close")
		}
		if m := r.Answer(context.Background(), query("www.good.test", dns.TypeA), loopback); m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("after Close: %v", m)
		}
	})
}

// One lost packet is no reason for SERVFAIL: the zone's only server drops
// the first query for a name and answers the retry.
func TestLostPacketRetried(t *testing.T) { synctest.Test(t, testLostPacketRetried) }

func testLostPacketRetried(t *testing.T) {
	w := faultMemWorld(t)
	var drops atomic.Int32
	w.servers["127.0.101.3"].setHook(func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
		if strings.EqualFold(req.Question[0].Name, "www.good.test.") && drops.Add(1) == 1 {
			return nil, true // lost
		}
		return nil, false
	})
	r := newMemResolver(t, w, "127.0.101.1", func(c *Config) {
		c.UpstreamTimeout = 300 * time.Millisecond
	})
	m := r.Answer(context.Background(), query("www.good.test", dns.TypeA), loopback)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("after one lost packet: rcode %s, answer %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
	if n := drops.Load(); n < 2 {
		t.Fatalf("server asked %d times, want a retry", n)
	}
}
