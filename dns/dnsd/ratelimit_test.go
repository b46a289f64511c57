package dnsd

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnstest"
	"netsim/dns/rrl"
	"netsim/internal/testutil"
)

func TestRRLConfig(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"bad mode", "servers:\n  - listen: 127.0.0.1:53\n    zones: [.]\n    rrl: maybe\n", `servers[0].rrl: "maybe": want auto, on, off or log-only`},
		{"bad slip", "rrl:\n  slip: 11\nservers:\n  - listen: 127.0.0.1:53\n    zones: [.]\n", "rrl.slip: 11: want 0 (always drop) to 10"},
		{"bad exempt", "rrl:\n  exempt: [10.0.0.0/33]\nservers:\n  - listen: 127.0.0.1:53\n    zones: [.]\n", `rrl.exempt[0]: "10.0.0.0/33"`},
		{"bad rate", "rrl:\n  errors_per_second: -5\nservers:\n  - listen: 127.0.0.1:53\n    zones: [.]\n", "rrl.errors_per_second: -5"},
		{"bad max_resolutions", "servers:\n  - listen: 127.0.0.1:53\n    recursion: true\n    max_resolutions: -1\n", "servers[0].max_resolutions: -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, c.yaml), nil)
			testutil.WantErr(t, "Load", err, c.want)
		})
	}
	c, err := Load(writeFile(t, "servers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := rrl.DefaultConfig()
	if fmt.Sprint(c.RRL) != fmt.Sprint(want) {
		t.Errorf("a file's rrl section starts from %+v, want the defaults %+v", c.RRL, want)
	}
	demo, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	// the demo exempts its own resolver, which asks from 127.0.0.1
	if got := strings.Join(demo.RRL.Exempt, ","); got != "127.0.0.1/32" {
		t.Errorf("demo rrl.exempt = %q, want 127.0.0.1/32", got)
	}
}

// rrlDaemon runs a dnsd whose authoritative listener (127.0.0.1:0) has
// the given rrl section and mode, and a resolver listener.
func rrlDaemon(t *testing.T, section, mode string) (*Daemon, string) {
	t.Helper()
	text := "admin:\n  listen: 127.0.0.1:0\n  token: secret\nservers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"
	if mode != "" {
		text += "    rrl: " + mode + "\n"
	}
	d := newDaemon(t, text+"rrl:\n"+section)
	return d, run(t, d)
}

// udpFrom sends a query from a socket bound to src and waits for the reply
// (nil when none came within wait).
func udpFrom(t *testing.T, src, server string, m *dns.Msg, wait time.Duration) *dns.Msg {
	t.Helper()
	b, _ := m.Pack()
	reply := dnstest.RawFrom(t, src, server, b, wait)
	if reply == nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(reply); err != nil {
		t.Fatalf("reply from %s does not unpack: %v", server, err)
	}
	return r
}

// Modes: auto limits the authoritative listener; off does not; log-only
// answers everything and lists the prefix. The admin view lists what was
// limited, with paging headers.
func TestRRLModesAndAdminView(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		answered int // of 10 at rate 2, slip 1 (no waiting for drops)
		listed   bool
	}{{"", 2, true}, {"off", 10, false}, {"log-only", 10, true}} {
		t.Run("mode "+tc.mode, func(t *testing.T) {
			d, addr := rrlDaemon(t, "  responses_per_second: 2\n  slip: 1\n", tc.mode)
			answered := 0
			for i := 0; i < 10; i++ {
				m := new(dns.Msg)
				m.SetQuestion("www.example.test.", dns.TypeA)
				if r := udpFrom(t, "127.0.50.7", addr, m, 2*time.Second); r != nil && len(r.Answer) > 0 {
					answered++
				}
			}
			if answered != tc.answered {
				t.Errorf("%d of 10 answered at 2/s, want %d", answered, tc.answered)
			}
			resp, body := testutil.Fetch(t, "GET", "http://"+d.AdminAddr()+"/api/v1/rate-limits", "", "")
			var env struct {
				Data []struct {
					Listener, Prefix, Kind, Name, QType string
					LogOnly                             bool `json:"log_only"`
					Limited                             int
				}
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET /api/v1/rate-limits: %d %s", resp.StatusCode, body)
			}
			listed := len(env.Data) == 1 && env.Data[0].Prefix == "127.0.50.0/24" && env.Data[0].Name == "www.example.test." &&
				env.Data[0].QType == "A" && env.Data[0].Kind == "responses" && env.Data[0].Limited == 8 && env.Data[0].LogOnly == (tc.mode == "log-only")
			if listed != tc.listed || resp.Header.Get("X-Total-Count") != fmt.Sprint(len(env.Data)) {
				t.Errorf("rate-limits listed %s (X-Total-Count %q), want listed=%v", body, resp.Header.Get("X-Total-Count"), tc.listed)
			}
		})
	}
}

