package rrl

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

func newTest(t *testing.T, cfg Config, logOnly bool) (*Limiter, *testutil.Clock) {
	t.Helper()
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	l, err := New(cfg, logOnly, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

// The acceptance arithmetic on an injected clock: 20 sources of one /24
// send one query at 20,000 q/s for 5 s; the prefix gets the configured rate
// (a second's burst first), half of the rest slip (slip 2); a client of
// another /24 and a client with a valid cookie are answered every time.
func TestFloodCutToRate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ResponsesPerSecond = 100
	l, clk := newTest(t, cfg, false)
	const qps, secs, sources = 20000, 5, 20
	name := "www.example.test."
	h := Hash(name)
	var got [3]int // Send, Drop, Slip
	other, otherSent, cookieSent := 0, 0, 0
	for i := 0; i < qps*secs; i++ {
		src := netip.AddrFrom4([4]byte{127, 0, 50, byte(1 + i%sources)})
		a, _ := l.Check(src, Response, name, h, 1, false)
		got[a]++
		if i%100 == 0 { // 200 q/s from another /24, and 200 q/s with a cookie from the flooded one
			other++
			if a, _ := l.Check(netip.MustParseAddr("127.0.60.7"), Response, name, h, 1, false); a == Send {
				otherSent++
			}
			if a, _ := l.Check(netip.MustParseAddr("127.0.50.99"), Response, name, h, 1, true); a == Send {
				cookieSent++
			}
		}
		clk.Advance(time.Second / qps)
	}
	t.Logf("flooded /24: %d q in %d s: %d answered, %d dropped, %d slipped; other /24 %d of %d; cookie %d of %d",
		qps*secs, secs, got[Send], got[Drop], got[Slip], otherSent, other, cookieSent, other)
	// a second's burst (100), then 100 a second: 600 in 5 s, ±1 for the edges
	want := cfg.ResponsesPerSecond * (secs + 1)
	if got[Send] < want-1 || got[Send] > want+1 {
		t.Errorf("flooded prefix: %d answers in %d s, want %d (rate %d/s and one second's burst)", got[Send], secs, want, cfg.ResponsesPerSecond)
	}
	limited := got[Drop] + got[Slip]
	if d := got[Slip] - limited/2; d < -1 || d > 1 {
		t.Errorf("slips %d of %d limited, want half (slip 2)", got[Slip], limited)
	}
	// 200 q/s against a rate of 100 from the other /24: its own account
	if otherSent < 100*(secs+1)-1 {
		t.Errorf("other /24: %d of %d answered, want its own rate's worth (%d)", otherSent, other, 100*(secs+1))
	}
	if cookieSent != other {
		t.Errorf("valid cookie from the flooded /24: %d of %d answered, want all", cookieSent, other)
	}
}

// A client below the rate is never limited, however long it runs; one at
// the rate exactly neither.
func TestBelowRateNeverLimited(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ResponsesPerSecond = 50
	l, clk := newTest(t, cfg, false)
	c := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 50*60; i++ {
		if a, v := l.Check(c, Response, "a.", Hash("a."), 1, false); a != Send {
			t.Fatalf("query %d at exactly the rate: %v %v, want answered", i, a, v)
		}
		clk.Advance(time.Second / 50)
	}
}

func TestKindsAndKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ResponsesPerSecond, cfg.NXDomainsPerSecond, cfg.ErrorsPerSecond, cfg.ReferralsPerSecond = 5, 3, 2, 0
	cfg.Slip = 0
	l, _ := newTest(t, cfg, false)
	c := netip.MustParseAddr("198.51.100.9")
	count := func(kind Kind, name string, qtype uint16, n int) (sent int) {
		for i := 0; i < n; i++ {
			if a, _ := l.Check(c, kind, name, Hash(name), qtype, false); a == Send {
				sent++
			}
		}
		return sent
	}
	for _, tc := range []struct {
		name  string
		kind  Kind
		owner string
		qtype uint16
		want  int
	}{
		{"answers of one name and type", Response, "www.example.test.", 1, 5},
		{"same name, other type: its own account", Response, "www.example.test.", 28, 5},
		{"same name in another case: the same account", Response, "WWW.Example.TEST.", 1, 0},
		{"nxdomains keyed by zone", NXDomain, "example.test.", 1, 3},
		{"errors: one account for the prefix", Error, "a.", 1, 2},
		{"errors for another name share it", Error, "b.", 2, 0},
		{"referrals at rate 0: unlimited", Referral, "sub.example.test.", 2, 20},
	} {
		if got := count(tc.kind, tc.owner, tc.qtype, 20); got != tc.want {
			t.Errorf("%s: %d of 20 sent, want %d", tc.name, got, tc.want)
		}
	}
	// the same /24 from another address shares the account; another /24 does not
	if a, _ := l.Check(netip.MustParseAddr("198.51.100.200"), Response, "www.example.test.", Hash("www.example.test."), 1, false); a != Drop {
		t.Errorf("same /24, other address: %v, want dropped (slip 0)", a)
	}
	if a, _ := l.Check(netip.MustParseAddr("198.51.101.9"), Response, "www.example.test.", Hash("www.example.test."), 1, false); a != Send {
		t.Errorf("other /24: %v, want sent", a)
	}
	// IPv6: a /56
	v6 := func(s string) Action {
		a, _ := l.Check(netip.MustParseAddr(s), Response, "x.", Hash("x."), 1, false)
		return a
	}
	for i := 0; i < 5; i++ {
		v6("2001:db8:0:ff::1")
	}
	if v6("2001:db8:0:ab::2") != Drop || v6("2001:db8:0:100::1") != Send {
		t.Errorf("IPv6 accounts are not per /56")
	}
}

