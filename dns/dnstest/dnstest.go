// Package dnstest holds DNS test helpers: records from zone-file text,
// in-process servers on 127.0.0.1:0, and a Case with expected sections so
// tests read like dig output.
package dnstest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/server"
	"netsim/zones"
)

// Zone parses zone text for origin, failing the test on error.
func Zone(t testing.TB, origin, text string) *zones.Zone {
	t.Helper()
	z, err := zones.Parse(strings.NewReader(text), origin, "embedded:test/"+origin, false) // in memory: never written
	if err != nil {
		t.Fatalf("zone %s: %v", origin, err)
	}
	return z
}

// Embedded loads the demo hierarchy.
func Embedded(t testing.TB) map[string]*zones.Zone {
	t.Helper()
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*zones.Zone{}
	for _, z := range zs {
		out[z.Origin] = z
	}
	return out
}

// RR parses one record in zone-file syntax.
func RR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("record %q: %v", s, err)
	}
	return rr
}

// Server is an in-process listener.
type Server struct {
	Addr     string
	Listener *server.Listener
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start serves zones (and rec, may be nil) on addr ("127.0.0.1:0" or a
// 127.0.0.x address); the server stops when the test ends.
func Start(t testing.TB, addr string, zs []*zones.Zone, rec server.Recursor) *Server {
	t.Helper()
	return Serve(t, Listen(t, addr, zs, rec, server.Limits{}))
}

// Listen is a listener on addr for zones (and rec, may be nil) with
// limits, not serving yet: Start without the start, for a test that sets
// the listener up first.
func Listen(t testing.TB, addr string, zs []*zones.Zone, rec server.Recursor, limits server.Limits) *server.Listener {
	t.Helper()
	h := server.NewHandler(addr, auth.NewSet(zs), rec, server.NewMetrics(nil))
	l, err := server.Listen(addr, h, limits, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Serve serves l until the test ends.
func Serve(t testing.TB, l *server.Listener) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Addr: l.Addr, Listener: l, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(s.done); l.Serve(ctx) }()
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server and waits for it.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}

// Exchange sends m over net ("udp" or "tcp") and returns the reply.
func Exchange(t testing.TB, addr, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange %s %s: %v", network, m.Question[0].String(), err)
	}
	return r
}

// Raw sends raw bytes over UDP and returns the raw reply, or nil if none
// came within wait.
func Raw(t testing.TB, addr string, pkt []byte, wait time.Duration) []byte {
	t.Helper()
	return RawFrom(t, "", addr, pkt, wait)
}

// RawFrom is Raw from a socket bound to the address src ("": any).
func RawFrom(t testing.TB, src, addr string, pkt []byte, wait time.Duration) []byte {
	t.Helper()
	d := net.Dialer{}
	if src != "" {
		d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0))
	}
	c, err := d.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// Case is one query and the reply expected, sections in zone-file text.
// Records are compared as sets (round-robin changes order); TTLs included.
type Case struct {
	Name   string
	Qname  string
	Qtype  uint16
	EDNS   uint16 // UDP size to advertise; 0 = no EDNS
	Rcode  int
	AA     bool
	Answer []string
	Ns     []string
	Extra  []string // OPT is ignored
}

// Msg builds the query of the case.
func (c Case) Msg() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(c.Qname, c.Qtype)
	m.RecursionDesired = false
	if c.EDNS > 0 {
		m.SetEdns0(c.EDNS, false)
	}
	return m
}

// Check compares a reply with the case and reports differences.
func (c Case) Check(t testing.TB, r *dns.Msg) {
	t.Helper()
	if r.Rcode != c.Rcode {
		t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.Rcode])
	}
	if r.Authoritative != c.AA {
		t.Errorf("aa = %v, want %v", r.Authoritative, c.AA)
	}
	if len(r.Question) != 1 || r.Question[0].Name != c.Qname {
		t.Errorf("question = %v, want %s (case preserved)", r.Question, c.Qname)
	}
	compare(t, "answer", r.Answer, c.Answer)
	compare(t, "authority", r.Ns, c.Ns)
	var extra []dns.RR
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	compare(t, "additional", extra, c.Extra)
}

func compare(t testing.TB, section string, got []dns.RR, want []string) {
	t.Helper()
	g := make([]string, len(got))
	for i, rr := range got {
		g[i] = normal(rr)
	}
	w := make([]string, len(want))
	for i, s := range want {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", s, err)
		}
		w[i] = normal(rr)
	}
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s section:\n got: %s\nwant: %s", section, fmtList(g), fmtList(w))
	}
}

// normal renders a record with a lower-cased owner, for set comparison.
func normal(rr dns.RR) string {
	s := rr.String()
	h := rr.Header()
	return strings.ToLower(h.Name) + s[len(h.Name):]
}

func fmtList(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("\n  %s", strings.Join(l, "\n  "))
}

// UDPLimit is the most bytes a UDP reply to the query pkt may carry: what
// the query advertised in EDNS (at least 512, RFC 6891 §6.2.5) and at most
// 1,232 (DNS flag day 2020), or 512 without EDNS (RFC 1035 §4.2.1).
func UDPLimit(pkt []byte) int {
	m := new(dns.Msg)
	if m.Unpack(pkt) != nil {
		return dns.MinMsgSize
	}
	opt := m.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	return min(max(int(opt.UDPSize()), dns.MinMsgSize), 1232)
}
