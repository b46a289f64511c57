package geo

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"netsim/internal/cfgerr"
	"netsim/internal/health"
)

func baseName() NameConfig {
	return NameConfig{
		Name:    "www.example.test.",
		Default: "na",
		Pools: []PoolConfig{
			{Name: "eu", Continents: []string{"EU"}, Members: []MemberConfig{{Address: "127.0.10.1"}}},
			{Name: "na", Countries: []string{"US"}, Members: []MemberConfig{{Address: "127.0.20.1"}}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string // "" means valid
		wantIn  string
	}{
		{"valid", func(c *Config) {}, "", ""},
		{"valid with health", func(c *Config) {
			c.Names[0].Health = HealthConfig{CheckConfig: health.CheckConfig{Type: "tcp", Config: health.Config{Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3}}, Port: 8080}
		}, "", ""},
		{"ttl too short", func(c *Config) { c.TTL = time.Millisecond }, "geo.ttl", "between"},
		{"bad trust network", func(c *Config) { c.TrustECSFrom = []string{"10.0.0.0/33"} }, "geo.trust_ecs_from[0]", "CIDR"},
		{"empty name", func(c *Config) { c.Names[0].Name = "" }, "geo.names[0].name", "required"},
		{"duplicate name", func(c *Config) { c.Names = append(c.Names, baseName()); c.Names[1].Name = "WWW.example.test" }, "geo.names[1].name", "duplicate"},
		{"bad fail mode", func(c *Config) { c.Names[0].Fail = "sometimes" }, "geo.names[0].fail", "open"},
		{"bad answers", func(c *Config) { c.Names[0].Answers = 99 }, "geo.names[0].answers", "between"},
		{"no pools", func(c *Config) { c.Names[0].Pools = nil }, "geo.names[0].pools", "at least one"},
		{"unknown default", func(c *Config) { c.Names[0].Default = "apac" }, "geo.names[0].default", "no such pool"},
		{"default required with two pools", func(c *Config) { c.Names[0].Default = "" }, "geo.names[0].default", "name the pool"},
		{"duplicate pool", func(c *Config) { c.Names[0].Pools[1].Name = "eu" }, "geo.names[0].pools[1].name", "duplicate"},
		{"no members", func(c *Config) { c.Names[0].Pools[0].Members = nil }, "geo.names[0].pools[0].members", "at least one"},
		{"bad address", func(c *Config) { c.Names[0].Pools[0].Members[0].Address = "127.0.10.300" }, "geo.names[0].pools[0].members[0].address", "not an IPv4"},
		{"negative weight", func(c *Config) { c.Names[0].Pools[0].Members[0].Weight = -5 }, "geo.names[0].pools[0].members[0].weight", "between"},
		{"bad country", func(c *Config) { c.Names[0].Pools[1].Countries = []string{"USA"} }, "geo.names[0].pools[1].countries[0]", "ISO 3166"},
		{"country in two pools", func(c *Config) { c.Names[0].Pools[0].Countries = []string{"us"} }, "geo.names[0].pools[1].countries[0]", `already routed to pool "eu"`},
		{"bad continent", func(c *Config) { c.Names[0].Pools[0].Continents = []string{"XX"} }, "geo.names[0].pools[0].continents[0]", "continent code"},
		{"network host bits", func(c *Config) { c.Names[0].Pools[0].Networks = []string{"127.0.10.1/24"} }, "geo.names[0].pools[0].networks[0]", "127.0.10.0/24"},
		{"network twice", func(c *Config) {
			c.Names[0].Pools[0].Networks = []string{"127.0.10.0/24"}
			c.Names[0].Pools[1].Networks = []string{"127.0.10.0/24"}
		}, "geo.names[0].pools[1].networks[0]", "already routed"},
		{"health type", func(c *Config) { c.Names[0].Health.Type = "icmp" }, "geo.names[0].health.type", "tcp"},
		{"health port missing", func(c *Config) { c.Names[0].Health.Type = "tcp" }, "geo.names[0].health.port", "required"},
		{"health timeout over interval", func(c *Config) {
			c.Names[0].Health = HealthConfig{CheckConfig: health.CheckConfig{Type: "tcp", Config: health.Config{Interval: time.Second, Timeout: 2 * time.Second}}, Port: 80}
		}, "geo.names[0].health.timeout", "interval"},
		{"health interval tiny", func(c *Config) {
			c.Names[0].Health = HealthConfig{CheckConfig: health.CheckConfig{Type: "tcp", Config: health.Config{Interval: time.Millisecond}}, Port: 80}
		}, "geo.names[0].health.interval", "100ms"},
		{"check without health", func(c *Config) { c.Names[0].Pools[0].Members[0].Check = "127.0.0.1:80" }, "geo.names[0].pools[0].members[0].check", "health.type is empty"},
		{"bad check", func(c *Config) {
			c.Names[0].Health = HealthConfig{CheckConfig: health.CheckConfig{Type: "tcp"}, Port: 80}
			c.Names[0].Pools[0].Members[0].Check = "nowhere"
		}, "geo.names[0].pools[0].members[0].check", "address:port"},
		{"http path", func(c *Config) {
			c.Names[0].Health = HealthConfig{CheckConfig: health.CheckConfig{Type: "http", Path: "healthz"}, Port: 80}
		}, "geo.names[0].health.path", `"/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Names: []NameConfig{baseName()}}
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *cfgerr.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *cfgerr.Error for %s", err, tt.wantKey)
			}
			if ve.Key != tt.wantKey || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("Validate = %q (key %s), want key %s mentioning %q", err, ve.Key, tt.wantKey, tt.wantIn)
			}
		})
	}
}

// decodeYAML decodes a geo: section the way viper does (YAML, then
// mapstructure with the string-to-duration hook).
func decodeYAML(t testing.TB, text string) Config {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		t.Fatal(err)
	}
	var c Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:      &c,
		ErrorUnused: true,
		DecodeHook:  mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(",")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(raw["geo"]); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExampleConfig loads configs/geo.example.yaml: every example config
// is loaded by a test.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../configs/geo.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := decodeYAML(t, string(b))
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Names) < 2 {
		t.Fatalf("example has %d names, want www and canary at least", len(c.Names))
	}
	e, err := New(c, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Manages("www.example.test.") || !e.Manages("canary.example.test.") {
		t.Fatalf("example names: %v", e.Names())
	}
}

func FuzzConfigYAML(f *testing.F) {
	b, err := os.ReadFile("../../configs/geo.example.yaml")
	if err == nil {
		f.Add(string(b))
	}
	f.Add("geo:\n  names:\n    - name: a.test.\n      pools:\n        - name: p\n          members: [{address: 1.2.3.4}]\n")
	f.Add("geo:\n  ttl: 5s\n  names: []\n")
	f.Fuzz(func(t *testing.T, text string) {
		var raw map[string]any
		if yaml.Unmarshal([]byte(text), &raw) != nil {
			return
		}
		var c Config
		dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &c, DecodeHook: mapstructure.StringToTimeDurationHookFunc()})
		if err != nil {
			t.Fatal(err)
		}
		if dec.Decode(raw["geo"]) != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		if _, err := New(c, nil, nil, nil); err != nil {
			t.Fatalf("Validate passed but New failed: %v", err)
		}
	})
}
