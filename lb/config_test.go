package lb

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestExampleConfigEqualsDefault(t *testing.T) {
	got, err := LoadConfig(filepath.Join("..", "configs", "lbd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("configs/lbd.yaml and the embedded default differ:\n%+v\n%+v", got, want)
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	p := c.Pools[0]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"frontend", c.Frontends[0].Listen, "127.0.0.1:8080"},
		{"admin", c.Admin.Listen, "127.0.0.1:8404"},
		{"pool", p.Name, "web"},
		{"policy", p.Policy, "round_robin"},
		{"backends", len(p.Backends), 3},
		{"b3", p.Backends[2].Address, "127.0.0.1:9003"},
		{"weight default", *p.Backends[0].Weight, 1},
		{"retries default", *p.Retries, 1},
		{"cookie name", p.Sticky.Cookie, "lb_web"},
		{"sticky cookie on (curl -c jar -b jar sticks; plain curl round-robins)", p.Sticky.Mode, "cookie"},
		{"cookie ttl", p.Sticky.TTL, time.Hour},
		{"health interval", p.Health.Interval, 2 * time.Second},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

var badConfigs = []struct {
	name string
	yaml string
	want []string // key, value and reason fragments
}{
	{"unknown policy", "pools: [{name: web, policy: fastest, backends: [{id: a, address: '127.0.0.1:1'}]}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].policy", `"fastest"`, "is not one of", "round_robin"}},
	{"bad address", "pools: [{name: web, backends: [{id: a, address: nowhere}]}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].backends[0].address", `"nowhere"`, "host:port"}},
	{"weight", "pools: [{name: web, backends: [{id: a, address: '127.0.0.1:1', weight: 1000}]}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].backends[0].weight", "1000", "0 to 256"}},
	{"duplicate id", "pools: [{name: web, backends: [{id: a, address: '127.0.0.1:1'}, {id: a, address: '127.0.0.1:2'}]}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].backends[1].id", "duplicate"}},
	{"frontend to missing pool", "pools: [{name: web}]\nfrontends: [{listen: '127.0.0.1:8080', pool: api}]",
		[]string{"frontends[0].pool", `"api"`, "no pool"}},
	{"timeout over interval", "pools: [{name: web, health: {interval: 1s, timeout: 2s}}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].health.timeout", "2s", "at most the interval"}},
	{"header_hash without key", "pools: [{name: web, policy: header_hash}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].hash_key", "needs the name of the header"}},
	{"sticky mode", "pools: [{name: web, sticky: {mode: ip}}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].sticky.mode", `"ip"`, "none, cookie or source_ip"}},
	{"admin off loopback without token", "admin: {listen: '0.0.0.0:8404'}\npools: [{name: web}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"admin.listen", "not loopback", "token"}},
	{"unknown key", "pools: [{name: web, polcy: round_robin}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].polcy: unknown key"}},
	{"bad duration", "pools: [{name: web, health: {interval: soon}}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{`pools[0].health.interval: "soon": not a duration`}},
	// health's keys come from internal/health.CheckConfig (squashed): errors still name the full key
	{"unknown health key", "pools: [{name: web, health: {intervall: 1s}}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].health.intervall: unknown key"}},
	{"bad health rise", "pools: [{name: web, health: {rise: lots}}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{`pools[0].health.rise: "lots": not a whole number`}},
	{"no frontends", "pools: [{name: web}]", []string{"frontends", "at least one"}},
	{"same listen twice", "pools: [{name: web}]\nfrontends: [{name: a, listen: '127.0.0.1:8080', pool: web}, {name: b, listen: '127.0.0.1:8080', pool: web}]",
		[]string{"frontends[1].listen", "already used"}},
	{"backend_load without agent", "pools: [{name: web, policy: backend_load}]\nfrontends: [{listen: '127.0.0.1:8080', pool: web}]",
		[]string{"pools[0].health.agent_path", "needs the backends' load report"}},
	{"not yaml", "pools: [", []string{"not valid YAML"}},
}

// TestHealthKeys: every key of a pool's health block reaches the config
// (they are squashed in from internal/health.CheckConfig).
func TestHealthKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte("pools: [{name: web, health: {type: http, path: /up, host: h.test, expect_status: 204, interval: 3s, timeout: 2s, rise: 4, fall: 5, agent_path: /load}}]\n" +
		"frontends: [{listen: '127.0.0.1:8080', pool: web}]\n" +
		"l4: {pools: [{name: t, backends: [{id: a, address: '127.0.0.1:1'}], health: {disabled: true, interval: 3s, rise: 4}}], frontends: [{listen: '127.0.0.1:0', pool: t}]}"))
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.L4.Pools[0].Health; h.Interval != 3*time.Second || h.Rise != 4 || !h.Disabled {
		t.Fatalf("l4 health block decoded as %+v", h)
	}
	h := cfg.Pools[0].Health
	if h.Type != "http" || h.Path != "/up" || h.Host != "h.test" || h.ExpectStatus != 204 || h.Interval != 3*time.Second ||
		h.Timeout != 2*time.Second || h.Rise != 4 || h.Fall != 5 || h.AgentPath != "/load" {
		t.Fatalf("health block decoded as %+v", h)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestEnvAndFlags(t *testing.T) {
	t.Setenv("LBD_ADMIN_TOKEN", "from-env-0123456789")
	t.Setenv("LBD_LOG_LEVEL", "warn")
	t.Setenv("LBD_ACCESS_LOG_SAMPLE_RATE", "0.25")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("log.level", "", "")
	fs.String("admin.listen", "", "")
	if err := fs.Parse([]string{"--log.level=debug"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfigFlags("", fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Token != "from-env-0123456789" || cfg.Log.Level != "debug" || cfg.AccessLog.SampleRate != 0.25 || cfg.Admin.Listen != "127.0.0.1:8404" {
		t.Fatalf("env/flags not applied: token %q level %q rate %v listen %q", cfg.Admin.Token, cfg.Log.Level, cfg.AccessLog.SampleRate, cfg.Admin.Listen)
	}
	t.Setenv("LBD_LOG_LEVEL", "loud")
	if _, err := LoadConfig(""); err == nil || !strings.Contains(err.Error(), "loud") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "lbd.yaml")
	if err := os.WriteFile(p, []byte("pools: [{name: api, policy: least_connections, backends: [{id: x, address: 'localhost:9100', weight: 0}]}]\nfrontends: [{listen: '127.0.0.1:0', pool: api}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.Pools[0].Backends[0].Weight != 0 || cfg.Frontends[0].Name != "http" || cfg.Pools[0].Health.Fall != 3 {
		t.Fatalf("%+v", cfg)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(defaultYAML)
	for _, tc := range badConfigs {
		f.Add([]byte(tc.yaml))
	}
	// Demo certificates go to one temporary directory, not lb/var: made
	// once, then reused (a new CA per input held the target to a few
	// executions a second).
	demoDir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		// Whatever parses must validate again and build a server.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails validation: %v", err)
		}
		for i, f := range cfg.Frontends {
			if f.TLS != nil && f.TLS.Demo {
				t2 := *f.TLS
				t2.DemoDir = demoDir
				cfg.Frontends[i].TLS = &t2
			}
		}
		if _, err := New(cfg, nil, nil); err != nil {
			t.Fatalf("valid config refused by New: %v", err)
		}
	})
}
