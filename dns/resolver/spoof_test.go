package resolver

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
)

// spoofer is an off-path attacker on the in-memory network: on UDP
// connections to one server it slips forged replies in ahead of the real
// one, as if it had guessed the source port and won the race. forge
// returns the replies to inject for a query and where each claims to come
// from (an invalid address: the server's own).
type spoofer struct {
	w      *world
	target string
	forge  func(q *dns.Msg) []forgery
}

type forgery struct {
	msg  *dns.Msg
	from netip.AddrPort
}

func (s *spoofer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := s.w.dial(ctx, network, address)
	if err != nil || network != "udp" || !strings.HasPrefix(address, s.target+":") {
		return c, err
	}
	return &spoofConn{Conn: c, s: s, server: netip.MustParseAddrPort(address)}, nil
}

// spoofConn is one resolver socket as the attacker sees it. It is a
// net.PacketConn, so the resolver learns each datagram's source.
type spoofConn struct {
	net.Conn
	s       *spoofer
	server  netip.AddrPort
	pending []forgery
}

func (c *spoofConn) Write(b []byte) (int, error) {
	q := new(dns.Msg)
	if q.Unpack(b) == nil {
		c.pending = append(c.pending, c.s.forge(q)...)
	}
	return c.Conn.Write(b)
}

func (c *spoofConn) WriteTo(b []byte, _ net.Addr) (int, error) { return c.Write(b) }

func (c *spoofConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		wire, err := f.msg.Pack()
		if err != nil {
			return 0, nil, err
		}
		from := f.from
		if !from.IsValid() {
			from = c.server
		}
		return copy(b, wire), net.UDPAddrFromAddrPort(from), nil
	}
	n, err := c.Conn.Read(b)
	return n, net.UDPAddrFromAddrPort(c.server), err
}

// flipCase turns every letter's case: a question a forger who does not
// know the 0x20 bits could send.
func flipCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}

// forgedVictim is the forger's reply to q claiming www.victim.test. is at
// a forged address.
func forgedVictim(q *dns.Msg) *dns.Msg {
	m := forged(q, dns.RcodeSuccess, []string{"www.victim.test. 86400 IN A 198.51.100.66"}, nil, nil)
	return m
}

// TestForgedReplies: forged replies raced ahead of the real one are
// dropped and counted as unwanted when their ID, question, source address
// or (with 0x20) question case differ; the real answer is cached.
func TestForgedReplies(t *testing.T) {
	cases := []struct {
		reason string
		mod    func(*Config)
		forge  func(q *dns.Msg) forgery
	}{
		{reason: "id", forge: func(q *dns.Msg) forgery {
			m := forgedVictim(q)
			m.Id++
			return forgery{msg: m}
		}},
		{reason: "question", forge: func(q *dns.Msg) forgery {
			m := forgedVictim(q)
			m.Question[0].Name = "poison.victim.test."
			return forgery{msg: m}
		}},
		{reason: "source", forge: func(q *dns.Msg) forgery {
			return forgery{msg: forgedVictim(q), from: netip.MustParseAddrPort("127.0.102.99:53")}
		}},
		{reason: "case", mod: func(c *Config) { c.CaseRandomisation = true }, forge: func(q *dns.Msg) forgery {
			m := forgedVictim(q)
			m.Question[0].Name = flipCase(q.Question[0].Name)
			return forgery{msg: m}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := memWorld(t, hostileSpec)
				sp := &spoofer{w: w, target: victimNS, forge: func(q *dns.Msg) []forgery {
					if !strings.EqualFold(q.Question[0].Name, "www.victim.test.") {
						return nil
					}
					return []forgery{tc.forge(q)}
				}}
				r, _ := newTestResolver(t, w, "127.0.102.1", tc.mod, WithDialer(sp.dial))
				askVictim(t, r)
				assertClean(t, r)
				if got := testutil.Value(t, r.m.dropped.WithLabelValues(tc.reason)); got != 1 {
					t.Errorf("dropped{reason=%q} = %v, want 1", tc.reason, got)
				}
				if got := testutil.Value(t, r.m.unwanted); got != 1 {
					t.Errorf("unwanted replies = %v, want 1", got)
				}
			})
		})
	}
}