// A reload that changes the rates takes effect; one that changes nothing
// keeps the accounts (the prefix stays listed).
func TestRRLReload(t *testing.T) {
	d, addr := rrlDaemon(t, "  responses_per_second: 1\n  slip: 1\n", "on")
	ask := func() bool {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		r := udpFrom(t, "127.0.50.8", addr, m, 2*time.Second)
		return r != nil && len(r.Answer) > 0
	}
	ask()
	if ask() {
		t.Fatal("second query at 1/s answered")
	}
	cfg := d.Config()
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := d.limitedViews(); len(got) != 1 {
		t.Errorf("after a reload that changes nothing: %d accounts listed, want the 1 kept", len(got))
	}
	cfg.RRL.ResponsesPerSecond = 0
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if !ask() {
			t.Fatalf("query %d after the reload to unlimited: not answered", i)
		}
	}
}

// flood is a count of what the flooding sources got back.
type flood struct {
	answers, slips atomic.Int64
}

// The acceptance figures over real sockets: 20 sources of 127.0.50.0/24
// send one query at 20,000 q/s for 2 s (40,000 queries) to a listener
// limited to 1,000 answers a second with slip 2. The prefix gets the rate
// (plus a second's burst) ±10 %, the slips are counted apart (as many as
// the drops, ±1), a client of 127.0.60.0/24 asking at the same time gets
// every answer, and a client of the flooded /24 that returns the server
// cookie from a slip gets every answer too.
func TestRRLFloodOverSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("40,000 queries over loopback")
	}
	const rate, qps, secs, sources = 1000, 20000, 2, 20
	d, addr := rrlDaemon(t, fmt.Sprintf("  responses_per_second: %d\n  slip: 2\n", rate), "on")
	server := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	query, _ := m.Pack()

	var f flood
	var readers sync.WaitGroup
	conns := make([]*net.UDPConn, sources)
	for i := range conns {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 50, byte(1+i))}, server)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		conns[i] = c
		readers.Add(1)
		go func() { // counts replies until the socket is closed
			defer readers.Done()
			buf := make([]byte, 1232)
			for {
				n, err := c.Read(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				switch {
				case n < 12:
				case buf[2]&0x02 != 0:
					f.slips.Add(1)
				case binary.BigEndian.Uint16(buf[6:]) > 0:
					f.answers.Add(1)
				}
			}
		}()
	}

	// the other /24 and the cookie holder, both at 100 q/s during the flood
	type result struct{ asked, firstTry, answered int }
	var other, cookie result
	var side sync.WaitGroup
	stop := make(chan struct{})
	askUntil := func(src string, msg func() *dns.Msg, res *result) {
		defer side.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			res.asked++
			for try := 0; try < 3; try++ {
				r := udpFrom(t, src, addr, msg(), time.Second)
				if r != nil && !r.Truncated && len(r.Answer) > 0 {
					res.answered++
					if try == 0 {
						res.firstTry++
					}
					break
				}
			}
		}
	}
	// the cookie: a first query with a client cookie, repeated until a
	// reply (an answer or a slip) brings the server's
	var serverCookie string
	clientCookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}
	withCookie := func(c *dns.EDNS0_COOKIE) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion("www.example.test.", dns.TypeA)
		q.SetEdns0(1232, false)
		q.IsEdns0().Option = []dns.EDNS0{c}
		return q
	}
	side.Add(2)
	go askUntil("127.0.60.1", func() *dns.Msg { q := new(dns.Msg); q.SetQuestion("www.example.test.", dns.TypeA); return q }, &other)

	dropped0 := udpRcvbufErrors(t)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	sent, tries := 0, 0
	cookieStarted := false
	fetchTries, fetchReplies := 0, 0 // the cookie holder's first queries, counted in the flooded account
	for {
		el := time.Since(start)
		if el >= secs*time.Second {
			break
		}
		for due := int(el.Seconds() * qps); tries < due; tries++ {
			if _, err := conns[tries%sources].Write(query); err == nil {
				sent++
			}
		}
		if !cookieStarted && el > 200*time.Millisecond { // the prefix is limited by now
			cookieStarted = true
			for serverCookie == "" {
				fetchTries++
				if r := udpFrom(t, "127.0.50.99", addr, withCookie(clientCookie), time.Second); r != nil && r.IsEdns0() != nil {
					fetchReplies++
					for _, o := range r.IsEdns0().Option {
						if c, ok := o.(*dns.EDNS0_COOKIE); ok {
							serverCookie = c.Cookie
						}
					}
				}
			}
			go askUntil("127.0.50.99", func() *dns.Msg {
				return withCookie(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: serverCookie})
			}, &cookie)
		}
		<-tick.C
	}
	tick.Stop()
	elapsed := time.Since(start)
	close(stop)
	side.Wait()
	// the figures: every query counted by the server in the prefix's account (the
	// cookie holder's first tries too), then every reply read
	var acct limitedView
	account := func() (counted, replied int64) {
		for _, v := range d.limitedViews() {
			if v.Prefix.String() == "127.0.50.0/24" {
				acct = v
				return int64(v.Answered + v.Limited), int64(v.Answered + v.Slipped)
			}
		}
		return 0, 0
	}
	// Every query sent, less what the kernel dropped from full socket
	// buffers (a burst of the 1 ms ticks on a busy machine; the counter is
	// the namespace's, so it also holds other tests' drops: a bound).
	var lost int64
	testutil.WaitFor(t, "the server to count every flood query", 20*time.Second, func() bool {
		c, _ := account()
		lost = udpRcvbufErrors(t) - dropped0
		return c == int64(sent+fetchTries) || (lost > 0 && c >= int64(sent+fetchTries)-lost)
	})
	testutil.WaitFor(t, "every reply to the flood", 20*time.Second, func() bool {
		_, r := account()
		got, want := f.answers.Load()+f.slips.Load(), r-int64(fetchReplies)
		lost = udpRcvbufErrors(t) - dropped0 // the readers' buffers too
		return got == want || (lost > 0 && got >= want-lost)
	})
	if lost > 0 {
		t.Logf("%d datagrams dropped by the kernel's receive buffers while the flood ran", lost)
	}
	for _, c := range conns {
		c.Close()
	}
	readers.Wait()

	reg := d.Registry()
	metric := func(verdict string) float64 {
		return testutil.MetricValue(t, reg, "dnsd_rrl_responses_total", "verdict", verdict, "kind", "responses")
	}
	served := metric("answered") // the flood's, the other /24's and the cookie holder's first query
	dropped, slipped := metric("dropped"), metric("slipped")
	// the rate over the time the server counted the account (not the
	// sender's: a loaded server reads a backlog after the flood), plus a
	// second's burst
	span := acct.Seen.Sub(acct.First)
	want := float64(rate) * (span.Seconds() + 1)
	t.Logf("flood: %d queries in %s (%.0f q/s) from %d sources of 127.0.50.0/24 at rate %d/s, slip 2; the server counted them over %s",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), sources, rate, span.Round(time.Millisecond))
	t.Logf("flood got %d answers (want %.0f ±10%%: the rate over %.2f s plus a second's burst), %d slips; server: answered %.0f, dropped %.0f, slipped %.0f",
		f.answers.Load(), want, span.Seconds(), f.slips.Load(), served, dropped, slipped)
	t.Logf("other /24: %d of %d answered (%d at the first try); cookie holder in the flooded /24: %d of %d (%d at the first try); exempt by cookie: %.0f",
		other.answered, other.asked, other.firstTry, cookie.answered, cookie.asked, cookie.firstTry, metric("exempt_cookie"))
	if got := float64(f.answers.Load()); got < 0.9*want || got > 1.1*want {
		t.Errorf("the flooded prefix got %.0f answers, want %.0f ±10%%", got, want)
	}
	if sent < 5*rate*secs {
		t.Errorf("only %d queries sent: the flood did not exceed the rate", sent)
	}
	if d := slipped - dropped; d < -1 || d > 1 {
		t.Errorf("slipped %.0f, dropped %.0f: with slip 2 every other limited reply is a slip", slipped, dropped)
	}
	if other.asked == 0 || other.answered != other.asked {
		t.Errorf("other /24: %d of %d answered, want all", other.answered, other.asked)
	}
	if cookie.asked == 0 || cookie.answered != cookie.asked {
		t.Errorf("valid cookie in the flooded /24: %d of %d answered, want all", cookie.answered, cookie.asked)
	}
}

