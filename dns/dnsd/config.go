// Package dnsd assembles the DNS daemon: typed config (YAML + DNSD_ env +
// flags through viper), zones, listeners, the admin API and reload. Both
// cmd/dnsd and cmd/netsim run it.
package dnsd

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/miekg/dns"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"netsim/configs"
	"netsim/dns/geo"
	"netsim/dns/resolver"
	"netsim/dns/rrl"
	"netsim/dns/xfr"
	"netsim/internal/api"
	"netsim/internal/cfgerr"
	"netsim/zones"
)

// Config is dnsd's whole configuration (configs/dnsd.yaml documents it).
type Config struct {
	Log struct {
		Format string `mapstructure:"format"`
		Level  string `mapstructure:"level"`
	} `mapstructure:"log"`
	Admin struct {
		Listen string `mapstructure:"listen"`
		Token  string `mapstructure:"token"`
		Pprof  bool   `mapstructure:"pprof"`
		// Lockout answers 429 to an address after repeated bad tokens
		// (internal/api.LockoutConfig; failures 0 turns it off).
		Lockout api.LockoutConfig `mapstructure:"lockout"`
	} `mapstructure:"admin"`
	Zones struct {
		Dir   string         `mapstructure:"dir"`
		Files []zones.Source `mapstructure:"files"`
	} `mapstructure:"zones"`
	Servers  []ServerConfig  `mapstructure:"servers"`
	Resolver resolver.Config `mapstructure:"resolver"`
	Geo      geo.Config      `mapstructure:"geo"`
	// RRL is response rate limiting (dns/rrl); each listener says whether
	// it applies (servers[].rrl).
	RRL rrl.Config `mapstructure:"rrl"`
	// TSIGKeys are the TSIG keys (RFC 8945) that sign updates, transfers
	// and NOTIFYs; Primary is what the zones allow as a primary: transfers
	// out, NOTIFY, dynamic updates (dns/xfr/README.md).
	TSIGKeys []xfr.KeyConfig `mapstructure:"tsig_keys"`
	Primary  xfr.Config      `mapstructure:"primary"`
	// Secondary lists the zones dnsd copies from other servers (zone
	// transfers in, SOA timers, NOTIFY; dns/xfr/README.md).
	Secondary xfr.SecondaryConfig `mapstructure:"secondary"`
	// DNSSEC is online signing of the zones (dnssec.go).
	DNSSEC DNSSECConfig `mapstructure:"dnssec"`
}

// ServerConfig is one listener.
type ServerConfig struct {
	Listen    string   `mapstructure:"listen"`
	Zones     []string `mapstructure:"zones"`
	Recursion bool     `mapstructure:"recursion"`
	// TCP connections of the listener in all and per client address (0:
	// 1024 and 64); past either, the connection idle longest is closed.
	TCPConns          int `mapstructure:"tcp_conns"`
	TCPConnsPerClient int `mapstructure:"tcp_conns_per_client"`
	// RRL: auto (on without recursion, off with it), on, off or log-only.
	RRL string `mapstructure:"rrl"`
	// MaxResolutions caps the resolutions in flight on this listener
	// (0: 4096); past it a UDP query is dropped (the client retries) and
	// a TCP one answered SERVFAIL.
	MaxResolutions int `mapstructure:"max_resolutions"`
}

// DefaultYAML is the embedded default config.
func DefaultYAML() []byte {
	b, err := configs.Read("dnsd.yaml")
	if err != nil {
		panic("configs/dnsd.yaml is not embedded: " + err.Error()) // a build defect
	}
	return b
}

// BindFlags declares dnsd's flags on fs, each overriding one config key.
func BindFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML config file (default: the embedded configs/dnsd.yaml)")
	fs.String("log-format", "", "log format: console or json (log.format)")
	fs.String("log-level", "", "log level: debug, info, warn, error (log.level)")
	fs.String("admin-listen", "", "admin API address (admin.listen)")
	fs.String("zones-dir", "", "directory of <origin>.zone files (zones.dir)")
}

var flagKeys = map[string]string{
	"log-format":   "log.format",
	"log-level":    "log.level",
	"admin-listen": "admin.listen",
	"zones-dir":    "zones.dir",
}

// BaseConfig is what a config file starts from: settings, no demo. Keys a
// file leaves out take these values; the file's lists are its own (no
// listeners and no geo names are inherited from the demo).
func BaseConfig() Config {
	var c Config
	c.Log.Format, c.Log.Level = "console", "info"
	c.Admin.Listen = "127.0.0.1:9153"
	c.Admin.Lockout = api.DefaultLockout()
	c.Resolver = resolver.DefaultConfig()
	c.Geo.ReloadInterval = 5 * time.Second
	c.Geo.TTL = 20 * time.Second
	c.RRL = rrl.DefaultConfig()
	c.Primary = xfr.DefaultConfig()
	c.Secondary = xfr.DefaultSecondaryConfig()
	c.DNSSEC = defaultDNSSEC()
	return c
}

