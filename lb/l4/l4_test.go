package l4

import (
	"bufio"
	"context"
	ctls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/cfgerr"
	hcheck "netsim/internal/health"
	"netsim/internal/testutil"
	"netsim/lb/backend"
)

// echoServer answers every line with "<id> <line>" and, on "PROXY?",
// with the PROXY header it received (when it expects one).
type echoServer struct {
	id    string
	ln    net.Listener
	proxy bool // expect a PROXY header first
	mu    sync.Mutex
	seen  []ProxyHeader
	wg    sync.WaitGroup
}

func startEcho(t *testing.T, id string, proxy bool) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{id: id, ln: ln, proxy: proxy}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				var r io.Reader = c
				if e.proxy {
					h, rest, err := ReadProxyHeader(c)
					if err != nil {
						fmt.Fprintf(c, "ERR %v\n", err)
						return
					}
					e.mu.Lock()
					e.seen = append(e.seen, h)
					e.mu.Unlock()
					r = io.MultiReader(strings.NewReader(string(rest)), c)
				}
				sc := bufio.NewScanner(r)
				for sc.Scan() {
					if _, err := fmt.Fprintf(c, "%s %s\n", e.id, sc.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); e.wg.Wait() })
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

// run starts a Server and returns the frontend addresses by name.
func run(t *testing.T, cfg Config) (*Server, map[string]string, context.CancelFunc, chan error) {
	t.Helper()
	s, err := New(cfg, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := map[string]string{}
	var mu sync.Mutex
	readyc := make(chan struct{})
	errc := make(chan error, 1)
	n := 0
	go func() {
		errc <- s.Serve(ctx, func(name string, a net.Addr) {
			mu.Lock()
			addrs[name] = a.String()
			n++
			if n == len(cfg.Frontends) {
				close(readyc)
			}
			mu.Unlock()
		})
	}()
	select {
	case <-readyc:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return s, addrs, cancel, errc
}

// ask opens a connection, sends one line and returns the reply's id.
func ask(t *testing.T, addr, line string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return roundTrip(t, c, line)
}

func roundTrip(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	id, rest, _ := strings.Cut(strings.TrimSpace(reply), " ")
	if rest != line {
		t.Fatalf("reply %q to %q", reply, line)
	}
	return id
}

func mkPool(name, policyName string, sendProxy ProxyVersion, es ...*echoServer) Pool {
	p := Pool{Name: name, Policy: policyName, SendProxy: sendProxy, Health: Health{Config: hcheck.Config{Interval: 100 * time.Millisecond, Timeout: time.Second}}}
	for _, e := range es {
		p.Backends = append(p.Backends, Backend{ID: e.id, Address: e.addr()})
	}
	return p
}

func TestRoundRobinSpread(t *testing.T) {
	es := []*echoServer{startEcho(t, "b1", false), startEcho(t, "b2", false), startEcho(t, "b3", false)}
	_, addrs, _, _ := run(t, Config{
		Pools:     []Pool{mkPool("echo", "round_robin", "", es...)},
		Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}},
	})
	counts := map[string]int{}
	for i := range 300 {
		counts[ask(t, addrs["tcp"], fmt.Sprint("hello ", i))]++
	}
	for _, e := range es {
		if counts[e.id] != 100 {
			t.Fatalf("round robin spread %v, want 100 each", counts)
		}
	}
}

func TestPolicies(t *testing.T) {
	es := []*echoServer{startEcho(t, "b1", false), startEcho(t, "b2", false), startEcho(t, "b3", false)}
	t.Run("least_connections avoids the busy backend", func(t *testing.T) {
		s, addrs, _, _ := run(t, Config{
			Pools:     []Pool{mkPool("echo", "least_connections", "", es...)},
			Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}},
		})
		// Hold two long-lived connections: they land on two backends.
		held := map[string]bool{}
		for i := range 2 {
			c, err := net.Dial("tcp", addrs["tcp"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			held[roundTrip(t, c, fmt.Sprint("hold", i))] = true
		}
		if len(held) != 2 {
			t.Fatalf("two held connections on %v", held)
		}
		for range 10 {
			// The previous short connection is released asynchronously.
			testutil.WaitFor(t, "only the held connections open", 15*time.Second, func() bool {
				n := int64(0)
				for _, b := range s.Pools()[0].Backends {
					n += b.Active
				}
				return n == 2
			})
			if id := ask(t, addrs["tcp"], "x"); held[id] {
				t.Fatalf("short connection went to busy backend %s", id)
			}
		}
	})
	t.Run("source_ip_hash keeps a client on one backend", func(t *testing.T) {
		_, addrs, _, _ := run(t, Config{
			Pools:     []Pool{mkPool("echo", "source_ip_hash", "", es...)},
			Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}},
		})
		byClient := map[string]map[string]bool{}
		for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"} {
			byClient[src] = map[string]bool{}
			for range 5 {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
				c, err := d.Dial("tcp", addrs["tcp"])
				if err != nil {
					t.Fatal(err)
				}
				byClient[src][roundTrip(t, c, "x")] = true
				c.Close()
			}
		}
		used := map[string]bool{}
		for src, ids := range byClient {
			if len(ids) != 1 {
				t.Fatalf("client %s spread over %v", src, ids)
			}
			for id := range ids {
				used[id] = true
			}
		}
		if len(used) < 2 {
			t.Fatalf("six clients all hashed to %v", used)
		}
	})
}

