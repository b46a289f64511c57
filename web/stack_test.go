package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/dns/geo"
	"netsim/internal/api"
	"netsim/internal/events"
	"netsim/internal/sim"
	"netsim/internal/testutil"
	"netsim/lb"
	"netsim/lb/l4"
	"netsim/web"
)

// stack is the part of netsim's topology the page needs, on free ports:
// dnsd playing the demo hierarchy (root, TLD, authoritative servers on
// their 127.0.x.y addresses, on one free port) with its resolver, GeoDNS
// without health probes, three webd backends as supervised parts, the
// main lbd and a regional one in front of them, and the page in front of
// a control API.
type stack struct {
	page     string // http://127.0.0.1:port
	token    string // the control token the page presents
	resolver string
	dnsPort  string // the port of the root, TLD and authoritative servers
	dns      *dnsd.Daemon
	lbs      map[string]*lb.Server
	regs     map[string]*prometheus.Registry // each daemon's metrics: "dnsd", "lbd", "lbd-eu"
	fake     *feed                           // dnsd's event stream when dnsd has none of its own, else nil
}

const (
	controlToken = "control-token"
	dnsToken     = "dns-token"
	lbToken      = "lb-token"
)

func newStack(t *testing.T) *stack {
	t.Helper()
	st := &stack{token: controlToken, lbs: map[string]*lb.Server{}, regs: map[string]*prometheus.Registry{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	// dnsd
	c, err := dnsd.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	port := testutil.SharedPort(t, "127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.3.2", "127.0.4.1")
	c.Admin.Listen, c.Admin.Token = "127.0.0.1:0", dnsToken
	for i := range c.Servers {
		host, _, _ := net.SplitHostPort(c.Servers[i].Listen)
		if c.Servers[i].Recursion {
			c.Servers[i].Listen = "127.0.0.1:0"
			continue
		}
		c.Servers[i].Listen = net.JoinHostPort(host, port)
	}
	st.dnsPort = port
	p, _ := strconv.Atoi(port)
	c.Resolver.Port = p
	c.Resolver.RootHints = []string{"127.0.1.1@" + port}
	for i := range c.Geo.Names {
		c.Geo.Names[i].Health = geo.HealthConfig{} // no probes of regional lbds that are not there
	}
	st.dns, err = dnsd.New(c, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	st.regs["dnsd"] = st.dns.Registry()
	wg.Go(func() { _ = st.dns.Run(ctx) })
	waitClosed(t, "dnsd ready", st.dns.Ready())
	st.resolver = st.dns.Listeners()["127.0.0.1:0"]

	// the backends, as supervised parts (their control API is netsim's)
	sup := sim.New(zap.NewNop())
	t.Cleanup(sup.Close)
	var addrs []string
	for _, id := range []string{"b1", "b2", "b3"} {
		a := testutil.FreeAddr(t)
		if err := sup.Add(sim.Webd(sim.WebdOptions{ID: id, Addr: a}, "v1")); err != nil {
			t.Fatal(err)
		}
		if err := sup.Start(id, ""); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}

	// the lbds
	admins := map[string]string{}
	for _, name := range []string{"lbd", "lbd-eu"} {
		cfg := lb.DefaultConfig()
		cfg.Admin.Listen, cfg.Admin.Token = "127.0.0.1:0", lbToken
		cfg.Frontends = cfg.Frontends[:1]
		cfg.Frontends[0].Listen = "127.0.0.1:0"
		cfg.L4 = l4.Config{}
		pool := &cfg.Pools[0]
		pool.Health.Interval, pool.Health.Timeout = 500*time.Millisecond, 500*time.Millisecond
		pool.SlowStart = 0
		pool.Backends = nil
		for i, a := range addrs {
			pool.Backends = append(pool.Backends, lb.BackendConfig{ID: fmt.Sprintf("b%d", i+1), Address: a})
		}
		st.regs[name] = prometheus.NewRegistry()
		s, err := lb.New(cfg, zap.NewNop(), st.regs[name])
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = s.Run(ctx) })
		waitClosed(t, name+" ready", s.Ready())
		st.lbs[name] = s
		admins[name] = s.AdminAddr().String()
	}

	// dnsd's event stream: its own once it has one (EVENTS.md), until
	// then a fake one that follows the contract, in front of its admin API
	dnsAdmin := st.dns.AdminAddr()
	if !hasEventStream(t, dnsAdmin) {
		st.fake = newFeed()
		real := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: dnsAdmin})
		mux := http.NewServeMux()
		mux.Handle("GET /api/v1/events", st.fake.Handler())
		mux.Handle("/", real)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		t.Cleanup(st.fake.Close) // before srv.Close: streams end first
		dnsAdmin = srv.Listener.Addr().String()
	}

	control := http.NewServeMux()
	sup.Routes(control, func(h http.Handler) http.Handler { return api.Auth(controlToken, h) })
	control.HandleFunc("/", api.NotFound)
	h := web.Handler(web.Options{
		DNSAdmin: dnsAdmin, Resolver: st.resolver, LBAdmins: admins,
		Regions: []web.Region{
			{Name: "eu", Label: "Europe", Subnet: netip.MustParsePrefix("127.0.10.0/24"), LB: "lbd-eu"},
			{Name: "na", Label: "North America", Subnet: netip.MustParsePrefix("127.0.20.0/24")},
			{Name: "as", Label: "Asia", Subnet: netip.MustParsePrefix("127.0.30.0/24")},
		},
		Control:  control,
		Token:    func() string { return controlToken },
		DNSToken: func() string { return dnsToken },
		LBToken:  func() string { return lbToken },
	})
	srv := httptest.NewUnstartedServer(h)
	base, stop := context.WithCancel(context.Background())
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(func() { stop(); srv.Close() }) // open event streams end first
	st.page = srv.URL
	return st
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out after 20s waiting for %s", what)
	}
}

// hasEventStream tells whether a daemon serves GET /api/v1/events.
func hasEventStream(t *testing.T, addr string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/events", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

// backendState asks an lbd's admin API for a backend's state.
func backendState(t *testing.T, s *lb.Server, id string) string {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr().String() + "/api/v1/pools/web/backends/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			State string `json:"state"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env.Data.State
}

// feed is a daemon's event stream for these tests: a real events.Bus,
// with the events a test publishes.
type feed struct {
	*events.Bus
	reg *prometheus.Registry
}

func newFeed() *feed {
	reg := prometheus.NewRegistry()
	return &feed{Bus: events.New(events.Options{Registerer: reg}), reg: reg}
}

// subscribers is how many streams are open.
func (f *feed) subscribers(t *testing.T) int {
	return int(testutil.MetricValue(t, f.reg, "events_subscribers"))
}

// publish sends one event, of type typ with fields, to every subscriber.
func (f *feed) publish(typ string, fields map[string]any) {
	f.Publish(&testEvent{typ: typ, fields: fields})
}

type testEvent struct {
	typ    string
	fields map[string]any
}

func (e *testEvent) EventType() string            { return e.typ }
func (e *testEvent) MarshalJSON() ([]byte, error) { return json.Marshal(e.fields) }
