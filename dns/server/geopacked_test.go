package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/auth"
	"netsim/dns/dnssec"
	"netsim/dns/dnstest/wiretext"
	"netsim/dns/ecs"
	"netsim/dns/geo"
	"netsim/internal/health"
	"netsim/internal/testutil"
	"netsim/zones"
)

// geoConfig is the demo's geo section (configs/dnsd.yaml) without health
// checks: www by continent with every region, rotating, as the default;
// canary a 90/10 weighted pick.
func geoConfig() geo.Config {
	return geo.Config{TTL: 20 * time.Second, Names: []geo.NameConfig{{
		Name: "www.example.test.", Default: "global", Answers: 3,
		Pools: []geo.PoolConfig{
			{Name: "eu", Continents: []string{"EU"}, Members: []geo.MemberConfig{{Address: "127.0.10.1"}, {Address: "fd00:10::1"}}},
			{Name: "na", Continents: []string{"NA"}, Members: []geo.MemberConfig{{Address: "127.0.20.1"}}},
			{Name: "as", Continents: []string{"AS"}, Members: []geo.MemberConfig{{Address: "127.0.30.1"}}},
			{Name: "lab", Networks: []string{"127.0.10.128/25"}, Members: []geo.MemberConfig{{Address: "127.0.99.1"}, {Address: "127.0.99.2", Weight: 3}}},
			{Name: "global", Members: []geo.MemberConfig{{Address: "127.0.10.1"}, {Address: "127.0.20.1"}, {Address: "127.0.30.1"}}},
		},
	}, {
		Name: "canary.example.test.", TTL: 5 * time.Second,
		Pools: []geo.PoolConfig{{Name: "all", Members: []geo.MemberConfig{{Address: "127.0.50.1", Weight: 90}, {Address: "127.0.50.2", Weight: 10}}}},
	}}}
}