func TestFailover(t *testing.T) {
	good := startEcho(t, "good", false)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now
	p := mkPool("echo", "round_robin", "", good)
	p.Backends = append(p.Backends, Backend{ID: "dead", Address: deadAddr})
	p.Health.Disabled = true // only passive ejection and retries
	s, addrs, _, _ := run(t, Config{Pools: []Pool{p}, Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}}})
	for i := range 20 {
		if id := ask(t, addrs["tcp"], fmt.Sprint(i)); id != "good" {
			t.Fatalf("answered by %s", id)
		}
	}
	st := s.Pools()[0].Backends[1]
	if st.ID != "dead" || st.Healthy || st.Failures < 3 {
		t.Fatalf("dead backend after 20 connections: %+v", st)
	}
}

func TestSNIPassthrough(t *testing.T) {
	a := startTLSBackend(t, "a")
	b := startTLSBackend(t, "b")
	w := startTLSBackend(t, "wild")
	plain := startEcho(t, "plain", false)
	_, addrs, _, _ := run(t, Config{
		Pools: []Pool{
			{Name: "a", Backends: []Backend{{ID: "a", Address: a}}},
			{Name: "b", Backends: []Backend{{ID: "b", Address: b}}},
			{Name: "wild", Backends: []Backend{{ID: "wild", Address: w}}},
			mkPool("plain", "round_robin", "", plain),
		},
		Frontends: []Frontend{
			{Name: "sni", Listen: "127.0.0.1:0", SNI: []SNIRoute{{Name: "a.example.test", Pool: "a"}, {Name: "B.example.test.", Pool: "b"}, {Name: "*.apps.example.test", Pool: "wild"}}},
			{Name: "sni-default", Listen: "127.0.0.1:0", Pool: "plain", SNI: []SNIRoute{{Name: "a.example.test", Pool: "a"}}},
		},
	})
	for _, tt := range []struct {
		front, sni, want string // want "" = refused
	}{
		{"sni", "a.example.test", "a"},
		{"sni", "b.example.test", "b"},
		{"sni", "x.apps.example.test", "wild"},
		{"sni", "x.y.apps.example.test", ""},
		{"sni", "c.example.test", ""},
		{"sni", "", ""},
		{"sni-default", "a.example.test", "a"},
	} {
		t.Run(tt.front+"/"+tt.sni, func(t *testing.T) {
			c, err := ctls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addrs[tt.front],
				&ctls.Config{ServerName: tt.sni, InsecureSkipVerify: true})
			if tt.want == "" {
				if err == nil {
					c.Close()
					t.Fatal("connection without a route was served")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The backend terminated TLS itself: it saw the client's SNI.
			if got := roundTripTLS(t, c); got != tt.want+" "+strings.ToLower(tt.sni) {
				t.Fatalf("answer %q", got)
			}
		})
	}
	// Plain TCP on a frontend with SNI routes and a default pool goes to
	// the default pool untouched.
	if id := ask(t, addrs["sni-default"], "not tls"); id != "plain" {
		t.Fatalf("plain TCP went to %s", id)
	}
}

func TestDrain(t *testing.T) {
	es := []*echoServer{startEcho(t, "b1", false), startEcho(t, "b2", false)}
	p := mkPool("echo", "round_robin", "", es...)
	p.DrainTimeout = time.Second
	s, addrs, _, _ := run(t, Config{Pools: []Pool{p}, Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}}})

	// Long-lived connections on both backends.
	var onB1 []net.Conn
	for i := range 4 {
		c, err := net.Dial("tcp", addrs["tcp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if roundTrip(t, c, fmt.Sprint("open", i)) == "b1" {
			onB1 = append(onB1, c)
		}
	}
	if len(onB1) != 2 {
		t.Fatalf("%d of 4 connections on b1", len(onB1))
	}
	if err := s.SetBackendState("echo", "b1", backend.Draining); err != nil {
		t.Fatal(err)
	}
	// New connections avoid b1; existing ones keep working.
	for range 6 {
		if id := ask(t, addrs["tcp"], "new"); id != "b2" {
			t.Fatalf("new connection to %s while b1 drains", id)
		}
	}
	for _, c := range onB1 {
		if id := roundTrip(t, c, "still open"); id != "b1" {
			t.Fatalf("existing connection moved to %s", id)
		}
	}
	// The drain deadline closes what is left on b1.
	for _, c := range onB1 {
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("read data after the drain deadline")
		}
	}
	testutil.WaitFor(t, "b1 drained", 15*time.Second, func() bool { return !s.Pools()[0].Backends[0].DrainedAtIsZero() })
}

