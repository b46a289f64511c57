package dnsd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"netsim/dns/resolver"
	"netsim/internal/cfgerr"
	"netsim/internal/testutil"
)

func TestEmbeddedConfigLoads(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) < 4 || c.Admin.Listen != "127.0.0.1:9153" {
		t.Fatalf("unexpected default: %+v", c)
	}
	zs, err := c.LoadZones()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkServerZones(c, zs, nil); err != nil {
		t.Fatal(err)
	}
	// the documented YAML and the resolver's code defaults say the same
	// (printed, so that an empty YAML list equals a nil slice)
	if want := resolver.DefaultConfig(); fmt.Sprintf("%+v", c.Resolver) != fmt.Sprintf("%+v", want) {
		t.Errorf("configs/dnsd.yaml resolver section\n got %+v\nwant %+v", c.Resolver, want)
	}
}

func writeFile(t testing.TB, text string) string {
	p := filepath.Join(t.TempDir(), "dnsd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "logg:\n  level: info\n", "logg: unknown key"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"bad format", "log:\n  format: xml\n", "log.format"},
		{"bad admin address", "admin:\n  listen: nowhere\n", "admin.listen"},
		{"bad listener", "servers:\n  - listen: 127.0.0.1\n    zones: [\".\"]\n", "servers[0].listen"},
		{"duplicate listener", "servers:\n  - listen: 127.0.0.1:53\n    zones: [\".\"]\n  - listen: 127.0.0.1:53\n    zones: [\".\"]\n", "servers[1].listen"},
		{"listener with nothing to serve", "servers:\n  - listen: 127.0.0.1:53\n", "servers[0]"},
		{"not YAML", "servers: [\n", "config"},
		// the value and what was expected, not "time: unknown unit"
		{"bad duration", "resolver:\n  timeout: 5x\n", `resolver.timeout: "5x": not a duration such as 500ms, 2s or 1m`},
		{"bad geo duration", "geo:\n  ttl: fast\n", `geo.ttl: "fast": not a duration`},
		// a name's health keys come from internal/health.CheckConfig (squashed)
		{"bad geo health duration", "geo:\n  names:\n    - name: www.example.test.\n      health: {type: tcp, port: 80, interval: soon}\n",
			`geo.names[0].health.interval: "soon": not a duration`},
		{"unknown geo health key", "geo:\n  names:\n    - name: www.example.test.\n      health: {type: tcp, prot: 80}\n",
			"geo.names[0].health.prot: unknown key"},
		{"bad number", "resolver:\n  max_referrals: many\n", `resolver.max_referrals: "many": not a whole number`},
		{"bad bool", "admin:\n  pprof: maybe\n", `admin.pprof: "maybe": not true or false`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, c.yaml), nil)
			testutil.WantErr(t, "Load", err, c.want)
		})
	}
	t.Run("zone not loaded", func(t *testing.T) {
		c, err := Load(writeFile(t, "servers:\n  - listen: 127.0.0.1:0\n    zones: [\"nope.test.\"]\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(c, zap.NewNop())
		testutil.WantErr(t, "New", err, "servers[0].zones")
	})
}

func TestFileStartsFromBaseNotDemo(t *testing.T) {
	t.Setenv("DNSD_RESOLVER_PORT", "5353")
	c, err := Load(writeFile(t, "servers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 1 || len(c.Geo.Names) != 0 {
		t.Errorf("servers %v geo names %v: a file must not inherit the demo's lists", c.Servers, c.Geo.Names)
	}
	if c.Log.Level != "info" || c.Admin.Listen != "127.0.0.1:9153" || c.Resolver.Timeout != resolver.DefaultConfig().Timeout {
		t.Errorf("base settings missing: %+v", c)
	}
	if c.Resolver.Port != 5353 {
		t.Errorf("DNSD_RESOLVER_PORT not applied to a key the file leaves out: %d", c.Resolver.Port)
	}
}

func TestEnvAndFlagsOverride(t *testing.T) {
	t.Setenv("DNSD_LOG_LEVEL", "debug")
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--log-format", "json"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Fatalf("level %q format %q", c.Log.Level, c.Log.Format)
	}
}

func exchange(t *testing.T, addr, name string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newDaemon builds a Daemon, with a silent logger, from the config text
// ("": the embedded config).
func newDaemon(t testing.TB, text string) *Daemon {
	t.Helper()
	if text == "" {
		return loadDaemon(t, "")
	}
	return loadDaemon(t, writeFile(t, text))
}

// loadDaemon is newDaemon from the config file at path.
func loadDaemon(t testing.TB, path string) *Daemon {
	t.Helper()
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(c, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run runs d until the test ends and returns the address of its listener
// configured as 127.0.0.1:0.
func run(t *testing.T, d *Daemon) string {
	t.Helper()
	start(t, d)
	return d.Listeners()["127.0.0.1:0"]
}

// start runs d until stop is called or the test ends, and returns once
// it is ready; stop may be called more than once.
func start(t *testing.T, d *Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	exited := false
	stop = func() {
		once.Do(func() {
			cancel()
			if !exited {
				<-done
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-d.Ready():
	case err := <-done: // a Run that fails at start never gets ready
		exited = true
		t.Fatalf("Run ended before dnsd was ready: %v", err)
	}
	return stop
}

// writeZone writes dir/example.test.zone: an SOA, an NS with its address,
// and records.
func writeZone(t *testing.T, dir, records string) {
	t.Helper()
	text := "$TTL 60\n@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\n" + records
	if err := os.WriteFile(filepath.Join(dir, "example.test.zone"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadSwapsZonesAndKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	zone := func(addr string) { writeZone(t, dir, "www A "+addr+"\n") }
	zone("192.0.2.10")
	cfgText := "admin:\n  listen: 127.0.0.1:0\nzones:\n  dir: " + dir + "\nservers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"
	path := writeFile(t, cfgText)
	d := loadDaemon(t, path)
	addr := run(t, d)
	if r := exchange(t, addr, "www.example.test."); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
		t.Fatalf("before reload: %v", r.Answer)
	}
	zone("192.0.2.20")
	c2, _ := Load(path, nil)
	if err := d.Reload(c2); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, addr, "www.example.test."); r.Answer[0].(*dns.A).A.String() != "192.0.2.20" {
		t.Fatalf("after reload: %v", r.Answer)
	}
	// a broken zone: the reload is refused and the old data keeps serving
	if err := os.WriteFile(filepath.Join(dir, "example.test.zone"), []byte("$TTL 60\n@ SOA ns\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c3, _ := Load(path, nil)
	if err := d.Reload(c3); err == nil {
		t.Fatal("a broken zone was accepted")
	}
	if r := exchange(t, addr, "www.example.test."); r.Answer[0].(*dns.A).A.String() != "192.0.2.20" {
		t.Fatalf("after a failed reload: %v", r.Answer)
	}
}

// TestDemoGeoChecksReadiness: the demo's GeoDNS checks each regional lbd's
// readiness (GET /readyz on its admin port: 503 no_backend when its pool
// has none), not a TCP connect that passes while every backend is in
// maintenance.
func TestDemoGeoChecksReadiness(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	regional := 0
	for _, n := range c.Geo.Names {
		for _, p := range n.Pools {
			for _, m := range p.Members {
				if !strings.HasPrefix(m.Address, "127.0.10.") && !strings.HasPrefix(m.Address, "127.0.20.") && !strings.HasPrefix(m.Address, "127.0.30.") {
					continue
				}
				regional++
				if h := n.Health; h.Type != "http" || h.Path != "/readyz" || h.Port != 8404 {
					t.Errorf("geo name %s member %s: health %s port %d path %q, want http GET /readyz on the lbd admin port 8404", n.Name, m.Address, h.Type, h.Port, h.Path)
				}
			}
		}
	}
	if regional == 0 {
		t.Fatal("no regional lbd among the demo's geo members")
	}
}

// Every refused value is listed, one a line, not only the first.
func TestConfigErrorsAreAllListed(t *testing.T) {
	_, err := Load(writeFile(t, "log:\n  level: loud\n  format: xml\nservers:\n  - listen: 127.0.0.1:53\n    tcp_conns: -1\n"), nil)
	var list cfgerr.List
	if !errors.As(err, &list) {
		t.Fatalf("error %v, want a cfgerr.List", err)
	}
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	want := []string{"log.format", "log.level", "servers[0].tcp_conns", "servers[0]"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v (error %q)", keys, want, err)
	}
	if n := strings.Count(err.Error(), "\n"); n != len(want)-1 {
		t.Fatalf("error has %d line breaks, want %d: %q", n, len(want)-1, err)
	}
}
