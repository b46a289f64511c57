package geo

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"netsim/dns/ecs"
	"netsim/internal/health"
	"netsim/internal/testutil"
)

func demoLocator(t testing.TB) *MaxMind {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.mmdb")
	if err := WriteDemoDB(p); err != nil {
		t.Fatal(err)
	}
	m, err := OpenMaxMind(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wwwConfig() Config {
	return Config{
		TTL: 20 * time.Second,
		Names: []NameConfig{{
			Name:    "www.example.test.",
			Default: "default",
			Pools: []PoolConfig{
				{Name: "eu", Continents: []string{"EU"}, Members: []MemberConfig{{Address: "127.0.10.1"}, {Address: "fd00:10::1"}}},
				{Name: "na", Continents: []string{"NA"}, Members: []MemberConfig{{Address: "127.0.20.1"}}},
				{Name: "jp", Countries: []string{"JP"}, Members: []MemberConfig{{Address: "127.0.30.1"}}},
				{Name: "lab", Networks: []string{"127.0.10.128/25"}, Members: []MemberConfig{{Address: "127.0.99.1"}}},
				{Name: "default", Members: []MemberConfig{{Address: "127.0.0.80"}}},
			},
		}},
	}
}

func answerAddrs(r Result) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}

func TestAnswerRouting(t *testing.T) {
	e, err := New(wwwConfig(), demoLocator(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		client    string
		ecs       *dns.EDNS0_SUBNET
		want      []string
		rcode     int
		pool      string
		rule      string
		source    string
		wantECS   bool
		scope     uint8
		dbChecked bool
	}{
		{"EU client by source address", "www.example.test.", dns.TypeA, "127.0.10.5", nil, []string{"127.0.10.1"}, 0, "eu", "continent EU", "client", false, 0, true},
		{"NA client by source address", "www.example.test.", dns.TypeA, "127.0.20.5", nil, []string{"127.0.20.1"}, 0, "na", "continent NA", "client", false, 0, true},
		{"JP by country beats continent", "www.example.test.", dns.TypeA, "127.0.30.5", nil, []string{"127.0.30.1"}, 0, "jp", "country JP", "client", false, 0, true},
		{"no record: default pool", "www.example.test.", dns.TypeA, "127.0.40.5", nil, []string{"127.0.0.80"}, 0, "default", "default", "client", false, 0, true},
		{"network rule beats database", "www.example.test.", dns.TypeA, "127.0.10.200", nil, []string{"127.0.99.1"}, 0, "lab", "network 127.0.10.128/25", "client", false, 0, false},
		{"case-insensitive name, no final dot", "WWW.Example.TEST", dns.TypeA, "127.0.20.5", nil, []string{"127.0.20.1"}, 0, "na", "continent NA", "client", false, 0, true},
		{"AAAA from the EU pool", "www.example.test.", dns.TypeAAAA, "127.0.10.5", nil, []string{"fd00:10::1"}, 0, "eu", "continent EU", "client", false, 0, true},
		{"AAAA where the pool has none: NODATA", "www.example.test.", dns.TypeAAAA, "127.0.20.5", nil, nil, 0, "na", "continent NA", "client", false, 0, true},
		{"MX on a geo name: NODATA", "www.example.test.", dns.TypeMX, "127.0.20.5", nil, nil, 0, "na", "continent NA", "client", false, 0, true},
		// ECS: the subnet decides, and the scope is the database network.
		{"ECS 81.2.69.142/32 -> EU, scope 31", "www.example.test.", dns.TypeA, "127.0.0.1", ecs.Option(netip.MustParsePrefix("81.2.69.142/32")), []string{"127.0.10.1"}, 0, "eu", "continent EU", "ecs", true, 31, true},
		{"ECS /24 of NA region -> NA, scope 24", "www.example.test.", dns.TypeA, "127.0.10.5", ecs.Option(netip.MustParsePrefix("127.0.20.0/24")), []string{"127.0.20.1"}, 0, "na", "continent NA", "ecs", true, 24, true},
		{"ECS /16 over the EU /24: scope 24, longer than source", "www.example.test.", dns.TypeA, "127.0.0.1", ecs.Option(netip.MustParsePrefix("127.0.0.0/16")), []string{"127.0.0.80"}, 0, "default", "default", "ecs", true, 21, true},
		{"ECS hitting the network rule", "www.example.test.", dns.TypeA, "127.0.0.1", ecs.Option(netip.MustParsePrefix("127.0.10.128/25")), []string{"127.0.99.1"}, 0, "lab", "network 127.0.10.128/25", "ecs", true, 25, false},
		{"ECS /24 straddling the network rule: scope narrowed to 25", "www.example.test.", dns.TypeA, "127.0.0.1", ecs.Option(netip.MustParsePrefix("127.0.10.0/24")), []string{"127.0.10.1"}, 0, "eu", "continent EU", "ecs", true, 25, true},
		{"ECS v6 2001:218::/48 -> JP, scope 32", "www.example.test.", dns.TypeA, "127.0.0.1", ecs.Option(netip.MustParsePrefix("2001:218::/48")), []string{"127.0.30.1"}, 0, "jp", "country JP", "ecs", true, 32, true},
		{"ECS opt-out: default pool, scope 0", "www.example.test.", dns.TypeA, "127.0.10.5", ecs.Option(netip.MustParsePrefix("0.0.0.0/0")), []string{"127.0.0.80"}, 0, "default", "default", "ecs-opt-out", true, 0, false},
		{"malformed ECS: FORMERR", "www.example.test.", dns.TypeA, "127.0.10.5", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 24, Address: net.ParseIP("127.0.10.5")}, nil, dns.RcodeFormatError, "", "", "ecs", false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := e.Answer(tt.qname, tt.qtype, netip.MustParseAddr(tt.client), tt.ecs)
			if !ok {
				t.Fatal("name not geo-managed")
			}
			x := r.Explanation
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %d, want %d (%s)", r.Rcode, tt.rcode, x)
			}
			if got := answerAddrs(r); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("answer %v, want %v (%s)", got, tt.want, x)
			}
			if x.Pool != tt.pool || x.Rule != tt.rule || x.Source != tt.source || x.DatabaseConsulted != tt.dbChecked {
				t.Fatalf("explanation %+v, want pool %s rule %q source %s db %v", x, tt.pool, tt.rule, tt.source, tt.dbChecked)
			}
			if (r.ECS != nil) != tt.wantECS {
				t.Fatalf("ECS option %v, want present=%v", r.ECS, tt.wantECS)
			}
			if r.ECS != nil {
				if r.ECS.SourceScope != tt.scope || r.Scope != tt.scope {
					t.Fatalf("scope %d/%d, want %d (network %s)", r.ECS.SourceScope, r.Scope, tt.scope, x.Network)
				}
				if r.ECS.Family != tt.ecs.Family || r.ECS.SourceNetmask != tt.ecs.SourceNetmask || !r.ECS.Address.Equal(tt.ecs.Address) {
					t.Fatalf("reply option %v does not echo the query's %v", r.ECS, tt.ecs)
				}
			}
			for _, rr := range r.Answer {
				if rr.Header().Ttl != 20 || rr.Header().Name != "www.example.test." {
					t.Fatalf("record %s: want TTL 20 and owner www.example.test.", rr)
				}
			}
		})
	}
	if _, ok := e.Answer("nope.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), nil); ok {
		t.Fatal("unconfigured name reported as geo-managed")
	}
}

