package labs_test

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"netsim/dns/dnsd"
	"netsim/internal/labs"
	"netsim/internal/sim"
	"netsim/internal/testutil"
	"netsim/lb"
	"netsim/lb/l4"
	"netsim/zones"
)

// stack is netsim's whole topology (sim.Topology: dnsd with the demo
// hierarchy served from zone files, the main lbd and the three regional
// ones, b1..b3, the control API) on free ports, and the lab Env that
// reaches it.
type stack struct {
	env      *labs.Env
	top      *sim.Topology
	dnsPort  string
	http     string // the HTTP frontends' port (main and regions)
	zonesDir string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	st := &stack{zonesDir: filepath.Join(dir, "zones")}
	if _, err := zones.Seed(st.zonesDir); err != nil {
		t.Fatal(err)
	}

	// dnsd: the hierarchy on one free port of its 127.0.x.y addresses
	dc, err := dnsd.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	st.dnsPort = testutil.SharedPort(t, "127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.3.2", "127.0.4.1", "127.0.4.99")
	dc.Zones.Dir = st.zonesDir
	dc.Admin.Listen, dc.Admin.Token = "127.0.0.1:0", "dns-token"
	for i := range dc.Servers {
		if dc.Servers[i].Recursion {
			dc.Servers[i].Listen = "127.0.0.1:0"
			continue
		}
		host, _, _ := net.SplitHostPort(dc.Servers[i].Listen)
		dc.Servers[i].Listen = net.JoinHostPort(host, st.dnsPort)
	}
	p, _ := strconv.Atoi(st.dnsPort)
	dc.Resolver.Port = p
	dc.Resolver.RootHints = []string{"127.0.1.1@" + st.dnsPort}

	// the lbds: one set of free ports, free on the regions' addresses too
	hosts := []string{"127.0.0.1", "127.0.10.1", "127.0.20.1", "127.0.30.1"}
	st.http = testutil.SharedPort(t, hosts...)
	https, admin := testutil.SharedPort(t, hosts...), testutil.SharedPort(t, hosts...)
	adminPort, _ := strconv.Atoi(admin)
	for i := range dc.Geo.Names {
		if dc.Geo.Names[i].Health.Type != "" {
			dc.Geo.Names[i].Health.Port = adminPort // each region's lbd's /readyz
		}
	}
	lc := lb.DefaultConfig()
	lc.Admin.Listen, lc.Admin.Token = "127.0.0.1:"+admin, "lb-token"
	lc.L4 = l4.Config{}
	for i := range lc.Frontends {
		switch lc.Frontends[i].Name {
		case "http":
			lc.Frontends[i].Listen = "127.0.0.1:" + st.http
		case "https":
			lc.Frontends[i].Listen = "127.0.0.1:" + https
			tc := *lc.Frontends[i].TLS
			tc.DemoDir = filepath.Join(dir, "pki")
			lc.Frontends[i].TLS = &tc
		}
	}
	pool := &lc.Pools[0]
	pool.Health.Interval, pool.Health.Timeout, pool.Health.Rise, pool.Health.Fall = 300*time.Millisecond, 250*time.Millisecond, 2, 2
	pool.SlowStart = 0
	pool.Backends = nil
	var web, echo []sim.Site
	webd := map[string]string{}
	for _, id := range []string{"b1", "b2", "b3"} {
		a := testutil.FreeAddr(t)
		web = append(web, sim.Site{Name: id, Addr: a})
		webd[id] = a
		pool.Backends = append(pool.Backends, lb.BackendConfig{ID: id, Address: a})
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		echo = append(echo, sim.Site{Name: id, Addr: testutil.FreeAddr(t)})
	}

	top, err := sim.NewTopology(sim.Options{DNS: dc, LB: lc, Log: zap.NewNop(), Control: "127.0.0.1:0", ControlToken: "control-token", Web: web, Echo: echo})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	done := make(chan error, 1)
	wg.Go(func() { done <- top.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-top.Ready():
	case err := <-done:
		t.Fatalf("topology: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("topology not ready after 60s")
	}
	st.top = top
	lbAdmins := map[string]string{"lbd": top.LB().AdminAddr().String()}
	for _, r := range sim.Regions {
		lbAdmins["lbd-"+r.Name] = net.JoinHostPort(r.Addr, admin)
	}
	st.env = &labs.Env{
		DNSAdmin: top.DNS().AdminAddr(), DNSToken: "dns-token",
		Resolver: top.DNS().Listeners()["127.0.0.1:0"],
		Control:  top.ControlAddr().String(), ControlTok: "control-token",
		LBAdmins: lbAdmins, LBToken: "lb-token",
		Webd:      webd,
		HTTPS:     top.LB().Addr("https").String(),
		PKIDir:    filepath.Join(dir, "pki"),
		StateFile: filepath.Join(dir, "break.json"),
		// what netsim does on SIGHUP: every part re-reads its config and files
		Reload:      func() error { return top.Reload(dc, lc) },
		FlapPeriod:  time.Second,
		SlowLatency: 300 * time.Millisecond,
		CertLife:    3 * time.Second,
		Out:         io.Discard,
	}
	return st
}
