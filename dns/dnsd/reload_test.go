package dnsd

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/geo"
)

// TestReloadIsAtomic: a reload that changes zones and GeoDNS together is
// refused as a whole when any one step fails — a bad zone file, a bad geo
// config, a bad GeoIP database, a listener address in use — and then the
// same answers are served as before (zone data and geo answer alike).
func TestReloadIsAtomic(t *testing.T) {
	dir := t.TempDir()
	zone := func(addr string) { writeZone(t, dir, "www A "+addr+"\ngeo A 198.51.100.250\n") }
	zone("192.0.2.10")
	db := filepath.Join(dir, "geo.mmdb")
	if err := geo.WriteDemoDB(db); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.mmdb")
	if err := os.WriteFile(bad, []byte("not a MaxMind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgText := "admin:\n  listen: 127.0.0.1:0\nzones:\n  dir: " + dir + "\nservers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n" +
		"geo:\n  database: " + db + "\n  names:\n    - name: geo.example.test.\n      pools:\n        - name: all\n          members: [{address: 198.51.100.1}]\n"
	path := writeFile(t, cfgText)
	load := func() Config {
		t.Helper()
		c, err := Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	d, err := New(load(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	addr := run(t, d)
	answers := func() (www, geoA string) {
		t.Helper()
		for _, q := range []struct {
			name string
			out  *string
		}{{"www.example.test.", &www}, {"geo.example.test.", &geoA}} {
			r := exchange(t, addr, q.name)
			if len(r.Answer) != 1 {
				t.Fatalf("%s: %v", q.name, r.Answer)
			}
			*q.out = r.Answer[0].(*dns.A).A.String()
		}
		return www, geoA
	}
	if w, g := answers(); w != "192.0.2.10" || g != "198.51.100.1" {
		t.Fatalf("before reloads: www %s geo %s", w, g)
	}
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	steps := []struct {
		name   string
		break_ func(c *Config) // makes one step fail; the rest of c changes zones and geo
	}{
		{"bad zone file", func(*Config) {
			if err := os.WriteFile(filepath.Join(dir, "example.test.zone"), []byte("$TTL 60\n@ SOA ns\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"bad geo config", func(c *Config) { c.Geo.Names[0].Pools[0].Members[0].Address = "not-an-address" }},
		{"bad mmdb", func(c *Config) { c.Geo.Database = bad }},
		{"listener address in use", func(c *Config) {
			c.Servers = append(c.Servers, ServerConfig{Listen: busy.LocalAddr().String(), Zones: []string{"example.test."}})
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			zone("192.0.2.20")
			c := load()
			c.Geo.Names[0].Pools[0].Members[0].Address = "198.51.100.2"
			s.break_(&c)
			if err := d.Reload(c); err == nil {
				t.Fatal("the reload was accepted")
			}
			if w, g := answers(); w != "192.0.2.10" || g != "198.51.100.1" {
				t.Fatalf("after a refused reload: www %s geo %s, want the old 192.0.2.10 and 198.51.100.1", w, g)
			}
			zone("192.0.2.10")
		})
	}
	// and a good reload changes both
	zone("192.0.2.20")
	c := load()
	c.Geo.Names[0].Pools[0].Members[0].Address = "198.51.100.2"
	if err := d.Reload(c); err != nil {
		t.Fatal(err)
	}
	if w, g := answers(); w != "192.0.2.20" || g != "198.51.100.2" {
		t.Fatalf("after a good reload: www %s geo %s", w, g)
	}
}
