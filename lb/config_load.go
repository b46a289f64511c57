package lb

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"strings"

	"netsim/internal/api"
	"netsim/internal/cfgerr"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

//go:embed default.yaml
var defaultYAML []byte

// scalar keys that LBD_ environment variables and flags may set (lists of
// pools and frontends come from the file).
var envKeys = []string{
	"log.format", "log.level",
	"admin.listen", "admin.token", "admin.pprof",
	"access_log.enabled", "access_log.sample_rate",
	"runtime.gc_percent", "runtime.memory_limit",
}

// DefaultConfig is the embedded default: pool "web" (round_robin, HTTP
// health checks on /healthz) over b1..b3 at 127.0.0.1:9001-9003, the HTTP
// frontend on 127.0.0.1:8080 and the admin API on 127.0.0.1:8404.
func DefaultConfig() Config {
	cfg, err := parse(defaultYAML, "embedded default", nil, false)
	if err != nil {
		panic("lb: embedded default config is invalid: " + err.Error())
	}
	return cfg
}

// LoadConfig reads path (the embedded default when empty), then applies LBD_
// environment variables (LBD_ADMIN_TOKEN, LBD_LOG_LEVEL, …), fills in
// defaults and validates. Errors name the key, the value and the reason.
func LoadConfig(path string) (Config, error) { return LoadConfigFlags(path, nil) }

// LoadConfigFlags is LoadConfig with flags on top of the environment: a
// changed flag whose name is a config key ("admin.listen", "log.level", …)
// overrides it.
func LoadConfigFlags(path string, flags *pflag.FlagSet) (Config, error) {
	data, name := defaultYAML, "embedded default"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		data, name = b, path
	}
	return parse(data, name, flags, true)
}

// ParseConfig parses YAML text (no environment, no flags).
func ParseConfig(yaml []byte) (Config, error) { return parse(yaml, "config", nil, false) }

func parse(data []byte, name string, flags *pflag.FlagSet, env bool) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return Config{}, fmt.Errorf("%s: not valid YAML: %v", name, err)
	}
	if env {
		v.SetEnvPrefix("LBD")
		v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
		for _, k := range envKeys {
			_ = v.BindEnv(k)
		}
	}
	if flags != nil {
		for _, k := range envKeys {
			if f := flags.Lookup(k); f != nil && f.Changed {
				_ = v.BindPFlag(k, f)
			}
		}
	}
	var cfg Config
	cfg.Admin.Lockout = api.DefaultLockout() // keys the file leaves out keep these
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(cfgerr.DecodeHook())); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, cfgerr.Decode(err))
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}