// netsim's resolver is never throttled by its own authoritative servers:
// it sends DNS cookies upstream, and a valid server cookie exempts it, with
// no exempt prefix configured. Thirty NXDOMAIN answers of one zone in a row
// against a limit of one a second all arrive.
func TestResolverCookiesExemptItFromRRL(t *testing.T) {
	auth, authAddr := rrlDaemon(t, "  responses_per_second: 1\n  nxdomains_per_second: 1\n  slip: 0\n", "")
	text := fmt.Sprintf("admin:\n  listen: 127.0.0.1:0\nservers:\n  - listen: 127.0.0.1:0\n    recursion: true\n"+
		"resolver:\n  stubs: [{name: example.test., addrs: [\"%s\"]}]\n  upstream_timeout: 2s\n", strings.Replace(authAddr, ":", "@", 1))
	resAddr := run(t, newDaemon(t, text))
	for i := 0; i < 30; i++ {
		if r := exchange(t, resAddr, fmt.Sprintf("nx%d.example.test.", i)); r.Rcode != dns.RcodeNameError {
			t.Fatalf("query %d through the resolver: %s, want NXDOMAIN", i, dns.RcodeToString[r.Rcode])
		}
	}
	exempt := testutil.MetricValue(t, auth.Registry(), "dnsd_rrl_responses_total", "verdict", "exempt_cookie")
	limited := testutil.MetricValue(t, auth.Registry(), "dnsd_rrl_responses_total", "verdict", "dropped")
	if exempt < 29 || limited != 0 {
		t.Errorf("the authority exempted %.0f of the resolver's queries by cookie and dropped %.0f; want all but the first exempt, none dropped", exempt, limited)
	}
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because a
// socket's receive buffer was full (/proc/net/snmp, this network namespace).
func udpRcvbufErrors(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0 // not Linux: no drops to allow for
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}
