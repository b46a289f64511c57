package geo

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

// sharedGeoIP is where CI keeps MaxMind's real test databases, relative to
// this package: <repo>/../shared/geoip.
const sharedGeoIP = "../../../shared/geoip"

func writeFixture(t testing.TB, networks []DemoNetwork) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := WriteDB(p, networks); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDemoDBLocate(t *testing.T) {
	m := demoLocator(t)
	tests := []struct {
		addr      string
		found     bool
		country   string
		continent string
		network   string
	}{
		{"127.0.10.5", true, "GB", "EU", "127.0.10.0/24"},
		{"127.0.20.5", true, "US", "NA", "127.0.20.0/24"},
		{"127.0.30.5", true, "JP", "AS", "127.0.30.0/24"},
		{"::ffff:127.0.10.5", true, "GB", "EU", "127.0.10.0/24"},
		{"81.2.69.142", true, "GB", "EU", "81.2.69.142/31"},
		{"81.2.69.143", true, "GB", "EU", "81.2.69.142/31"},
		{"81.2.69.170", true, "GB", "EU", "81.2.69.160/27"},
		{"89.160.20.120", true, "SE", "EU", "89.160.20.112/28"},
		{"216.160.83.60", true, "US", "NA", "216.160.83.56/29"},
		{"2001:218::1", true, "JP", "AS", "2001:218::/32"},
		{"2001:220:ffff::1", true, "KR", "AS", "2001:220::/32"},
		// Not in the database: no location, but the empty network around
		// the address is known (it bounds an ECS scope).
		{"127.0.40.5", false, "", "", "127.0.32.0/19"},
		{"127.0.0.1", false, "", "", "127.0.0.0/21"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			loc, ok := m.Locate(netip.MustParseAddr(tt.addr))
			if ok != tt.found || loc.Country != tt.country || loc.Continent != tt.continent || loc.Network.String() != tt.network {
				t.Fatalf("Locate = %+v %v, want %s/%s %s %v", loc, ok, tt.country, tt.continent, tt.network, tt.found)
			}
			// Second lookup comes from the record cache and must agree.
			loc2, ok2 := m.Locate(netip.MustParseAddr(tt.addr))
			if loc2 != loc || ok2 != ok {
				t.Fatalf("cached Locate = %+v %v, first %+v %v", loc2, ok2, loc, ok)
			}
		})
	}
	info := m.Info()
	if info.Type != "GeoLite2-City" || info.NodeCount == 0 || filepath.Base(info.Path) != "demo.mmdb" {
		t.Errorf("Info = %+v", info)
	}
}

func TestMaxMindReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := writeFixture(t, []DemoNetwork{{"127.0.10.0/24", "GB", "EU", ""}})
	m, err := OpenMaxMind(p, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("127.0.10.5")
	country := func() string { l, _ := m.Locate(a); return l.Country }
	if country() != "GB" {
		t.Fatalf("initial country %q", country())
	}
	bump := func(path string, d time.Duration) {
		t.Helper()
		at := time.Now().Add(d)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}

	// Unchanged file: nothing to do.
	if changed, err := m.Reload(); changed || err != nil {
		t.Fatalf("Reload of unchanged file = %v, %v", changed, err)
	}

	// A valid new file is swapped in.
	if err := WriteDB(p, []DemoNetwork{{"127.0.10.0/24", "FR", "EU", ""}}); err != nil {
		t.Fatal(err)
	}
	bump(p, time.Second)
	if changed, err := m.Reload(); !changed || err != nil {
		t.Fatalf("Reload of new file = %v, %v", changed, err)
	}
	if country() != "FR" {
		t.Fatalf("after reload country %q, want FR", country())
	}

	// Corrupt replacements are refused and the old database keeps serving.
	corrupt := map[string][]byte{
		"empty":     {},
		"garbage":   []byte(strings.Repeat("not a maxmind db\n", 100)),
		"truncated": nil, // filled below
	}
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	corrupt["truncated"] = good[:len(good)/2]
	for _, f := range []string{"GeoIP2-City-Test-Broken-Double-Format.mmdb", "GeoIP2-City-Test-Invalid-Node-Count.mmdb", "GeoLite2-ASN-Test.mmdb"} {
		if b, err := os.ReadFile(filepath.Join(sharedGeoIP, f)); err == nil {
			corrupt[f] = b
		}
	}
	errorsBefore := testutil.MetricValue(t, reg, "dnsd_geo_db_reloads_total", "result", "error")
	n := 0
	for name, data := range corrupt {
		t.Run("refuses "+name, func(t *testing.T) {
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
			bump(p, time.Duration(n+1)*time.Second)
			changed, err := m.Reload()
			if changed || err == nil {
				t.Fatalf("Reload of %s = %v, %v; want refused", name, changed, err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			if country() != "FR" {
				t.Fatalf("after refused reload country %q, want FR (old database)", country())
			}
			if m.Info().LastError == "" {
				t.Error("Info().LastError is empty after a refused reload")
			}
			// The same bad file is not retried (and not re-logged) until it changes.
			if _, err2 := m.Reload(); err2 == nil {
				t.Error("second Reload of the same bad file returned no error")
			}
		})
	}
	if got := testutil.MetricValue(t, reg, "dnsd_geo_db_reloads_total", "result", "error") - errorsBefore; got != float64(len(corrupt)) {
		t.Errorf("dnsd_geo_db_reloads_total{result=error} grew by %v, want %d", got, len(corrupt))
	}
	// A good file again clears the error.
	if err := WriteDB(p, []DemoNetwork{{"127.0.10.0/24", "DE", "EU", ""}}); err != nil {
		t.Fatal(err)
	}
	bump(p, time.Hour)
	if changed, err := m.Reload(); !changed || err != nil {
		t.Fatalf("Reload after repair = %v, %v", changed, err)
	}
	if country() != "DE" || m.Info().LastError != "" {
		t.Fatalf("after repair country %q last error %q", country(), m.Info().LastError)
	}
}

func TestMaxMindWatch(t *testing.T) {
	p := writeFixture(t, []DemoNetwork{{"127.0.10.0/24", "GB", "EU", ""}})
	m, err := OpenMaxMind(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Watch(ctx, 10*time.Millisecond); close(done) }()
	if err := WriteDB(p, []DemoNetwork{{"127.0.10.0/24", "IE", "EU", ""}}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "Watch to pick up the new file", 10*time.Second, func() bool {
		l, _ := m.Locate(netip.MustParseAddr("127.0.10.1"))
		return l.Country == "IE"
	})
	cancel()
	<-done
}

func TestOpenMaxMindErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenMaxMind(filepath.Join(dir, "missing.mmdb"), nil, nil); err == nil {
		t.Error("missing file: no error")
	}
	bad := filepath.Join(dir, "bad.mmdb")
	if err := os.WriteFile(bad, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMaxMind(bad, nil, nil); err == nil {
		t.Error("garbage file: no error")
	}
}

// TestRealMaxMindTestDatabases reads MaxMind's own test databases (real
// files, not ones this package wrote) for the addresses their README lists.
func TestRealMaxMindTestDatabases(t *testing.T) {
	if _, err := os.Stat(sharedGeoIP); err != nil {
		t.Skip("skipped: ../shared/geoip not present")
	}
	known := []struct {
		addr, country, continent, network string
		cityOnly                          bool // missing from GeoLite2-Country-Test despite the README
	}{
		{"81.2.69.142", "GB", "EU", "81.2.69.142/31", false},
		{"81.2.69.170", "GB", "EU", "81.2.69.160/27", false},
		{"2.125.160.217", "GB", "EU", "2.125.160.216/29", false},
		{"89.160.20.115", "SE", "EU", "89.160.20.112/28", false},
		{"216.160.83.57", "US", "NA", "216.160.83.56/29", false},
		{"175.16.199.7", "CN", "AS", "175.16.199.0/24", true},
		{"67.43.156.9", "BT", "AS", "67.43.156.0/24", false},
		{"202.196.224.1", "PH", "AS", "202.196.224.0/20", false},
		{"2001:218::7", "JP", "AS", "2001:218::/32", false},
		{"2001:220::7", "KR", "AS", "2001:220::/32", false},
	}
	for _, file := range []string{"GeoLite2-City-Test.mmdb", "GeoLite2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb"} {
		t.Run(file, func(t *testing.T) {
			m, err := OpenMaxMind(filepath.Join(sharedGeoIP, file), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range known {
				if k.cityOnly && strings.Contains(file, "Country") {
					continue
				}
				loc, ok := m.Locate(netip.MustParseAddr(k.addr))
				if !ok || loc.Country != k.country || loc.Continent != k.continent || loc.Network.String() != k.network {
					t.Errorf("%s: Locate = %+v %v, want %s/%s in %s", k.addr, loc, ok, k.country, k.continent, k.network)
				}
			}
			for _, a := range []string{"8.8.8.8", "127.0.0.1", "::1"} {
				loc, ok := m.Locate(netip.MustParseAddr(a))
				if ok || loc.Country != "" {
					t.Errorf("%s: Locate = %+v %v, want not found", a, loc, ok)
				}
				if !loc.Network.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s: network %s does not contain the address", a, loc.Network)
				}
			}
		})
	}
	refused := []struct{ file, why string }{
		{"GeoIP2-City-Test-Broken-Double-Format.mmdb", "corrupt"},
		{"GeoIP2-City-Test-Invalid-Node-Count.mmdb", "metadata"},
		{"GeoLite2-ASN-Test.mmdb", "no country data"},
	}
	for _, r := range refused {
		t.Run(r.file, func(t *testing.T) {
			_, err := OpenMaxMind(filepath.Join(sharedGeoIP, r.file), nil, nil)
			if err == nil {
				t.Fatalf("%s loaded; want a clear error", r.file)
			}
			if !strings.Contains(err.Error(), r.why) || !strings.Contains(err.Error(), r.file) {
				t.Errorf("error %q should name the file and say %q", err, r.why)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
}

func BenchmarkMaxMindLocate(b *testing.B) {
	m := demoLocator(b)
	addrs := []netip.Addr{netip.MustParseAddr("127.0.10.5"), netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2001:218::1")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Locate(addrs[i%len(addrs)])
	}
}

// The network cache answers as the tree walk does, for neighbours in one
// /24 (or /48) that lie in different networks of the database, in any
// order: a hit needs the cached network to hold the address.
func TestLocateNetworkCache(t *testing.T) {
	m := demoLocator(t)
	var addrs []netip.Addr
	for _, s := range []string{"81.2.69.0", "81.2.69.141", "81.2.69.142", "81.2.69.143", "81.2.69.144", "81.2.69.160",
		"81.2.69.170", "81.2.69.191", "81.2.69.192", "127.0.10.5", "127.0.10.200", "127.0.20.1", "8.8.8.8",
		"2001:218::1", "2001:218:0:ffff::1", "2001:db8::1", "::ffff:81.2.69.142", "216.160.83.56", "216.160.83.63", "216.160.83.64"} {
		addrs = append(addrs, netip.MustParseAddr(s))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		r.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		for _, a := range addrs {
			got, gotFound := m.Locate(a)
			want, wantFound, _ := m.cur.Load().lookup(a.Unmap())
			if got != want || gotFound != wantFound {
				t.Fatalf("%s: cached %+v %v, the tree walk %+v %v", a, got, gotFound, want, wantFound)
			}
		}
	}
}
