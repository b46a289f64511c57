// Package xfr is dnsd as a primary: zone transfers out (AXFR, RFC 5936;
// IXFR, RFC 1995, from a journal of changes), NOTIFY to secondaries (RFC
// 1996), and dynamic updates (RFC 2136) signed with TSIG (RFC 8945),
// checked against an update policy per key and name. README.md has the
// config keys.
package xfr

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/cfgerr"
	"netsim/zones"
)

// Config is dnsd's `primary:` section.
type Config struct {
	// Serial is how a change advances the SOA serial: date (YYYYMMDDnn,
	// the default), increment, or unixtime (the later of now and old+1).
	Serial string `mapstructure:"serial"`
	// JournalMax is how many changes each zone's journal keeps for IXFR
	// (default 1000); a secondary older than that gets AXFR.
	JournalMax int `mapstructure:"journal_max"`
	// NotifyRetries: NOTIFYs resent to a secondary that does not answer
	// (default 5), the first after NotifyTimeout (default 1s), each wait
	// twice the one before.
	NotifyRetries int           `mapstructure:"notify_retries"`
	NotifyTimeout time.Duration `mapstructure:"notify_timeout"`
	Zones         []ZoneConfig  `mapstructure:"zones"`
}

// ZoneConfig is what one zone allows.
type ZoneConfig struct {
	Name string `mapstructure:"name"`
	// AllowTransfer: AXFR/IXFR is refused unless one rule matches.
	AllowTransfer []ACLRule `mapstructure:"allow_transfer"`
	// Notify: secondaries ("addr:port") told of every change, signed with
	// NotifyKey when it is set.
	Notify    []string `mapstructure:"notify"`
	NotifyKey string   `mapstructure:"notify_key"`
	// Update: which key may change which names (RFC 2136); none: updates
	// are refused.
	Update []PolicyRule `mapstructure:"update"`
}

// DefaultConfig has the defaults of every key.
func DefaultConfig() Config {
	return Config{Serial: "date", JournalMax: 1000, NotifyRetries: 5, NotifyTimeout: time.Second}
}

// zoneRules is one zone's parsed config.
type zoneRules struct {
	acl       []aclRule
	notify    []string
	notifyKey string
	policy    []policyRule
}

// parse checks cfg against the keys; the errors name the key (under
// "primary."), the value and what is expected.
func parse(cfg Config, keys *Keyring) (map[string]*zoneRules, zones.SerialMethod, error) {
	var errs cfgerr.List
	method, err := zones.ParseSerialMethod(cfg.Serial)
	if err != nil {
		errs.Add("primary.serial", cfg.Serial, "want date, increment or unixtime")
	}
	if cfg.JournalMax < 1 {
		errs.Add("primary.journal_max", cfg.JournalMax, "want 1 or more changes kept per zone")
	}
	if cfg.NotifyRetries < 0 {
		errs.Add("primary.notify_retries", cfg.NotifyRetries, "want 0 or more")
	}
	if cfg.NotifyTimeout <= 0 {
		errs.Add("primary.notify_timeout", cfg.NotifyTimeout.String(), "want a duration above 0, e.g. 1s")
	}
	out := map[string]*zoneRules{}
	for i, z := range cfg.Zones {
		key := fmt.Sprintf("primary.zones[%d]", i)
		name := zoneName(&errs, key, z.Name, out)
		if name == "" {
			continue
		}
		r := &zoneRules{}
		if r.acl, err = parseACL(key+".allow_transfer", z.AllowTransfer, keys); err != nil {
			errs.Append(key+".allow_transfer", err)
		}
		if r.policy, err = parsePolicy(key+".update", name, z.Update, keys); err != nil {
			errs.Append(key+".update", err)
		}
		for j, a := range z.Notify {
			if _, err := netip.ParseAddrPort(a); err != nil {
				errs.Add(fmt.Sprintf("%s.notify[%d]", key, j), a, "want ip:port of a secondary, e.g. 127.0.60.2:5300")
			}
		}
		r.notify = z.Notify
		if z.NotifyKey != "" {
			r.notifyKey = dns.CanonicalName(z.NotifyKey)
			if !keys.Has(r.notifyKey) {
				errs.Add(key+".notify_key", z.NotifyKey, "not a key of tsig_keys")
			}
		}
		out[name] = r
	}
	return out, method, errs.Err()
}

// zoneName checks the name of the zone listed at key: its canonical
// form, or "" once the error (not a name, or already in seen) is in errs.
func zoneName[V any](errs *cfgerr.List, key, name string, seen map[string]V) string {
	c := dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(c); !ok || strings.TrimSpace(name) == "" {
		errs.Add(key+".name", name, "want a zone name such as example.test.")
		return ""
	}
	if _, ok := seen[c]; ok {
		errs.Add(key+".name", name, "listed twice")
		return ""
	}
	return c
}

// Check validates the keys and the primary section without building
// anything (config loading calls it).
func Check(cfg Config, keys []KeyConfig) error {
	kr, err := NewKeyring(keys, time.Now)
	if err != nil {
		return err
	}
	_, _, err = parse(cfg, kr)
	return err
}