// TestScopeNeverClaimsTooMuch checks the scope against the definition:
// every address inside the reply's scope network gets the same pool.
func TestScopeNeverClaimsTooMuch(t *testing.T) {
	e, err := New(wwwConfig(), demoLocator(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		a := netip.AddrFrom4([4]byte{127, 0, byte(rng.IntN(48)), byte(rng.IntN(256))})
		src := 16 + rng.IntN(17)
		p := netip.PrefixFrom(a, src).Masked()
		r, _ := e.Explain("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.0.1"), ecs.Option(p))
		scopeNet := netip.PrefixFrom(p.Addr(), int(r.Scope)).Masked()
		// Probe a handful of addresses inside the scope network (within
		// the source prefix when the scope is longer).
		for j := 0; j < 8; j++ {
			b := randomIn(rng, scopeNet)
			probe := netip.PrefixFrom(b, max(src, int(r.Scope))).Masked()
			if !scopeNet.Contains(probe.Addr()) {
				continue
			}
			r2, _ := e.Explain("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.0.1"), ecs.Option(probe))
			if r2.Explanation.Pool != r.Explanation.Pool {
				t.Fatalf("scope %s claimed for pool %s, but %s gets pool %s", scopeNet, r.Explanation.Pool, probe, r2.Explanation.Pool)
			}
		}
	}
}

