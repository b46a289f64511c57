package world

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBuiltinWorld(t *testing.T) {
	c, err := Parse(DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		a, b string
		want time.Duration
	}{
		{"127.0.10.5", "127.0.10.1", 3 * time.Millisecond},
		{"127.0.10.5", "127.0.20.1", 40 * time.Millisecond},
		{"127.0.10.5", "127.0.30.1", 120 * time.Millisecond},
		{"127.0.30.9", "127.0.20.1", 80 * time.Millisecond},
		{"127.0.0.1", "127.0.1.1", 10 * time.Millisecond},
		{"127.0.0.1", "127.0.2.1", 25 * time.Millisecond},
		{"127.0.0.1", "127.0.3.1", 40 * time.Millisecond},
		{"127.0.0.1", "127.0.0.1", 0}, // one host: no distance
	}
	for _, tc := range cases {
		l, ok := w.Between(netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b))
		if !ok || l.Latency != tc.want {
			t.Errorf("%s→%s: %v %v, want %v", tc.a, tc.b, l.Latency, ok, tc.want)
		}
	}
	// the figure: an uncached resolution is root+TLD+auth round trips
	var sum time.Duration
	for _, s := range []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"} {
		l, _ := w.Between(netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr(s))
		sum += 2 * l.Latency
	}
	if sum < 100*time.Millisecond || sum > 200*time.Millisecond {
		t.Errorf("uncached resolution costs %v of round trips, want 100–200ms", sum)
	}
	if got := w.PlaceOf(netip.MustParseAddr("::ffff:127.0.30.7")); got != "as" {
		t.Errorf("PlaceOf(mapped 127.0.30.7) = %q, want as", got)
	}
	if got := w.PlaceOf(netip.MustParseAddr("10.1.2.3")); got != "" {
		t.Errorf("PlaceOf(10.1.2.3) = %q, want none", got)
	}
	if _, ok := w.Between(netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("127.0.0.1")); ok {
		t.Error("an address in no place has a link")
	}
}

func TestParseOffAndOverrides(t *testing.T) {
	for _, off := range []string{"world: off", "world: flat", "world: false"} {
		c, err := Parse([]byte(off))
		if err != nil || !c.Off {
			t.Errorf("%q: Off=%v err=%v", off, c.Off, err)
		}
		w, _ := New(c, Options{})
		if !w.Flat() {
			t.Errorf("%q: world not flat", off)
		}
	}
	for _, on := range []string{"", "other: 1", "world: on"} {
		c, err := Parse([]byte(on))
		if err != nil || c.Off {
			t.Errorf("%q: Off=%v err=%v", on, c.Off, err)
		}
	}
	c, err := Parse([]byte(`
world:
  links:
    - {between: [as, eu], latency: 800ms, loss_percent: 10, bandwidth: 1Mbit}
`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := w.Link("eu", "as")
	if l.Latency != 800*time.Millisecond || l.Loss != 0.1 || l.Bandwidth != 1e6 || l.Jitter != 2*time.Millisecond {
		t.Errorf("override: %+v (jitter from the default link)", l)
	}
	if l, _ := w.Link("eu", "na"); l.Latency != 40*time.Millisecond {
		t.Errorf("built-in link lost: %+v", l)
	}
	// own places: only their links and default apply
	c, err = Parse([]byte(`
world:
  places:
    - {name: a, prefixes: [127.0.50.0/24]}
    - {name: b, prefixes: [127.0.60.0/24, 127.0.61.0/24]}
  default: {latency: 7ms}
  links:
    - {between: [a, a], latency: 1ms, jitter: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	w, err = New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := w.Between(netip.MustParseAddr("127.0.50.1"), netip.MustParseAddr("127.0.61.1")); l.Latency != 7*time.Millisecond || l.Jitter != 0 {
		t.Errorf("a–b: %+v, want the default 7ms", l)
	}
	if got := w.PlaceOf(netip.MustParseAddr("127.0.10.1")); got != "" {
		t.Errorf("built-in place eu survived replacing places: %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml, key, expect string
	}{
		{"bad scalar", "world: maybe", "world", "off"},
		{"unknown key", "world: {plces: []}", "world.plces", "unknown key"},
		{"unknown link key", "world: {links: [{between: [eu, as], latncy: 3ms}]}", "world.links[0].latncy", "unknown key"},
		{"bad latency", "world: {links: [{between: [eu, as], latency: fast}]}", "world.links[0].latency", "duration"},
		{"negative latency", "world: {links: [{between: [eu, as], latency: -3ms}]}", "world.links[0].latency", "from 0"},
		{"huge latency", "world: {links: [{between: [eu, as], latency: 40s}]}", "world.links[0].latency", "10s"},
		{"jitter above latency", "world: {links: [{between: [eu, as], latency: 3ms, jitter: 5ms}]}", "world.links[0].jitter", "at most the latency"},
		{"loss", "world: {links: [{between: [eu, as], loss_percent: 120}]}", "world.links[0].loss_percent", "0 to 100"},
		{"bandwidth", "world: {links: [{between: [eu, as], bandwidth: fast}]}", "world.links[0].bandwidth", "100Mbit"},
		{"tiny bandwidth", "world: {links: [{between: [eu, as], bandwidth: 10bit}]}", "world.links[0].bandwidth", "1kbit"},
		{"unknown place", "world: {links: [{between: [eu, mars]}]}", "world.links[0].between[1]", "not a place"},
		{"one place", "world: {links: [{between: [eu]}]}", "world.links[0].between", "two place names"},
		{"same pair twice", "world: {links: [{between: [eu, as]}, {between: [as, eu]}]}", "world.links[1].between", "already set"},
		{"bad place name", "world: {places: [{name: EU, prefixes: [127.0.10.0/24]}]}", "world.places[0].name", "lowercase"},
		{"duplicate place", "world: {places: [{name: a, prefixes: [127.0.10.0/24]}, {name: a, prefixes: [127.0.11.0/24]}]}", "world.places[1].name", "already defined"},
		{"no prefixes", "world: {places: [{name: a}]}", "world.places[0].prefixes", "at least one"},
		{"bad prefix", "world: {places: [{name: a, prefixes: [127.0.10.1]}]}", "world.places[0].prefixes[0]", "address prefix"},
		{"host bits", "world: {places: [{name: a, prefixes: [127.0.10.1/24]}]}", "world.places[0].prefixes[0]", "127.0.10.0/24"},
		{"overlap", "world: {places: [{name: a, prefixes: [127.0.0.0/16]}, {name: b, prefixes: [127.0.10.0/24]}]}", "world.places[1].prefixes[0]", "overlaps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err == nil {
				_, err = New(c, Options{})
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.Key != tc.key || !strings.Contains(ce.Expected, tc.expect) {
				t.Errorf("got %q, want key %s and %q in the expectation", err, tc.key, tc.expect)
			}
		})
	}
}

func TestBandwidthUnits(t *testing.T) {
	for s, want := range map[string]Bandwidth{"100Mbit": 1e8, "1.5Gbit/s": 1.5e9, "800kbit": 8e5, "10mbps": 1e7, "unlimited": 0, "0": 0} {
		got, err := ParseBandwidth(s)
		if err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %v, %v; want %v", s, got, err, want)
		}
		if back, err := ParseBandwidth(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q via %q = %v, %v", s, got.String(), back, err)
		}
	}
	if d := Bandwidth(8e6).transmit(1e6); d != time.Second {
		t.Errorf("1 MB at 8Mbit = %v, want 1s", d)
	}
}