func TestSlipRatio(t *testing.T) {
	for _, slip := range []int{0, 1, 2, 3} {
		cfg := DefaultConfig()
		cfg.ResponsesPerSecond, cfg.Slip = 1, slip
		l, _ := newTest(t, cfg, false)
		c := netip.MustParseAddr("203.0.113.1")
		l.Check(c, Response, "n.", 1, 1, false)
		slips := 0
		for i := 0; i < 60; i++ {
			a, _ := l.Check(c, Response, "n.", 1, 1, false)
			if a == Send {
				t.Fatalf("slip %d: answered without credit", slip)
			}
			if a == Slip {
				slips++
			}
		}
		want := 0
		if slip > 0 {
			want = 60 / slip
		}
		if slips != want {
			t.Errorf("slip %d: %d of 60 limited went out truncated, want %d", slip, slips, want)
		}
	}
}

func TestExemptAndLogOnly(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ResponsesPerSecond = 1
	cfg.Exempt = []string{"127.0.0.1", "10.0.0.0/8"}
	l, _ := newTest(t, cfg, false)
	for _, tc := range []struct {
		addr string
		want Verdict
	}{{"127.0.0.1", ExemptPrefix}, {"10.9.8.7", ExemptPrefix}, {"127.0.0.2", Dropped}} {
		var v Verdict
		for i := 0; i < 5; i++ {
			_, v = l.Check(netip.MustParseAddr(tc.addr), Response, "n.", 1, 1, false)
		}
		if tc.want == Dropped && v != Dropped && v != Slipped || tc.want != Dropped && v != tc.want {
			t.Errorf("%s: verdict %v, want %v", tc.addr, v, tc.want)
		}
	}
	lo, _ := newTest(t, cfg, true)
	for i := 0; i < 10; i++ {
		a, v := lo.Check(netip.MustParseAddr("192.0.2.1"), Response, "n.", 1, 1, false)
		if a != Send || (i > 0 && v != Logged) {
			t.Fatalf("log-only, query %d: %v %v, want sent (logged past the first)", i, a, v)
		}
	}
	if got, _ := lo.Limited(); len(got) != 1 || got[0].Limited != 9 {
		t.Errorf("log-only lists %+v, want one account limited 9 times", got)
	}
}

func TestLimitedListAndWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ResponsesPerSecond, cfg.Window = 2, 10*time.Second
	l, clk := newTest(t, cfg, false)
	c := netip.MustParseAddr("127.0.50.3")
	for i := 0; i < 10; i++ {
		l.Check(c, Response, "www.example.test.", Hash("www.example.test."), 1, false)
	}
	got, n := l.Limited()
	if len(got) != 1 || n != 1 || got[0].Prefix.String() != "127.0.50.0/24" || got[0].Name != "www.example.test." || got[0].Limited != 8 || got[0].Answered != 2 {
		t.Fatalf("limited = %+v (%d accounts), want 127.0.50.0/24 www.example.test. limited 8, answered 2", got, n)
	}
	clk.Advance(11 * time.Second)
	if got, _ := l.Limited(); len(got) != 0 {
		t.Errorf("a window after the last limited response still listed: %+v", got)
	}
}

func TestTableBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxEntries = 160
	l, clk := newTest(t, cfg, false)
	for i := 0; i < 5000; i++ {
		n := fmt.Sprintf("n%d.", i)
		l.Check(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), Response, n, Hash(n), 1, false)
		clk.Advance(time.Millisecond)
	}
	if _, n := l.Limited(); n > cfg.MaxEntries {
		t.Errorf("%d accounts kept, want at most max_entries %d", n, cfg.MaxEntries)
	}
}

func TestValidate(t *testing.T) {
	bad := DefaultConfig()
	bad.ResponsesPerSecond, bad.Window, bad.Slip, bad.IPv4PrefixLength, bad.Exempt = -1, 0, 11, 33, []string{"nope"}
	err := bad.Validate()
	for _, want := range []string{"responses_per_second: -1", "window: 0s", "slip: 11", "ipv4_prefix_length: 33", `exempt[0]: "nope"`} {
		testutil.WantErr(t, "Validate", err, want)
	}
	testutil.WantErr(t, "Validate of the defaults", DefaultConfig().Validate(), "")
	if CheckMode("servers[0].rrl", "maybe") == nil {
		t.Error("mode maybe accepted")
	}
	for _, tc := range []struct {
		mode      string
		recursion bool
		on, log   bool
	}{{"", false, true, false}, {"auto", true, false, false}, {"on", true, true, false}, {"log-only", false, true, true}, {"off", false, false, false}} {
		if on, lo := Active(tc.mode, tc.recursion); on != tc.on || lo != tc.log {
			t.Errorf("Active(%q, recursion %v) = %v, %v; want %v, %v", tc.mode, tc.recursion, on, lo, tc.on, tc.log)
		}
	}
}

func TestMetricsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.ResponsesPerSecond, cfg.Slip = 1, 1
	clk := testutil.NewClock(time.Unix(0, 0))
	l, err := New(cfg, false, WithClock(clk.Now), WithCounters(NewMetrics(reg).For("a:53")))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		l.Check(netip.MustParseAddr("192.0.2.1"), Response, "n.", 1, 1, false)
	}
	l.Check(netip.MustParseAddr("192.0.2.1"), Response, "n.", 1, 1, true)
	for verdict, want := range map[string]float64{"answered": 1, "slipped": 2, "exempt_cookie": 1} {
		if got := testutil.MetricValue(t, reg, "dnsd_rrl_responses_total", "server", "a:53", "kind", "responses", "verdict", verdict); got != want {
			t.Errorf("dnsd_rrl_responses_total{verdict=%s} = %v, want %v", verdict, got, want)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	l, _ := New(DefaultConfig(), false)
	c := netip.MustParseAddr("127.0.50.1")
	h := Hash("www.example.test.")
	b.ReportAllocs()
	for b.Loop() {
		l.Check(c, Response, "www.example.test.", h, 1, false)
	}
}