func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	hostBits := 32 - p.Bits()
	if hostBits > 0 {
		v |= rng.Uint32() & (1<<hostBits - 1)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestECSTrust(t *testing.T) {
	cfg := wwwConfig()
	cfg.TrustECSFrom = []string{"127.0.0.0/24"}
	e, err := New(cfg, demoLocator(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opt := ecs.Option(netip.MustParsePrefix("127.0.20.0/24"))
	r, _ := e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.0.1"), opt)
	if r.Explanation.Pool != "na" || r.ECS == nil {
		t.Fatalf("trusted resolver: %s", r.Explanation)
	}
	r, _ = e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), opt)
	if r.Explanation.Pool != "eu" || r.ECS != nil || r.Explanation.ECSIgnored == "" {
		t.Fatalf("untrusted client's ECS was used: %s, ecs %v", r.Explanation, r.ECS)
	}
	cfg.TrustECSFrom = nil
	cfg.IgnoreECS = true
	e, err = New(cfg, demoLocator(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), opt)
	if r.Explanation.Pool != "eu" || r.ECS != nil {
		t.Fatalf("ignore_ecs: %s", r.Explanation)
	}
}

// TestWeightedShares: a 90/10 canary over 10,000 answers stays within
// ±3 points, with a seeded random source.
func TestWeightedShares(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		answers int
	}{
		{"canary 90/10", []int{90, 10}, 1},
		{"three-way 50/30/20", []int{50, 30, 20}, 1},
		{"equal weights", []int{1, 1, 1, 1}, 1},
		{"first of two records 70/30", []int{70, 30}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := PoolConfig{Name: "all"}
			total := 0
			for i, w := range tt.weights {
				pc.Members = append(pc.Members, MemberConfig{Address: netip.AddrFrom4([4]byte{127, 0, 10, byte(i + 1)}).String(), Weight: w})
				total += w
			}
			cfg := Config{Names: []NameConfig{{Name: "canary.example.test.", Answers: tt.answers, Pools: []PoolConfig{pc}}}}
			rng := rand.New(rand.NewPCG(42, 7))
			var mu sync.Mutex
			e, err := New(cfg, nil, nil, nil, WithRand(func(n uint64) uint64 { mu.Lock(); defer mu.Unlock(); return rng.Uint64N(n) }))
			if err != nil {
				t.Fatal(err)
			}
			const N = 10000
			counts := map[string]int{}
			for i := 0; i < N; i++ {
				r, _ := e.Answer("canary.example.test.", dns.TypeA, netip.MustParseAddr("127.0.0.1"), nil)
				got := answerAddrs(r)
				if len(got) != min(tt.answers, len(tt.weights)) {
					t.Fatalf("answer has %d records, want %d", len(got), tt.answers)
				}
				if len(got) == 2 && got[0] == got[1] {
					t.Fatalf("same member twice: %v", got)
				}
				counts[got[0]]++
			}
			for i, w := range tt.weights {
				addr := netip.AddrFrom4([4]byte{127, 0, 10, byte(i + 1)}).String()
				share := float64(counts[addr]) / N * 100
				want := float64(w) / float64(total) * 100
				t.Logf("%s: %.2f%% (weight %d → %.2f%%)", addr, share, w, want)
				if share < want-3 || share > want+3 {
					t.Errorf("%s share %.2f%%, want %.2f%% ±3", addr, share, want)
				}
			}
		})
	}
}

// fakeChecker's results are set per target by the test.
type fakeChecker struct {
	mu  sync.Mutex
	err map[string]error
}

func (f *fakeChecker) set(target string, err error) {
	f.mu.Lock()
	f.err[target] = err
	f.mu.Unlock()
}

