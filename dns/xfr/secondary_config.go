package xfr

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/cfgerr"
)

// SecondaryConfig is dnsd's `secondary:` section: zones dnsd copies from
// other servers (zone transfers in).
type SecondaryConfig struct {
	Zones []SecondaryZone `mapstructure:"zones"`
	// Timeout bounds one SOA query or one transfer (0: 10s).
	Timeout time.Duration `mapstructure:"timeout"`
}

// SecondaryZone is one zone dnsd follows.
type SecondaryZone struct {
	Name string `mapstructure:"name"`
	// Primaries are asked in turn ("ip:port"); a NOTIFY is taken only
	// from one of their addresses.
	Primaries []string `mapstructure:"primaries"`
	// Key signs the SOA queries and transfers (TSIG).
	Key string `mapstructure:"key"`
	// NotifyKey, when set, is the key a NOTIFY must be signed with; a
	// signed NOTIFY is checked whatever this says.
	NotifyKey string `mapstructure:"notify_key"`
	// File keeps the transferred copy (written, fsynced, renamed), so a
	// restart serves it at once; empty: memory only.
	File string `mapstructure:"file"`
}

// DefaultSecondaryConfig has the defaults of every key.
func DefaultSecondaryConfig() SecondaryConfig { return SecondaryConfig{Timeout: 10 * time.Second} }

// follow is one zone's parsed config.
type follow struct {
	origin    string
	primaries []string
	addrs     []netip.Addr // the primaries' addresses, to check NOTIFY sources
	key       string       // canonical, "" none
	notifyKey string       // canonical, "" any (or none)
	file      string
}

func parseSecondary(cfg SecondaryConfig, keys *Keyring) (map[string]*follow, error) {
	var errs cfgerr.List
	if cfg.Timeout < 0 {
		errs.Add("secondary.timeout", cfg.Timeout.String(), "want a duration above 0, e.g. 10s (0: the default, 10s)")
	}
	out := map[string]*follow{}
	files := map[string]string{}
	for i, z := range cfg.Zones {
		key := fmt.Sprintf("secondary.zones[%d]", i)
		name := zoneName(&errs, key, z.Name, out)
		if name == "" {
			continue
		}
		f := &follow{origin: name, primaries: z.Primaries, file: z.File}
		if len(z.Primaries) == 0 {
			errs.Add(key+".primaries", nil, "empty: want the ip:port of at least one primary, e.g. 127.0.61.1:5300")
		}
		for j, p := range z.Primaries {
			ap, err := netip.ParseAddrPort(p)
			if err != nil {
				errs.Add(fmt.Sprintf("%s.primaries[%d]", key, j), p, "want ip:port of a primary, e.g. 127.0.61.1:5300")
				continue
			}
			f.addrs = append(f.addrs, ap.Addr().Unmap())
		}
		if z.Key != "" {
			f.key = dns.CanonicalName(z.Key)
			if !keys.Has(f.key) {
				errs.Add(key+".key", z.Key, "not a key of tsig_keys")
			}
		}
		if z.NotifyKey != "" {
			f.notifyKey = dns.CanonicalName(z.NotifyKey)
			if !keys.Has(f.notifyKey) {
				errs.Add(key+".notify_key", z.NotifyKey, "not a key of tsig_keys")
			}
		}
		if z.File != "" {
			if prev, ok := files[z.File]; ok {
				errs.Add(key+".file", z.File, "already the file of %s", prev)
			}
			files[z.File] = name
		}
		out[name] = f
	}
	return out, errs.Err()
}

// CheckSecondary validates the secondary section against the keys (config
// loading calls it).
func CheckSecondary(cfg SecondaryConfig, keys []KeyConfig) error {
	kr, err := NewKeyring(keys, time.Now)
	if err != nil {
		return nil // reported by Check
	}
	_, err = parseSecondary(cfg, kr)
	return err
}