// TestUnwantedReplyThreshold: when unwanted replies reach the threshold
// the cache is flushed (Unbound's defensive action), once per threshold.
func TestUnwantedReplyThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := memWorld(t, hostileSpec)
		sp := &spoofer{w: w, target: victimNS, forge: func(q *dns.Msg) []forgery {
			if !strings.EqualFold(q.Question[0].Name, "www.victim.test.") {
				return nil
			}
			var out []forgery
			for range 3 {
				m := forgedVictim(q)
				m.Id ^= 0x5a5a
				out = append(out, forgery{msg: m})
			}
			return out
		}}
		r, _ := newTestResolver(t, w, "127.0.102.1", func(c *Config) { c.UnwantedReplyThreshold = 3 }, WithDialer(sp.dial))
		if m := r.Answer(context.Background(), query("mail.victim.test", dns.TypeA), loopback); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("mail.victim.test: %v", m)
		}
		if _, ok := r.Cache().Lookup(cacheKey("mail.victim.test.", dns.TypeA), loopback); !ok {
			t.Fatal("mail.victim.test not cached")
		}
		askVictim(t, r) // three forgeries ahead of the answer
		if _, ok := r.Cache().Lookup(cacheKey("mail.victim.test.", dns.TypeA), loopback); ok {
			t.Error("cache not flushed after 3 unwanted replies")
		}
		if got := testutil.Value(t, r.m.unwantedFlushes); got != 1 {
			t.Errorf("flushes = %v, want 1", got)
		}
		assertClean(t, r)
	})
}

// TestCaseRandomisationWithDemoServers: with 0x20 on, every kind of answer
// from the demo's own servers (dnsd's authoritative handler) comes back
// the same as with it off (no random case leaks into names), and no reply
// is dropped: the
// demo's servers all echo the question's case.
func TestCaseRandomisationWithDemoServers(t *testing.T) {
	names := []question{
		{"www.example.test", dns.TypeA}, {"mail.example.test", dns.TypeA}, {"example.test", dns.TypeMX},
		{"example.test", dns.TypeNS}, {"example.test", dns.TypeSOA}, {"nosuch.example.test", dns.TypeA},
		{"www.example.test", dns.TypeTXT}, {"www.sub.example.test", dns.TypeA}, {"test", dns.TypeNS},
	}
	for _, minimise := range []bool{false, true} {
		t.Run("qname_minimisation="+map[bool]string{false: "off", true: "on"}[minimise], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mixed atomic.Int64 // questions the servers saw in mixed case
				answers := func(caps bool) ([]string, *Resolver) {
					w := memEmbeddedWorld(t)
					for _, f := range w.servers {
						f.setHook(func(req *dns.Msg, _ bool) (*dns.Msg, bool) {
							if n := req.Question[0].Name; n != strings.ToLower(n) {
								mixed.Add(1)
							}
							return nil, false
						})
					}
					r := newMemResolver(t, w, "127.0.1.1", func(c *Config) {
						c.CaseRandomisation = caps
						c.QNAMEMinimisation = minimise
					})
					var out []string
					for _, n := range names {
						m := r.Answer(context.Background(), query(n.name, n.qtype), loopback)
						line := n.name + " " + dns.TypeToString[n.qtype] + " " + dns.RcodeToString[m.Rcode]
						for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
							for _, rr := range sec {
								rr = dns.Copy(rr)
								rr.Header().Ttl = 0
								if a, ok := rr.(*dns.A); ok && dns.IsSubDomain("www.example.test.", a.Hdr.Name) {
									a.A = nil // GeoDNS and rotation: the owner is what matters
								}
								line += " | " + rr.String()
							}
						}
						out = append(out, line)
					}
					return out, r
				}
				plain, _ := answers(false)
				if mixed.Load() != 0 {
					t.Fatal("questions in mixed case with 0x20 off")
				}
				caps, r := answers(true)
				if mixed.Load() == 0 { // 2^-100 or so by chance
					t.Fatal("no question in mixed case with 0x20 on")
				}
				for i := range plain {
					if sortedFields(plain[i]) != sortedFields(caps[i]) {
						t.Errorf("with 0x20:\n%s\nwithout:\n%s", caps[i], plain[i])
					}
				}
				if got := testutil.Value(t, r.m.dropped.WithLabelValues("case")); got != 0 {
					t.Errorf("%v replies dropped for their case by the demo's servers", got)
				}
			})
		})
	}
}

// sortedFields compares answers whatever the rotation of their records.
func sortedFields(s string) string {
	parts := strings.Split(s, " | ")
	head, rest := parts[0], parts[1:]
	slices.Sort(rest)
	return head + " | " + strings.Join(rest, " | ")
}