func (f *fakeChecker) Check(ctx context.Context, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err[target]
}

func TestFailoverAndFailModes(t *testing.T) {
	refused := errors.New("connection refused")
	tests := []struct {
		name     string
		fail     string
		down     []string // check targets down
		wantAddr []string
		rcode    int
		decision string
	}{
		{"all up: both EU members", "", nil, []string{"127.0.10.1", "127.0.10.2"}, 0, "matched"},
		{"one EU member down: left out", "", []string{"127.0.10.1:80"}, []string{"127.0.10.2"}, 0, "matched"},
		{"EU down: default pool answers", "", []string{"127.0.10.1:80", "127.0.10.2:80"}, []string{"127.0.20.1"}, 0, "failover"},
		{"everything down, fail open: EU as if healthy", "open", []string{"127.0.10.1:80", "127.0.10.2:80", "127.0.20.1:80"}, []string{"127.0.10.1", "127.0.10.2"}, 0, "fail_open"},
		{"everything down, fail closed: SERVFAIL", "closed", []string{"127.0.10.1:80", "127.0.10.2:80", "127.0.20.1:80"}, nil, dns.RcodeServerFailure, "fail_closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := &fakeChecker{err: map[string]error{}}
				for _, d := range tt.down {
					fc.set(d, refused)
				}
				cfg := Config{Names: []NameConfig{{
					Name: "www.example.test.", Default: "na", Fail: tt.fail, Answers: 2,
					Health: HealthConfig{CheckConfig: health.CheckConfig{Type: "tcp", Config: health.Config{Interval: time.Hour, Rise: 1, Fall: 1}}, Port: 80},
					Pools: []PoolConfig{
						{Name: "eu", Continents: []string{"EU"}, Members: []MemberConfig{{Address: "127.0.10.1"}, {Address: "127.0.10.2", Weight: 0}}},
						{Name: "na", Continents: []string{"NA"}, Members: []MemberConfig{{Address: "127.0.20.1"}}},
					},
				}}}
				reg := prometheus.NewRegistry()
				e, err := New(cfg, demoLocator(t), nil, reg, WithChecker(func(HealthConfig) health.Checker { return fc }))
				if err != nil {
					t.Fatal(err)
				}
				e.Start(t.Context())
				defer e.Close()
				// every first probe and the view rebuild it causes are done
				// (waiting for the states alone raced the rebuild)
				synctest.Wait()
				for _, me := range e.monitors {
					if me.mon.State() == health.Unknown {
						t.Fatalf("%s not probed at start", me.mon.Target())
					}
				}
				r, _ := e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), nil)
				got := answerAddrs(r)
				sort.Strings(got)
				if r.Rcode != tt.rcode || strings.Join(got, ",") != strings.Join(tt.wantAddr, ",") {
					t.Fatalf("answer %v rcode %d, want %v rcode %d (%s)", got, r.Rcode, tt.wantAddr, tt.rcode, r.Explanation)
				}
				if len(tt.down) > 0 && len(r.Explanation.LeftOut) == 0 {
					t.Errorf("explanation lists no left-out members: %s", r.Explanation)
				}
				if v := testutil.MetricValue(t, reg, "dnsd_geo_answers_total", "decision", tt.decision); v != 1 {
					t.Errorf("dnsd_geo_answers_total{decision=%s} = %v, want 1", tt.decision, v)
				}
				for _, d := range tt.down {
					if v := testutil.MetricValue(t, reg, "dnsd_geo_member_up", "member", strings.TrimSuffix(d, ":80")); v != 0 {
						t.Errorf("dnsd_geo_member_up{member=%s} = %v, want 0", d, v)
					}
					if v := testutil.MetricValue(t, reg, "dnsd_geo_member_state_changes_total", "target", d, "state", "down"); v != 1 {
						t.Errorf("state changes to down for %s = %v, want 1", d, v)
					}
				}
			})
		})
	}
}

