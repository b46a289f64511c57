package rrl

import (
	"net/netip"
	"strings"
	"time"

	"netsim/internal/cfgerr"
)

// Config is Response Rate Limiting as BIND configures it (rate-limit {}):
// per-second rates for each kind of response to one client prefix, the
// window an account is remembered for, slip, and the prefixes never
// limited. A rate of 0 leaves that kind of response unlimited.
type Config struct {
	ResponsesPerSecond int           `mapstructure:"responses_per_second"` // answers and NODATA, per name and type
	ReferralsPerSecond int           `mapstructure:"referrals_per_second"` // referrals, per delegation
	NXDomainsPerSecond int           `mapstructure:"nxdomains_per_second"` // NXDOMAIN, per zone (a random-name flood is one account)
	ErrorsPerSecond    int           `mapstructure:"errors_per_second"`    // REFUSED, FORMERR, SERVFAIL…: one account per prefix
	Window             time.Duration `mapstructure:"window"`               // an account idle this long is forgotten; a prefix limited within it is listed
	Slip               int           `mapstructure:"slip"`                 // every Nth limited response goes out truncated (TC) instead of dropped; 0 never, 1 always
	IPv4PrefixLength   int           `mapstructure:"ipv4_prefix_length"`   // clients are counted by this prefix (24) ...
	IPv6PrefixLength   int           `mapstructure:"ipv6_prefix_length"`   // ... or this one (56)
	Exempt             []string      `mapstructure:"exempt"`               // client prefixes never limited
	MaxEntries         int           `mapstructure:"max_entries"`          // accounts kept per listener
}

// DefaultConfig is generous: a real client never meets it, a flood of one
// answer from one /24 is cut to 200 a second.
func DefaultConfig() Config {
	return Config{
		ResponsesPerSecond: 200, ReferralsPerSecond: 200, NXDomainsPerSecond: 200, ErrorsPerSecond: 200,
		Window: 15 * time.Second, Slip: 2, IPv4PrefixLength: 24, IPv6PrefixLength: 56,
		MaxEntries: 100000,
	}
}

// Modes of a listener (servers[].rrl).
const (
	ModeAuto    = "auto"     // on for a listener without recursion, off with it
	ModeOn      = "on"       // limit
	ModeOff     = "off"      // do not count
	ModeLogOnly = "log-only" // count and log what would be limited, answer everything
)

// CheckMode returns an error naming key when m is not a mode.
func CheckMode(key, m string) error {
	switch m {
	case "", ModeAuto, ModeOn, ModeOff, ModeLogOnly:
		return nil
	}
	return cfgerr.New(key, m, "want auto, on, off or log-only")
}

// Active resolves a listener's mode: whether responses are counted, and
// whether the limit only logs.
func Active(mode string, recursion bool) (on, logOnly bool) {
	switch mode {
	case ModeOn:
		return true, false
	case ModeLogOnly:
		return true, true
	case ModeOff:
		return false, false
	}
	return !recursion, false
}

// Validate lists every bad value with its key (relative to the section).
func (c Config) Validate() error {
	var errs cfgerr.List
	for _, r := range []struct {
		key string
		v   int
	}{{"responses_per_second", c.ResponsesPerSecond}, {"referrals_per_second", c.ReferralsPerSecond},
		{"nxdomains_per_second", c.NXDomainsPerSecond}, {"errors_per_second", c.ErrorsPerSecond}} {
		if r.v < 0 || r.v > 1_000_000 {
			errs.Add(r.key, r.v, "want 0 (unlimited) to 1000000 responses a second")
		}
	}
	if c.Window < time.Second || c.Window > time.Hour {
		errs.Add("window", c.Window, "want 1s to 1h (BIND's range)")
	}
	if c.Slip < 0 || c.Slip > 10 {
		errs.Add("slip", c.Slip, "want 0 (always drop) to 10 (BIND's range)")
	}
	if c.IPv4PrefixLength < 8 || c.IPv4PrefixLength > 32 {
		errs.Add("ipv4_prefix_length", c.IPv4PrefixLength, "want 8 to 32")
	}
	if c.IPv6PrefixLength < 16 || c.IPv6PrefixLength > 128 {
		errs.Add("ipv6_prefix_length", c.IPv6PrefixLength, "want 16 to 128")
	}
	if c.MaxEntries < 100 {
		errs.Add("max_entries", c.MaxEntries, "want 100 or more")
	}
	if _, err := parsePrefixes(c.Exempt); err != nil {
		errs.Append("", err)
	}
	return errs.Err()
}

// parsePrefixes reads "addr/bits" or a bare address (a host).
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	var errs cfgerr.List
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			errs.Add("exempt["+itoa(i)+"]", s, "want an address or a prefix such as 127.0.0.1 or 10.0.0.0/8")
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errs.Err()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