// demoDB is the demo geography (127.0.10/20/30.0/24 in EU, NA, AS and
// MaxMind's test networks).
func demoDB(t testing.TB) *geo.MaxMind {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.mmdb")
	if err := geo.WriteDemoDB(p); err != nil {
		t.Fatal(err)
	}
	m, err := geo.OpenMaxMind(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sharedGeoIP holds MaxMind's test databases, beside the repository (as
// in dns/geo's tests).
const sharedGeoIP = "../../../shared/geoip"

// locators are the demo geography and, when present, MaxMind's City test
// database.
func locators(t testing.TB) map[string]geo.Locator {
	t.Helper()
	out := map[string]geo.Locator{"demo": demoDB(t)}
	p := filepath.Join(sharedGeoIP, "GeoIP2-City-Test.mmdb")
	if _, err := os.Stat(p); err != nil {
		t.Logf("%s not present: the demo database only", p)
		return out
	}
	m, err := geo.OpenMaxMind(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out["maxmind-test"] = m
	return out
}

// signedSet is the embedded zones with example.test. signed.
func signedSet(t testing.TB) *auth.Set {
	t.Helper()
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := dnssec.Generate("example.test.", dnssec.KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*dnssec.Keys{"example.test.": ks}
	pub, err := dnssec.Publish(zs, keys, 3600, time.Now())
	if err == nil {
		pub, err = dnssec.PublishDenial(pub, keys, nil, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewSet(pub).WithSigners(map[string]*dnssec.Signer{"example.test.": dnssec.NewSigner(ks, dnssec.DefaultSignerOptions(), nil)})
}

// seededEngine is an Engine on cfg whose weighted draws come from a PCG
// seeded with seed.
func seededEngine(t testing.TB, cfg geo.Config, loc geo.Locator, seed uint64, opts ...geo.Option) *geo.Engine {
	t.Helper()
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	opts = append(opts, geo.WithRand(func(n uint64) uint64 { mu.Lock(); defer mu.Unlock(); return rng.Uint64N(n) }))
	e, err := geo.New(cfg, loc, nil, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Geo answers from the packed path are the full way's, byte for byte:
// clients of each region by source address and by Client Subnet (the
// demo database's networks and MaxMind's test networks, opt-out, IPv6),
// the network rule, the weighted pick and the rotation of every region,
// signed and not. Both handlers draw from equally seeded sources, so the
// packed path must draw exactly as the full way does.
func TestPackedGeoMatchesFullWay(t *testing.T) {
	subnets := []*dns.EDNS0_SUBNET{
		ecs.Option(netip.MustParsePrefix("175.16.199.0/24")), ecs.Option(netip.MustParsePrefix("89.160.20.112/28")),
		ecs.Option(netip.MustParsePrefix("2001:218::/48")), ecs.Option(netip.MustParsePrefix("2.125.160.216/29")),
		ecs.Option(netip.MustParsePrefix("81.2.69.142/32")), ecs.Option(netip.MustParsePrefix("127.0.20.0/24")),
		ecs.Option(netip.MustParsePrefix("127.0.30.7/32")), ecs.Option(netip.MustParsePrefix("127.0.10.0/24")),
		ecs.Option(netip.MustParsePrefix("216.160.83.56/29")), ecs.Option(netip.MustParsePrefix("2001:db8::/56")),
		ecs.Option(netip.MustParsePrefix("127.0.10.200/32")), {Code: dns.EDNS0SUBNET, Family: 0},
	}
	clients := []string{"127.0.10.5", "127.0.10.130", "127.0.20.9", "127.0.30.3", "192.0.2.1", "::1"}
	names := []string{"www.example.test.", "canary.example.test."}
	for db, loc := range locators(t) {
		for _, signed := range []bool{false, true} {
			testPackedGeo(t, db, loc, signed, subnets, clients, names)
		}
	}
}

// testPackedGeo is one run of TestPackedGeoMatchesFullWay.
func testPackedGeo(t *testing.T, db string, loc geo.Locator, signed bool, subnets []*dns.EDNS0_SUBNET, clients, names []string) {
	fast, full := packedHandlers(t, nil)
	if signed {
		set := signedSet(t)
		fast.SetZones(set)
		full.SetZones(set) // one signature cache: the signatures are the same
	}
	fast.SetGeo(geo.NewHook(seededEngine(t, geoConfig(), loc, 7)))
	full.SetGeo(geo.NewHook(seededEngine(t, geoConfig(), loc, 7)))
	r := rand.New(rand.NewPCG(3, 4))
	served := 0
	for i := 0; i < 1500; i++ {
		qtype := dns.TypeA
		if i%7 == 0 {
			qtype = dns.TypeAAAA
		}
		_, pkt := packedQuery(t, r, names[i%len(names)], qtype, subnets)
		client := netip.MustParseAddr(clients[r.IntN(len(clients))])
		proto := Protocol(r.IntN(2))
		got, _, _, ok := fast.serveCached(pkt, client, proto, nil, false)
		if ok {
			served++
		} else {
			got = fast.ServePacket(context.Background(), pkt, client, proto, nil)
		}
		want := full.ServePacket(context.Background(), pkt, client, proto, nil)
		if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
			t.Fatalf("database %s, signed %v, query %d from %s (%s), packed %v:\npacked:\n%s\nfull way:\n%s", db, signed, i, client, proto, ok, g, w)
		}
	}
	if served < 1000 {
		t.Errorf("database %s, signed %v: the packed path served %d of 1500 geo queries, want most", db, signed, served)
	}
}

// askGeo asks name A from client through the packed path and returns the
// addresses, failing when the packed path does not serve it.
func askGeo(t testing.TB, h *Handler, name string, client netip.Addr, subnet *dns.EDNS0_SUBNET) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	if subnet != nil {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = []dns.EDNS0{subnet}
	}
	pkt, _ := m.Pack()
	b, _, _, ok := h.serveCached(pkt, client, UDP, nil, false)
	if !ok {
		t.Fatalf("%s from %s: the packed path did not serve it", name, client)
	}
	r := new(dns.Msg)
	if err := r.Unpack(b); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// oneDown fails the check of target while down is set.
type oneDown struct {
	target string
	down   atomic.Bool
}

func (o *oneDown) Check(_ context.Context, target string) error {
	if target == o.target && o.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

// A member whose health check fails leaves the packed answers at once,
// and comes back when it passes again: a health change is a new variant.
// (The pool's members are drawn one per answer: a draw of the first place
// names 127.0.10.1 before, 127.0.20.1 after it goes down.)
func TestPackedGeoHealthChange(t *testing.T) {
	cfg := geo.Config{TTL: 20 * time.Second, Names: []geo.NameConfig{{
		Name: "www.example.test.", Default: "all",
		Health: geo.HealthConfig{Port: 80, CheckConfig: health.CheckConfig{Type: "tcp", Config: health.Config{Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1}}},
		Pools:  []geo.PoolConfig{{Name: "all", Members: []geo.MemberConfig{{Address: "127.0.10.1"}, {Address: "127.0.20.1"}, {Address: "127.0.30.1"}}}},
	}}}
	fc := &oneDown{target: "127.0.10.1:80"}
	e, err := geo.New(cfg, nil, nil, prometheus.NewRegistry(), geo.WithChecker(func(geo.HealthConfig) health.Checker { return fc }))
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t.Context())
	defer e.Close()
	h, _ := packedHandlers(t, nil)
	h.SetGeo(geo.NewHook(e))
	client := netip.MustParseAddr("192.0.2.1")
	// seen asks 60 times (every variant, all but surely) and returns the addresses answered
	seen := func() map[string]bool {
		s := map[string]bool{}
		for range 60 {
			for _, a := range askGeo(t, h, "www.example.test.", client, nil) {
				s[a] = true
			}
		}
		return s
	}
	testutil.WaitFor(t, "every member answered", 5*time.Second, func() bool { return len(seen()) == 3 })
	fc.down.Store(true)
	testutil.WaitFor(t, "127.0.10.1 left out", 5*time.Second, func() bool { return !seen()["127.0.10.1"] })
	for range 5 { // and stays out: no packed answer of the old view is served
		if s := seen(); s["127.0.10.1"] || len(s) != 2 {
			t.Fatalf("answers %v after 127.0.10.1 went down, want the two others", s)
		}
	}
	fc.down.Store(false)
	testutil.WaitFor(t, "127.0.10.1 back", 5*time.Second, func() bool { return seen()["127.0.10.1"] })
}

// A new geo configuration (a reload swaps the hook's engine) is answered
// at once: nothing packed from the old engine is served, even for a pool
// of the same shape.
func TestPackedGeoReload(t *testing.T) {
	h, _ := packedHandlers(t, nil)
	hook := geo.NewHook(seededEngine(t, geoConfig(), nil, 1))
	h.SetGeo(hook)
	client := netip.MustParseAddr("192.0.2.1")
	for range 100 { // both variants packed
		if a := askGeo(t, h, "canary.example.test.", client, nil); len(a) != 1 || a[0] != "127.0.50.1" && a[0] != "127.0.50.2" {
			t.Fatalf("before the reload: %v", a)
		}
	}
	cfg := geoConfig()
	cfg.Names[1].Pools[0].Members = []geo.MemberConfig{{Address: "127.0.60.1", Weight: 90}, {Address: "127.0.60.2", Weight: 10}}
	hook.Swap(seededEngine(t, cfg, nil, 1))
	for range 100 {
		if a := askGeo(t, h, "canary.example.test.", client, nil); len(a) != 1 || a[0] != "127.0.60.1" && a[0] != "127.0.60.2" {
			t.Fatalf("after the reload: %v, want 127.0.60.1 or .2", a)
		}
	}
}

// The canary keeps its share through the packed path: 10% ± 1.5 (five
// standard deviations) of 10,000 answers.
func TestPackedGeoWeightedShare(t *testing.T) {
	e, err := geo.New(geoConfig(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := packedHandlers(t, nil)
	h.SetGeo(geo.NewHook(e))
	client := netip.MustParseAddr("192.0.2.1")
	canary := 0
	const n = 10000
	for range n {
		if a := askGeo(t, h, "canary.example.test.", client, nil); len(a) == 1 && a[0] == "127.0.50.2" {
			canary++
		}
	}
	if share := float64(canary) / n; share < 0.085 || share > 0.115 {
		t.Errorf("canary share %.3f over %d packed answers, want 0.100 ± 0.015", share, n)
	}
}

// A geo answer whose variant is packed costs no allocation, by source
// address or Client Subnet, rotating or weighted.
func TestPackedGeoNoAllocation(t *testing.T) {
	h, _ := packedHandlers(t, nil)
	h.SetGeo(geo.NewHook(seededEngine(t, geoConfig(), demoDB(t), 1)))
	out := make([]byte, 0, 1232)
	for _, c := range []struct {
		name   string
		client string
		subnet *dns.EDNS0_SUBNET
	}{
		{"www.example.test.", "127.0.10.5", nil},
		{"www.example.test.", "192.0.2.1", nil}, // every region, rotating
		{"www.example.test.", "192.0.2.1", ecs.Option(netip.MustParsePrefix("81.2.69.142/32"))},
		{"canary.example.test.", "127.0.20.9", ecs.Option(netip.MustParsePrefix("127.0.20.0/24"))},
	} {
		m := new(dns.Msg)
		m.SetQuestion(c.name, dns.TypeA)
		m.SetEdns0(1232, false)
		if c.subnet != nil {
			m.IsEdns0().Option = []dns.EDNS0{c.subnet}
		}
		pkt, _ := m.Pack()
		client := netip.MustParseAddr(c.client)
		for range 20 { // every variant packed
			h.ServePacket(context.Background(), pkt, client, UDP, out)
		}
		if _, _, _, ok := h.serveCached(pkt, client, UDP, out, false); !ok {
			t.Fatalf("%s from %s: not served packed", c.name, c.client)
		}
		if n := testing.AllocsPerRun(100, func() { h.ServePacket(context.Background(), pkt, client, UDP, out) }); n != 0 {
			t.Errorf("%s from %s, subnet %v: %.1f allocations per packed geo answer, want 0", c.name, c.client, c.subnet, n)
		}
	}
}

func BenchmarkPackedGeo(b *testing.B) {
	h, _ := packedHandlers(b, nil)
	h.SetGeo(geo.NewHook(seededEngine(b, geoConfig(), demoDB(b), 1)))
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = []dns.EDNS0{ecs.Option(netip.MustParsePrefix("81.2.69.142/32"))}
	pkt, _ := m.Pack()
	client := netip.MustParseAddr("127.0.0.1")
	out := make([]byte, 0, 1232)
	b.ReportAllocs()
	for b.Loop() {
		h.ServePacket(context.Background(), pkt, client, UDP, out)
	}
}

// Whatever the bytes, a geo query the packed path serves gets the answer
// the full way gives (the draws are fixed: the same on both).
func FuzzPackedGeoMatchesFullWay(f *testing.F) {
	for _, q := range []string{"www.example.test.", "Canary.Example.test."} {
		m := new(dns.Msg)
		m.SetQuestion(q, dns.TypeA)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(1232, true)
		for _, sub := range testSubnets[:4] {
			m.IsEdns0().Option = []dns.EDNS0{sub, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
			b, _ = m.Pack()
			f.Add(b)
		}
	}
	var fast, full *Handler
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if fast == nil {
			fast, full = packedHandlers(t, nil)
			loc := demoDB(t)
			fixed := geo.WithRand(func(n uint64) uint64 { return n * 9 / 10 })
			for _, h := range []*Handler{fast, full} {
				e, err := geo.New(geoConfig(), loc, nil, nil, fixed)
				if err != nil {
					t.Fatal(err)
				}
				h.SetGeo(geo.NewHook(e))
			}
		}
		client := netip.MustParseAddr("127.0.20.1")
		got, _, _, ok := fast.serveCached(pkt, client, UDP, nil, false)
		if !ok {
			return
		}
		want := full.ServePacket(context.Background(), pkt, client, UDP, nil)
		if g, w := wiretext.Reply(t, got), wiretext.Reply(t, want); g != w {
			t.Fatalf("packed:\n%s\nfull way:\n%s", g, w)
		}
	})
}

// Every packed geo answer is counted in dnsd_geo_answers_total, once, as
// on the full way.
func TestPackedGeoCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := geo.New(geoConfig(), demoDB(t), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := packedHandlers(t, nil)
	h.SetGeo(geo.NewHook(e))
	for range 5 {
		askGeo(t, h, "www.example.test.", netip.MustParseAddr("127.0.20.9"), nil)
		askGeo(t, h, "www.example.test.", netip.MustParseAddr("192.0.2.1"), ecs.Option(netip.MustParsePrefix("81.2.69.142/32")))
	}
	if v := testutil.MetricValue(t, reg, "dnsd_geo_answers_total", "name", "www.example.test.", "pool", "na", "decision", "matched"); v != 5 {
		t.Errorf("answers of the na pool counted %v, want 5", v)
	}
	if v := testutil.MetricValue(t, reg, "dnsd_geo_answers_total", "name", "www.example.test.", "pool", "eu", "decision", "matched"); v != 5 {
		t.Errorf("answers of the eu pool counted %v, want 5", v)
	}
}