// TestHealthFailover: a member's checks start failing; it leaves the
// answers after fall intervals and comes back after rise intervals, on the
// clock of a synctest bubble (so a loaded machine cannot change it).
func TestHealthFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, rise, fall = time.Second, 2, 3
		euCheck, naCheck := "127.0.10.1:8404", "127.0.20.1:8404"
		cfg := Config{Names: []NameConfig{{
			Name: "www.example.test.", Default: "na",
			Health: HealthConfig{CheckConfig: health.CheckConfig{Type: "http", Path: "/readyz", Config: health.Config{Interval: interval, Timeout: interval / 2, Rise: rise, Fall: fall}}},
			Pools: []PoolConfig{
				{Name: "eu", Continents: []string{"EU"}, Members: []MemberConfig{{Address: "127.0.10.1", Check: euCheck}}},
				{Name: "na", Continents: []string{"NA"}, Members: []MemberConfig{{Address: "127.0.20.1", Check: naCheck}}},
			},
		}}}
		fc := &fakeChecker{err: map[string]error{}}
		e, err := New(cfg, demoLocator(t), nil, prometheus.NewRegistry(), WithChecker(func(HealthConfig) health.Checker { return fc }))
		if err != nil {
			t.Fatal(err)
		}
		e.Start(t.Context())
		defer e.Close()
		eu := func() bool {
			r, _ := e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), nil)
			a := answerAddrs(r)
			return len(a) == 1 && a[0] == "127.0.10.1"
		}
		synctest.Wait()
		if e.monitors[0].mon.State() != health.Up || !eu() {
			t.Fatal("EU member not up after its first check")
		}
		// Probes run at 0, 1s, 2s, …: failing from just after 0, the
		// member is down at the third failed probe, 3s.
		time.Sleep(interval / 2)
		fc.set(euCheck, errors.New("GET /readyz: status 503, want 2xx or 3xx"))
		start := time.Now()
		for eu() {
			time.Sleep(interval / 10)
			synctest.Wait() // the probes due by now have run
		}
		if took := time.Since(start); took > fall*interval {
			t.Errorf("member left the answers after %s, want within fall×interval = %s", took, fall*interval)
		}
		r, _ := e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), nil)
		if r.Explanation.Failover == "" || len(r.Explanation.LeftOut) != 1 || !strings.Contains(r.Explanation.LeftOut[0].Reason, euCheck) ||
			!strings.Contains(r.Explanation.LeftOut[0].Reason, "503") {
			t.Errorf("explanation after failover: %s", r.Explanation)
		}
		fc.set(euCheck, nil)
		start = time.Now()
		for !eu() {
			time.Sleep(interval / 10)
			synctest.Wait()
		}
		if took := time.Since(start); took > rise*interval {
			t.Errorf("member came back after %s, want within rise×interval = %s", took, rise*interval)
		}
	})
}

func TestStartCloseIdempotent(t *testing.T) {
	e, err := New(wwwConfig(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	e.Start(context.Background())
	e.Close()
	e.Close()
	// Without a locator every client gets the default pool.
	r, _ := e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), nil)
	if r.Explanation.Pool != "default" {
		t.Fatalf("nil locator: %s", r.Explanation)
	}
}

// TestMetricsSurviveReload: counters continue across engines registered
// with the same registry, and member gauges follow the newest started
// engine — not one built for a reload that was then refused.
func TestMetricsSurviveReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	loc := demoLocator(t)
	for i := 0; i < 2; i++ {
		e, err := New(wwwConfig(), loc, nil, reg)
		if err != nil {
			t.Fatalf("engine %d: %v", i, err)
		}
		e.Start(t.Context())
		e.Answer("www.example.test.", dns.TypeA, netip.MustParseAddr("127.0.10.5"), nil)
		e.Close()
	}
	other := wwwConfig()
	other.Names[0].Name = "other.example.test."
	if _, err := New(other, loc, nil, reg); err != nil { // built, never started
		t.Fatal(err)
	}
	if v := testutil.MetricValue(t, reg, "dnsd_geo_member_up", "name", "other.example.test."); v != 0 {
		t.Fatalf("an engine never started reports member_up: %v", v)
	}
	if v := testutil.MetricValue(t, reg, "dnsd_geo_answers_total", "pool", "eu", "decision", "matched"); v != 2 {
		t.Fatalf("answers after two engines = %v, want 2", v)
	}
	if v := testutil.MetricValue(t, reg, "dnsd_geo_member_up", "member", "127.0.10.1"); v != 1 {
		t.Fatalf("member_up = %v, want 1", v)
	}
}