func TestRestoreSuffix(t *testing.T) {
	const sent, orig = "wWw.ExAmplE.TEst.", "www.example.test."
	for _, c := range []struct{ in, want string }{
		{"wWw.ExAmplE.TEst.", "www.example.test."},
		{"ns1.ExAmplE.TEst.", "ns1.example.test."},
		{"TEst.", "test."},
		{"other.zone.", "other.zone."},
		{"Mail.Example.Test.", "Mail.Example.Test."}, // the zone's own case is kept
		{"xwWw.ExAmplE.TEst.", "xwWw.example.test."},
		{".", "."},
	} {
		if got := restoreSuffix(c.in, sent, orig); got != c.want {
			t.Errorf("restoreSuffix(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if n := randomCase("www.example.test."); !strings.EqualFold(n, "www.example.test.") {
		t.Fatalf("randomCase changed the name: %q", n)
	}
}

// TestClientCap: a client with max_resolutions_per_client resolutions
// waiting on a server that never answers gets SERVFAIL at once for one
// more, while another client is answered at once; cache hits are never
// limited, and the slots come back when the resolutions end.
func TestClientCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 4
		greedy, other := netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("127.0.0.8")
		w, r := hostileResolver(t, func(c *Config) {
			c.MaxResolutionsPerClient = limit
			c.Timeout = 2 * time.Second
			c.UpstreamTimeout = 500 * time.Millisecond
		})
		askVictim(t, r) // www.victim.test cached
		// all four wait on the silent server
		wg := fillSlots(w, r, greedy, limit)
		start := time.Now()
		if m := r.Answer(context.Background(), query("more.evil.test", dns.TypeA), greedy); m.Rcode != dns.RcodeServerFailure || time.Since(start) != 0 {
			t.Fatalf("one more for the greedy client: %s after %v, want SERVFAIL at once", dns.RcodeToString[m.Rcode], time.Since(start))
		}
		if got := testutil.Value(t, r.m.clientLimited); got != 1 {
			t.Fatalf("limited queries counted %v, want 1", got)
		}
		if m := r.Answer(context.Background(), query("www.victim.test", dns.TypeA), greedy); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("cache hit for the greedy client: %v", m)
		}
		if m := r.Answer(context.Background(), query("mail.victim.test", dns.TypeA), other); m.Rcode != dns.RcodeSuccess || time.Since(start) != 0 {
			t.Fatalf("another client: %s after %v, want an answer at once", dns.RcodeToString[m.Rcode], time.Since(start))
		}
		wg.Wait()
		if m := r.Answer(context.Background(), query("ns.victim.test", dns.TypeA), greedy); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("greedy client after its resolutions ended: %v", m)
		}
	})
}

// fillSlots silences the server of evil.test and starts n resolutions of
// names below it for client; it returns when all of them wait on the
// server (inside a synctest bubble). They end at the resolver's timeout:
// wait on the group returned.
func fillSlots(w *world, r *Resolver, client netip.Addr, n int) *sync.WaitGroup {
	w.servers[evilNS].setHook(func(*dns.Msg, bool) (*dns.Msg, bool) { return nil, true })
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Answer(context.Background(), query("h"+string(rune('a'+i))+".evil.test", dns.TypeA), client)
		}()
	}
	synctest.Wait()
	return &wg
}

// TestClientCapServesStale: a client at its cap that asks for a name
// whose answer has expired but is within the stale window gets the stale
// answer (RFC 8767), not SERVFAIL: the cap limits new resolutions, not
// what the cache still holds (make chaos found SERVFAILs here).
func TestClientCapServesStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 2
		greedy := netip.MustParseAddr("127.0.0.7")
		w, r := hostileResolver(t, func(c *Config) {
			c.MaxResolutionsPerClient = limit
			c.Timeout = 2 * time.Second
			c.UpstreamTimeout = 500 * time.Millisecond
			c.Cache.StaleWindow = 72 * time.Hour
		})
		askVictim(t, r)
		time.Sleep(25 * time.Hour) // every record of it has expired
		wg := fillSlots(w, r, greedy, limit)
		m := r.Answer(context.Background(), query("www.victim.test", dns.TypeA), greedy)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != truth["www.victim.test."] {
			t.Fatalf("a stale answer for a client at its cap: %v", m)
		}
		wg.Wait()
	})
}
