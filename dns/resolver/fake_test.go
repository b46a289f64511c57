package resolver

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/auth"
	"netsim/dns/cache"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/internal/testutil"
	"netsim/zones"
)

// hook lets a test misbehave: it sees each query (and whether it came over
// TCP) and returns a reply to send as is, drop=true to send nothing, or
// (nil, false) to answer from the zones.
type hook func(req *dns.Msg, tcp bool) (reply *dns.Msg, drop bool)

// fake is an in-process authoritative server for tests: real answers from
// the lead's auth package over zone text, plus counting and fault hooks.
type fake struct {
	addr    netip.AddrPort
	h       *server.Handler
	hook    atomic.Pointer[hook]
	queries atomic.Int64
	mu      sync.Mutex
	byName  map[string]int
	udp     *dns.Server
	tcp     *dns.Server
	pc      net.PacketConn
	ln      net.Listener
	stopped atomic.Bool
}

func (f *fake) setHook(h hook) { f.hook.Store(&h) }

func (f *fake) count(name string, qtype uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byName[strings.ToLower(name)+"/"+dns.TypeToString[qtype]]
}

func (f *fake) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	f.queries.Add(1)
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if len(req.Question) == 1 {
		f.mu.Lock()
		f.byName[strings.ToLower(req.Question[0].Name)+"/"+dns.TypeToString[req.Question[0].Qtype]]++
		f.mu.Unlock()
	}
	if hp := f.hook.Load(); hp != nil && *hp != nil {
		reply, drop := (*hp)(req, tcp)
		if drop {
			return
		}
		if reply != nil {
			_ = w.WriteMsg(reply)
			return
		}
	}
	pkt, err := req.Pack()
	if err != nil {
		return
	}
	proto := server.UDP
	if tcp {
		proto = server.TCP
	}
	out := f.h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), proto, make([]byte, 0, 65535))
	if out != nil {
		_, _ = w.Write(out)
	}
}

func (f *fake) stop() {
	if f.stopped.Swap(true) || f.udp == nil { // in memory: dial refuses from now on
		return
	}
	_ = f.udp.Shutdown()
	_ = f.tcp.Shutdown()
}

// world is a set of fake servers sharing one port on different loopback
// addresses, as the simulated hierarchy does on port 1053.
type world struct {
	port    uint16
	servers map[string]*fake // by IP
}

// startWorld serves zones: ip → zone texts (origin → text). All servers
// share a free port found by binding the first one on :0.
func startWorld(t *testing.T, spec map[string]map[string]string) *world {
	t.Helper()
	return serveWorld(t, layout(t, spec))
}

// layout parses spec (ip → origin → zone text) into the zones each
// address serves.
func layout(t *testing.T, spec map[string]map[string]string) map[string][]*zones.Zone {
	t.Helper()
	l := map[string][]*zones.Zone{}
	for ip, texts := range spec {
		for origin, text := range texts {
			l[ip] = append(l[ip], dnstest.Zone(t, origin, text))
		}
	}
	return l
}

// serveWorld starts one fake server per address, all on one port: the
// first binds :0 and the rest take its port, retrying with a new port
// when one of the addresses has it taken.
func serveWorld(t *testing.T, layout map[string][]*zones.Zone) *world {
	t.Helper()
	ips := make([]string, 0, len(layout))
	for ip := range layout {
		ips = append(ips, ip)
	}
	sort.Strings(ips)
	w := &world{servers: map[string]*fake{}}
	for attempt := 0; ; attempt++ {
		ok := true
		w.port = 0
		for _, ip := range ips {
			f, err := startFakeZones(ip, w.port, layout[ip])
			if err != nil {
				ok = false
				for _, s := range w.servers {
					s.stop()
				}
				w.servers = map[string]*fake{}
				break
			}
			w.port = f.addr.Port()
			w.servers[ip] = f
		}
		if ok {
			break
		}
		if attempt > 10 {
			t.Fatalf("no port free on every address of %v", ips)
		}
	}
	t.Cleanup(func() {
		for _, s := range w.servers {
			s.stop()
		}
	})
	return w
}

func startFakeZones(ip string, port uint16, zs []*zones.Zone) (*fake, error) {
	ap := netip.AddrPortFrom(netip.MustParseAddr(ip), port)
	pc, err := net.ListenPacket("udp", ap.String())
	if err != nil {
		return nil, err
	}
	ap = netip.AddrPortFrom(ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		pc.Close()
		return nil, err
	}
	f := &fake{addr: ap, byName: map[string]int{}, pc: pc, ln: ln}
	f.h = server.NewHandler(ap.String(), auth.NewSet(zs), nil, server.NewMetrics(nil))
	f.udp = &dns.Server{PacketConn: pc, Handler: f}
	f.tcp = &dns.Server{Listener: ln, Handler: f}
	started := make(chan struct{}, 2)
	f.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	f.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = f.udp.ActivateAndServe() }()
	go func() { _ = f.tcp.ActivateAndServe() }()
	<-started
	<-started
	return f, nil
}

// embeddedWorld serves the real demo hierarchy (zones/) on its addresses.
func embeddedWorld(t *testing.T) *world {
	t.Helper()
	zs := dnstest.Embedded(t)
	return serveWorld(t, map[string][]*zones.Zone{
		"127.0.1.1": {zs["."]},
		"127.0.2.1": {zs["test."]},
		"127.0.3.1": {zs["example.test."]},
		"127.0.3.2": {zs["example.test."]},
		"127.0.4.1": {zs["sub.example.test."]},
	})
}

func (w *world) total() int64 {
	var n int64
	for _, s := range w.servers {
		n += s.queries.Load()
	}
	return n
}

// testClock is a manual clock.
func newTestClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
}

// newTestResolver points a resolver at w with fast limits.
func newTestResolver(t *testing.T, w *world, root string, mod func(*Config), opts ...Option) (*Resolver, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RootHints = []string{root}
	cfg.Port = int(w.port)
	cfg.Timeout = 2 * time.Second
	cfg.UpstreamTimeout = 300 * time.Millisecond
	cfg.StaleClientTimeout = 200 * time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	r, err := New(cfg, nil, reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	t.Cleanup(func() { _ = r.Close() })
	return r, reg
}

var loopback = netip.MustParseAddr("127.0.0.1")

// question is a name and type a test asks for.
type question struct {
	name  string
	qtype uint16
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	return m
}

func cacheKey(name string, qtype uint16) cache.Key {
	return cache.Key{Name: name, Type: qtype, Class: dns.ClassINET}
}