func FuzzAnswer(f *testing.F) {
	f.Add(uint16(1), uint8(24), []byte{127, 0, 10, 0}, []byte{127, 0, 10, 5}, uint16(dns.TypeA))
	f.Add(uint16(2), uint8(48), []byte{0x20, 1, 2, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{127, 0, 0, 1}, uint16(dns.TypeAAAA))
	f.Add(uint16(1), uint8(0), []byte{}, []byte{127, 0, 20, 5}, uint16(dns.TypeA))
	f.Add(uint16(1), uint8(32), []byte{81, 2, 69, 142}, []byte{127, 0, 0, 1}, uint16(dns.TypeMX))
	f.Add(uint16(0), uint8(0), []byte(nil), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint16(dns.TypeA))
	e, err := New(wwwConfig(), demoLocator(f), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, family uint16, source uint8, addr, client []byte, qtype uint16) {
		c, ok := netip.AddrFromSlice(client)
		if !ok {
			c = netip.MustParseAddr("127.0.0.1")
		}
		var opt *dns.EDNS0_SUBNET
		if family != 0 || source != 0 || len(addr) > 0 {
			opt = &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, Address: net.IP(addr)}
		}
		r, ok := e.Answer("www.example.test.", qtype, c, opt)
		if !ok {
			t.Fatal("geo name not managed")
		}
		if r.Rcode == dns.RcodeFormatError {
			if _, err := ecs.Parse(opt); err == nil {
				t.Fatalf("FORMERR for an option ecs.Parse accepts: %v", opt)
			}
			return
		}
		if r.ECS != nil {
			limit := uint8(32)
			if r.ECS.Family == ecs.FamilyIPv6 {
				limit = 128
			}
			if r.ECS.SourceScope > limit || r.ECS.Family != opt.Family || r.ECS.SourceNetmask != opt.SourceNetmask {
				t.Fatalf("bad reply option %v for %v", r.ECS, opt)
			}
			if opt.SourceNetmask == 0 && r.ECS.SourceScope != 0 {
				t.Fatalf("opt-out got scope %d", r.ECS.SourceScope)
			}
		}
		if r.Explanation.Pool == "" {
			t.Fatalf("no pool: %s", r.Explanation)
		}
	})
}

// BenchmarkAnswer measures the per-query geo path; compare with
// BenchmarkPlainLookup (a map lookup returning a prebuilt RRset, roughly
// what a plain name costs in the same position).
func BenchmarkAnswer(b *testing.B) {
	e, err := New(wwwConfig(), demoLocator(b), nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		client netip.Addr
		opt    *dns.EDNS0_SUBNET
	}{
		{"source-address", netip.MustParseAddr("127.0.10.5"), nil},
		{"ecs", netip.MustParseAddr("127.0.0.1"), ecs.Option(netip.MustParsePrefix("81.2.69.0/24"))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, ok := e.Answer("www.example.test.", dns.TypeA, c.client, c.opt)
				if !ok || len(r.Answer) != 1 {
					b.Fatal("no answer")
				}
			}
		})
	}
	b.Run("weighted", func(b *testing.B) {
		cfg := Config{Names: []NameConfig{{Name: "canary.example.test.", Pools: []PoolConfig{{Name: "all", Members: []MemberConfig{{Address: "127.0.10.1", Weight: 90}, {Address: "127.0.10.2", Weight: 10}}}}}}}
		e, err := New(cfg, nil, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			e.Answer("canary.example.test.", dns.TypeA, netip.MustParseAddr("127.0.0.1"), nil)
		}
	})
}

func BenchmarkPlainLookup(b *testing.B) {
	rrs := map[string][]dns.RR{"www.example.test.": {makeRR("www.example.test.", 300, netip.MustParseAddr("127.0.0.1"))}}
	b.ReportAllocs()
	for b.Loop() {
		if len(rrs["www.example.test."]) != 1 {
			b.Fatal()
		}
	}
}