func (b BackendStatus) DrainedAtIsZero() bool { return b.DrainedAt == nil }

func TestShutdownDrains(t *testing.T) {
	e := startEcho(t, "b1", false)
	_, addrs, cancel, errc := run(t, Config{
		Pools:        []Pool{mkPool("echo", "round_robin", "", e)},
		Frontends:    []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}},
		DrainTimeout: 20 * time.Second,
	})
	c, err := net.Dial("tcp", addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "before")
	cancel()
	testutil.WaitFor(t, "listener closed", 15*time.Second, func() bool {
		x, err := net.DialTimeout("tcp", addrs["tcp"], time.Second)
		if err == nil {
			x.Close()
		}
		return err != nil
	})
	// The open connection still works during the drain, then the client
	// closes it and Serve returns.
	roundTrip(t, c, "during drain")
	c.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
		errc <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after the last connection closed")
	}
}

func TestProxyProtocol(t *testing.T) {
	for _, v := range []ProxyVersion{ProxyV1, ProxyV2} {
		t.Run(string(v), func(t *testing.T) {
			e := startEcho(t, "b1", true)
			_, addrs, _, _ := run(t, Config{
				Pools: []Pool{mkPool("echo", "round_robin", v, e)},
				Frontends: []Frontend{
					{Name: "direct", Listen: "127.0.0.1:0", Pool: "echo"},
					{Name: "behind", Listen: "127.0.0.1:0", Pool: "echo", AcceptProxy: []string{"127.0.0.0/8"}},
					{Name: "untrusting", Listen: "127.0.0.1:0", Pool: "echo", AcceptProxy: []string{"10.0.0.0/8"}},
				},
			})
			// Direct: the backend learns our address.
			c, err := net.Dial("tcp", addrs["direct"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, "hi")
			e.mu.Lock()
			got := e.seen[len(e.seen)-1]
			e.mu.Unlock()
			if got.Version != v || got.Src != addrPort(c.LocalAddr()) || got.Dst.Port() != addrPort(c.RemoteAddr()).Port() {
				t.Fatalf("backend saw %+v, client is %s", got, c.LocalAddr())
			}
			// Behind another proxy: the header's client is passed on, and
			// the bytes after the header (sent in the same segment) too.
			for _, in := range []ProxyVersion{ProxyV1, ProxyV2} {
				c2, err := net.Dial("tcp", addrs["behind"])
				if err != nil {
					t.Fatal(err)
				}
				src := netip.MustParseAddrPort("203.0.113.9:4711")
				dst := netip.MustParseAddrPort("198.51.100.1:443")
				msg := append(AppendProxyHeader(nil, in, src, dst), "with header\n"...)
				if _, err := c2.Write(msg); err != nil {
					t.Fatal(err)
				}
				_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c2).ReadString('\n')
				c2.Close()
				if err != nil || line != "b1 with header\n" {
					t.Fatalf("through %s header: %q %v", in, line, err)
				}
				e.mu.Lock()
				got = e.seen[len(e.seen)-1]
				e.mu.Unlock()
				if got.Src != src || got.Dst != dst {
					t.Fatalf("backend saw %+v, want %s -> %s", got, src, dst)
				}
			}
			// A trusted peer that sends no header is refused.
			c3, err := net.Dial("tcp", addrs["behind"])
			if err != nil {
				t.Fatal(err)
			}
			defer c3.Close()
			fmt.Fprintln(c3, "no header at all, just a line")
			_ = c3.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c3.Read(make([]byte, 64)); err == nil {
				t.Fatal("served a trusted peer without a PROXY header")
			}
			// An untrusted peer's header is not interpreted: it is data.
			c4, err := net.Dial("tcp", addrs["untrusting"])
			if err != nil {
				t.Fatal(err)
			}
			defer c4.Close()
			fake := AppendProxyHeader(nil, ProxyV1, netip.MustParseAddrPort("1.2.3.4:1"), netip.MustParseAddrPort("5.6.7.8:2"))
			c4.Write(fake)
			line, _ := bufio.NewReader(c4).ReadString('\n')
			if !strings.Contains(line, strings.TrimSpace(string(fake))) {
				t.Fatalf("untrusted header was interpreted: %q", line)
			}
		})
	}
}