// Load builds the config: with no path, the embedded demo (configs/dnsd.yaml);
// with a path, BaseConfig overlaid with the file. Then DNSD_ environment
// variables, then flags that were set. Unknown keys and bad values are
// errors naming the key.
func Load(path string, fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if path == "" {
		if err := v.ReadConfig(bytes.NewReader(DefaultYAML())); err != nil {
			return Config{}, fmt.Errorf("embedded config: %w", err)
		}
	} else {
		setDefaults(v, "", reflect.ValueOf(BaseConfig()))
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	v.SetEnvPrefix("DNSD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if fs != nil {
		for flag, key := range flagKeys {
			if f := fs.Lookup(flag); f != nil && f.Changed {
				v.Set(key, f.Value.String())
			}
		}
	}
	var c Config
	err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = cfgerr.DecodeHook()
	})
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", orEmbedded(path), cfgerr.Decode(err))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", orEmbedded(path), err)
	}
	return c, nil
}

// setDefaults registers every leaf of a config struct as a viper default
// under its mapstructure key, so environment variables reach keys a file
// leaves out.
func setDefaults(v *viper.Viper, prefix string, val reflect.Value) {
	t := val.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := val.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Duration(0)) {
			setDefaults(v, key, f)
			continue
		}
		v.SetDefault(key, f.Interface())
	}
}

func orEmbedded(path string) string {
	if path == "" {
		return "(embedded)"
	}
	return path
}

// Validate checks values and lists every refused one with its key, the
// value and what was expected.
func (c *Config) Validate() error {
	var errs cfgerr.List
	switch c.Log.Format {
	case "console", "json":
	default:
		errs.Add("log.format", c.Log.Format, "must be console or json")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs.Add("log.level", c.Log.Level, "must be debug, info, warn or error")
	}
	if _, err := netip.ParseAddrPort(c.Admin.Listen); err != nil {
		errs.Add("admin.listen", c.Admin.Listen, "%v (want ip:port)", err)
	}
	c.Admin.Lockout.Validate("admin.lockout", &errs)
	if len(c.Servers) == 0 {
		errs.Add("servers", nil, "empty: at least one listener is needed")
	}
	seen := map[string]bool{}
	recursion := false
	for i, s := range c.Servers {
		recursion = recursion || s.Recursion
		key := fmt.Sprintf("servers[%d]", i)
		if ap, err := netip.ParseAddrPort(s.Listen); err != nil {
			errs.Add(key+".listen", s.Listen, "%v (want ip:port)", err)
		} else if seen[ap.String()] {
			errs.Add(key+".listen", s.Listen, "listed twice")
		} else {
			seen[ap.String()] = true
		}
		if s.TCPConns < 0 {
			errs.Add(key+".tcp_conns", s.TCPConns, "want 0 (the default) or more")
		}
		if s.TCPConnsPerClient < 0 {
			errs.Add(key+".tcp_conns_per_client", s.TCPConnsPerClient, "want 0 (the default) or more")
		}
		if err := rrl.CheckMode(key+".rrl", s.RRL); err != nil {
			errs.Append(key+".rrl", err)
		}
		if s.MaxResolutions < 0 {
			errs.Add(key+".max_resolutions", s.MaxResolutions, "want 0 (the default, 4096) or more")
		}
		if len(s.Zones) == 0 && !s.Recursion {
			errs.Add(key, s.Listen, "no zones and no recursion: it could only answer REFUSED")
		}
	}
	if recursion {
		errs.Append("resolver", c.Resolver.Validate())
	}
	errs.Append("rrl", cfgerr.Prefix("rrl.", c.RRL.Validate()))
	if c.DNSSEC.Enabled {
		errs.Append("dnssec", c.DNSSEC.Validate())
	}
	if len(c.Geo.Names) > 0 {
		errs.Append("geo", c.Geo.Validate())
	}
	errs.Append("primary", xfr.Check(c.Primary, c.TSIGKeys))
	errs.Append("secondary", xfr.CheckSecondary(c.Secondary, c.TSIGKeys))
	for i, z := range c.Primary.Zones {
		if len(z.Update) > 0 && slices.ContainsFunc(c.Secondary.Zones, func(s xfr.SecondaryZone) bool { return dns.CanonicalName(s.Name) == dns.CanonicalName(z.Name) }) {
			errs.Add(fmt.Sprintf("primary.zones[%d].update", i), z.Name, "a secondary zone takes no updates: they go to its primary")
		}
	}
	return errs.Err()
}

// LoadZones loads the zones the config names: a directory, a list of
// files, or the embedded demo set — none when the config names neither
// but lists secondary zones (a dnsd that is only a secondary).
func (c *Config) LoadZones() ([]*zones.Zone, error) {
	switch {
	case c.Zones.Dir == "" && len(c.Zones.Files) == 0 && len(c.Secondary.Zones) > 0:
		return nil, nil
	case c.Zones.Dir != "" && len(c.Zones.Files) > 0:
		return nil, fmt.Errorf("zones: set dir or files, not both")
	case c.Zones.Dir != "":
		return zones.LoadDir(c.Zones.Dir)
	case len(c.Zones.Files) > 0:
		return zones.LoadFiles(c.Zones.Files)
	default:
		return zones.LoadEmbedded()
	}
}
