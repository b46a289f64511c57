package world

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"
)

var (
	resolverIP = netip.MustParseAddr("127.0.0.1")
	authIP     = netip.MustParseAddr("127.0.3.1")
	euClient   = netip.MustParseAddr("127.0.10.5")
	asServer   = netip.MustParseAddr("127.0.30.1")
)

// testWorld is the built-in world with a seeded RNG and extra links.
func testWorld(t testing.TB, yaml string, o Options) *World {
	t.Helper()
	c, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	w, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestFlatIsZero(t *testing.T) {
	var nilWorld *World
	flat := testWorld(t, "world: off", Options{})
	for name, w := range map[string]*World{"nil": nilWorld, "off": flat} {
		if rtt, drop := w.Path(euClient, asServer); rtt != 0 || drop {
			t.Errorf("%s: Path = %v %v", name, rtt, drop)
		}
		if d, drop := w.OneWay(euClient, asServer); d != 0 || drop {
			t.Errorf("%s: OneWay = %v %v", name, d, drop)
		}
		if _, err := w.SetLink("eu", "as", Change{}); !errors.Is(err, ErrFlat) {
			t.Errorf("%s: SetLink err = %v, want ErrFlat", name, err)
		}
		if !w.Flat() || !w.View().Flat {
			t.Errorf("%s: not flat", name)
		}
	}
	if n := testing.AllocsPerRun(100, func() { flat.Path(euClient, asServer) }); n != 0 {
		t.Errorf("flat Path allocates %v times", n)
	}
	on := testWorld(t, "", Options{})
	if n := testing.AllocsPerRun(100, func() { on.Path(euClient, asServer) }); n != 0 {
		t.Errorf("Path allocates %v times with the world on", n)
	}
}

func TestPathJitterStaysInBounds(t *testing.T) {
	w := testWorld(t, "", Options{})
	l, _ := w.Link("eu", "as")
	var sum time.Duration
	const n = 2000
	for i := 0; i < n; i++ {
		rtt, _ := w.Path(euClient, asServer)
		if lo, hi := 2*(l.Latency-l.Jitter), 2*(l.Latency+l.Jitter); rtt < lo || rtt > hi {
			t.Fatalf("rtt %v outside [%v, %v]", rtt, lo, hi)
		}
		sum += rtt
	}
	if mean := sum / n; math.Abs(float64(mean-2*l.Latency)) > float64(l.Jitter)/5 {
		t.Errorf("mean rtt %v, want about %v (jitter is centred)", mean, 2*l.Latency)
	}
}

// TestLossRate: 5,000 seeded exchanges over a 10 % link lose 1−0.9² = 19 %
// of them (the query or the reply), and 5,000 single packets 10 %, each
// within ±2 points.
func TestLossRate(t *testing.T) {
	w := testWorld(t, "world: {links: [{between: [resolver, auth], loss_percent: 10}]}", Options{Seed: 42})
	const n = 5000
	var rt, ow int
	for i := 0; i < n; i++ {
		if _, drop := w.Path(resolverIP, authIP); drop {
			rt++
		}
		if _, drop := w.OneWay(resolverIP, authIP); drop {
			ow++
		}
	}
	check := func(what string, got int, want float64) {
		if p := float64(got) / n * 100; math.Abs(p-want) > 2 {
			t.Errorf("%s: %.1f%% lost, want %.0f%% ± 2", what, p, want)
		}
	}
	check("round trips", rt, 19)
	check("one way", ow, 10)
	// and a lossless link loses nothing
	for i := 0; i < n; i++ {
		if _, drop := w.Path(euClient, asServer); drop {
			t.Fatal("a lossless link dropped a packet")
		}
	}
}

func TestChangesEmitEvents(t *testing.T) {
	var got []Event
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	w := testWorld(t, "", Options{OnEvent: func(e Event) { got = append(got, e) }, Now: func() time.Time { return at }})
	lat, loss := 800*time.Millisecond, 10.0
	l, err := w.SetLink("as", "eu", Change{Latency: &lat, LossPercent: &loss})
	if err != nil || l.Latency != lat || l.Loss != 0.1 {
		t.Fatalf("SetLink = %+v, %v", l, err)
	}
	if back, _ := w.Link("eu", "as"); back != l {
		t.Errorf("the link is not symmetric: %+v vs %+v", back, l)
	}
	if rtt, _ := w.Path(euClient, asServer); rtt < 1500*time.Millisecond {
		t.Errorf("Path after the change = %v, want about 1.6s", rtt)
	}
	if !w.Overridden("eu", "as") || w.Overridden("eu", "na") {
		t.Error("Overridden wrong")
	}
	if _, err := w.ResetLink("eu", "as"); err != nil {
		t.Fatal(err)
	}
	if l, _ := w.Link("eu", "as"); l.Latency != 120*time.Millisecond {
		t.Errorf("after reset: %v", l.Latency)
	}
	_, _ = w.SetLink("eu", "na", Change{LossPercent: &loss})
	if err := w.ResetLinks(); err != nil {
		t.Fatal(err)
	}
	if w.Overridden("eu", "na") {
		t.Error("ResetLinks left an override")
	}
	want := []struct{ kind, a, b string }{{LinkChanged, "as", "eu"}, {LinkReset, "eu", "as"}, {LinkChanged, "eu", "na"}, {LinksReset, "", ""}}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].A != w.a || got[i].B != w.b || !got[i].Time.Equal(at) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], w)
		}
	}
	if got[0].Before.LatencyMs != 120 || got[0].After.LatencyMs != 800 || !got[0].After.Overridden || got[0].Before.Overridden {
		t.Errorf("first event's before/after: %+v / %+v", got[0].Before, got[0].After)
	}
	// refused changes emit nothing and change nothing
	n := len(got)
	neg, big := -time.Millisecond, time.Second
	for _, c := range []Change{{Latency: &neg}, {Jitter: &big}, {LossPercent: new(150.0)}} {
		var ce *ConfigError
		if _, err := w.SetLink("eu", "as", c); !errors.As(err, &ce) {
			t.Errorf("SetLink(%+v) err = %v, want *ConfigError", c, err)
		}
	}
	var up *UnknownPlaceError
	if _, err := w.SetLink("eu", "mars", Change{}); !errors.As(err, &up) || up.Name != "mars" {
		t.Errorf("unknown place: %v", err)
	}
	if len(got) != n || w.Overridden("eu", "as") {
		t.Errorf("a refused change emitted an event or changed the link")
	}
}