// TestLimits: one client over its per-client cap has the extra
// connections closed at once while its others and other clients are
// served. The idle limit is TestIdleTimeout's (fake time).
func TestLimits(t *testing.T) {
	e := startEcho(t, "b1", false)
	p := mkPool("echo", "round_robin", "", e)
	_, addrs, _, _ := run(t, Config{Pools: []Pool{p}, Frontends: []Frontend{
		{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo", MaxConnsPerClient: 20, MaxConns: 100},
	}})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var kept []net.Conn
	refused := 0
	for i := range 60 {
		c, err := d.Dial("tcp", addrs["tcp"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// each connection proves it is served before the next one opens,
		// so the first 20 are the ones counted
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "conn %d\n", i)
		if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			if line != fmt.Sprintf("b1 conn %d\n", i) {
				t.Fatalf("reply %q", line)
			}
			kept = append(kept, c)
		} else if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			refused++
		} else {
			t.Fatalf("conn %d: %v", i, err)
		}
	}
	if len(kept) != 20 || refused != 40 {
		t.Fatalf("%d served, %d closed; want 20 and 40 (max_conns_per_client 20)", len(kept), refused)
	}
	for _, c := range kept {
		roundTrip(t, c, "still served")
	}
	// Another client is served meanwhile.
	d2 := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 5 * time.Second}
	c, err := d2.Dial("tcp", addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "other client")
}

func TestValidate(t *testing.T) {
	good := func() Config {
		return Config{
			Pools:     []Pool{{Name: "p", Backends: []Backend{{Address: "127.0.0.1:1"}}}},
			Frontends: []Frontend{{Listen: "127.0.0.1:0", Pool: "p"}},
		}
	}
	for _, tt := range []struct {
		name string
		mut  func(c *Config)
		key  string
	}{
		{"ok", func(c *Config) {}, ""},
		{"policy", func(c *Config) { c.Pools[0].Policy = "cookie_hash" }, "l4.pools[0].policy"},
		{"address", func(c *Config) { c.Pools[0].Backends[0].Address = "nope" }, "l4.pools[0].backends[0].address"},
		{"proxy", func(c *Config) { c.Pools[0].SendProxy = "v3" }, "l4.pools[0].send_proxy"},
		{"pool ref", func(c *Config) { c.Frontends[0].Pool = "q" }, "l4.frontends[0].pool"},
		{"sni pool", func(c *Config) { c.Frontends[0].SNI = []SNIRoute{{Name: "a.test", Pool: "x"}} }, "l4.frontends[0].sni[0].pool"},
		{"sni name", func(c *Config) { c.Frontends[0].SNI = []SNIRoute{{Name: "a.*.test", Pool: "p"}} }, "l4.frontends[0].sni[0].name"},
		{"trusted", func(c *Config) { c.Frontends[0].AcceptProxy = []string{"10.0.0.0/33"} }, "l4.frontends[0].accept_proxy[0]"},
		{"no backends", func(c *Config) { c.Pools[0].Backends = nil }, "l4.pools[0].backends"},
		{"negative health", func(c *Config) { c.Pools[0].Health.Rise = -1 }, "l4.pools[0].health"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mut(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *cfgerr.Error
			if !errors.As(err, &fe) || fe.Key != tt.key {
				t.Fatalf("err %v, want key %s", err, tt.key)
			}
		})
	}
}

// TestProxyHeaderServerSpeaksFirst: a client behind a trusted proxy whose
// protocol waits for the server's greeting (SMTP, FTP, MySQL) gets it after
// the shortest PROXY header, "PROXY UNKNOWN\r\n" (issue 9, defect 7).
func TestProxyHeaderServerSpeaksFirst(t *testing.T) {
	ln := testutil.Listen(t)
	testutil.Serve(t, ln, func(c net.Conn) { // greets, then waits for the close
		fmt.Fprint(c, "220 greeter ready\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	p := Pool{Name: "greet", Backends: []Backend{{ID: "g1", Address: ln.Addr().String()}}, Health: Health{Config: hcheck.Config{Interval: 100 * time.Millisecond, Timeout: time.Second}}}
	_, addrs, _, _ := run(t, Config{Pools: []Pool{p}, Frontends: []Frontend{
		// a hello_timeout the stall would run into: the connection is then closed unanswered
		{Name: "tcp", Listen: "127.0.0.1:0", Pool: "greet", AcceptProxy: []string{"127.0.0.0/8"}, HelloTimeout: 3 * time.Second},
	}})
	c, err := net.Dial("tcp", addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("PROXY UNKNOWN\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "220 greeter ready\r\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
}
