package geo

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/cfgerr"
	"netsim/internal/health"
)

// Config is the `geo:` section of dnsd's configuration. Lists are used
// rather than maps keyed by name because viper splits map keys on dots
// (and `www.example.test.` is full of them).
type Config struct {
	// Database is the MaxMind City or Country .mmdb to locate clients
	// with. Empty: the daemon decides (netsim writes the demo geography).
	Database string `mapstructure:"database"`
	// ReloadInterval is how often the database file is checked for
	// changes (default 5s).
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// TTL of geo answers unless a name sets its own (default 20s): short,
	// so that a health or geography change reaches clients quickly.
	TTL time.Duration `mapstructure:"ttl"`
	// IgnoreECS makes the engine locate every client by its source
	// address, ignoring EDNS Client Subnet (ECS is used by default).
	IgnoreECS bool `mapstructure:"ignore_ecs"`
	// TrustECSFrom lists the networks whose ECS options are believed
	// (typically your resolvers). Empty: every client's.
	TrustECSFrom []string `mapstructure:"trust_ecs_from"`
	// Names are the geo-managed names.
	Names []NameConfig `mapstructure:"names"`
}

// NameConfig is one geo-managed name.
type NameConfig struct {
	// Name is the owner name, e.g. "www.example.test." (a missing final
	// dot is added).
	Name string `mapstructure:"name"`
	// TTL overrides Config.TTL for this name.
	TTL time.Duration `mapstructure:"ttl"`
	// Answers is how many records one answer holds, drawn by weight from
	// the pool's available members (default 1: a 90/10 weighting then
	// means 90% of answers carry the first member).
	Answers int `mapstructure:"answers"`
	// Fail says what to answer when every member of the chosen pool and
	// of the default pool is down: "open" (default: answer the chosen
	// pool's members as if healthy) or "closed" (SERVFAIL).
	Fail string `mapstructure:"fail"`
	// Default names the pool for clients no rule matches.
	Default string `mapstructure:"default"`
	// Health configures probes of the members; empty Type: none.
	Health HealthConfig `mapstructure:"health"`
	// Pools are the candidate answers.
	Pools []PoolConfig `mapstructure:"pools"`
}

// PoolConfig is a set of members and the clients it serves. A client is
// matched by network (longest prefix first), then country, then
// continent; no match means the name's default pool.
type PoolConfig struct {
	Name       string         `mapstructure:"name"`
	Countries  []string       `mapstructure:"countries"`
	Continents []string       `mapstructure:"continents"`
	Networks   []string       `mapstructure:"networks"`
	Members    []MemberConfig `mapstructure:"members"`
}

// MemberConfig is one address a pool answers with.
type MemberConfig struct {
	// Address is an IPv4 (A) or IPv6 (AAAA) address.
	Address string `mapstructure:"address"`
	// Weight is the member's share among the pool's available members of
	// its family (default 1).
	Weight int `mapstructure:"weight"`
	// Check overrides the health-check target (default Address with
	// health.port).
	Check string `mapstructure:"check"`
}

// HealthConfig configures the probes of a name's members:
// health.CheckConfig's keys and the port probed on each member's address.
// Type is "tcp" (connect), "http" (GET path, 2xx/3xx is up, default path
// "/", Host the target) or "" (no checks: members are always available).
// Interval between probes (default 2s), timeout of one probe (default
// 1s), rise successes to come up (default 2), fall failures to go down
// (default 3): a dead member leaves the answers within about
// interval×fall.
type HealthConfig struct {
	health.CheckConfig `mapstructure:",squash"`
	Port               int `mapstructure:"port"`
}

// Defaults applied by Validate's callers through withDefaults.
const (
	DefaultTTL            = 20 * time.Second
	DefaultReloadInterval = 5 * time.Second
	maxTTL                = 24 * time.Hour
)

// bad is the *cfgerr.Error that Validate returns.
func bad(key string, value any, format string, args ...any) error {
	return cfgerr.New(key, value, format, args...)
}

// Validate checks the whole section and returns the first problem as a
// *cfgerr.Error naming geo.<key>, the value and the reason.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// canonicalName lowercases and makes name fully qualified.
func canonicalName(name string) string {
	return strings.ToLower(dns.Fqdn(strings.TrimSpace(name)))
}

// compiled is a validated configuration ready for an Engine.
type compiled struct {
	ttl   uint32
	trust []netip.Prefix
	names []*nameSpec
}

type nameSpec struct {
	name     string
	key      string // geo.names[i]
	ttl      uint32
	answers  int
	failOpen bool
	health   HealthConfig
	pools    []*poolSpec
	def      *poolSpec
	// matching rules
	nets       []netRule // longest prefix first
	countries  map[string]*poolSpec
	continents map[string]*poolSpec
}

type netRule struct {
	prefix netip.Prefix
	pool   *poolSpec
}

type poolSpec struct {
	name    string
	cfg     PoolConfig
	members []memberSpec
}

type memberSpec struct {
	addr   netip.Addr
	weight int
	check  string // host:port, "" without health checks
}

func compile(c Config) (*compiled, error) {
	out := &compiled{}
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second || ttl > maxTTL {
		return nil, bad("geo.ttl", c.TTL, "must be between 1s and 24h")
	}
	out.ttl = uint32(ttl / time.Second)
	if c.ReloadInterval < 0 {
		return nil, bad("geo.reload_interval", c.ReloadInterval, "must not be negative")
	}
	for i, s := range c.TrustECSFrom {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, bad(fmt.Sprintf("geo.trust_ecs_from[%d]", i), s, "not a CIDR network: %v", err)
		}
		out.trust = append(out.trust, p.Masked())
	}
	seen := map[string]string{}
	for i, nc := range c.Names {
		key := fmt.Sprintf("geo.names[%d]", i)
		n, err := compileName(key, nc, out.ttl)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[n.name]; dup {
			return nil, bad(key+".name", nc.Name, "duplicate: already configured at %s", prev)
		}
		seen[n.name] = key
		out.names = append(out.names, n)
	}
	return out, nil
}

func compileName(key string, nc NameConfig, defTTL uint32) (*nameSpec, error) {
	if strings.TrimSpace(nc.Name) == "" {
		return nil, bad(key+".name", "", "a name is required")
	}
	name := canonicalName(nc.Name)
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, bad(key+".name", nc.Name, "not a valid domain name")
	}
	n := &nameSpec{name: name, key: key, ttl: defTTL, answers: 1, failOpen: true,
		countries: map[string]*poolSpec{}, continents: map[string]*poolSpec{}}
	if nc.TTL != 0 {
		if nc.TTL < time.Second || nc.TTL > maxTTL {
			return nil, bad(key+".ttl", nc.TTL, "must be between 1s and 24h")
		}
		n.ttl = uint32(nc.TTL / time.Second)
	}
	if nc.Answers < 0 || nc.Answers > 16 {
		return nil, bad(key+".answers", nc.Answers, "must be between 1 and 16 (0 means 1)")
	}
	if nc.Answers > 0 {
		n.answers = nc.Answers
	}
	switch strings.ToLower(nc.Fail) {
	case "", "open":
	case "closed":
		n.failOpen = false
	default:
		return nil, bad(key+".fail", nc.Fail, `must be "open" or "closed"`)
	}
	h := nc.Health
	switch strings.ToLower(h.Type) {
	case "":
	case "tcp", "http":
		h.Type = strings.ToLower(h.Type)
		if h.Port < 0 || h.Port > 65535 {
			return nil, bad(key+".health.port", h.Port, "must be 1..65535")
		}
		if err := h.NotNegative(); err != nil {
			return nil, bad(key+".health", nil, "%v", err)
		}
		if h.Interval != 0 && h.Interval < 100*time.Millisecond {
			return nil, bad(key+".health.interval", h.Interval, "must be at least 100ms")
		}
		if h.Timeout != 0 && h.Interval != 0 && h.Timeout > h.Interval {
			return nil, bad(key+".health.timeout", h.Timeout, "must not exceed health.interval (%s)", h.Interval)
		}
		if h.Type == "http" && h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			return nil, bad(key+".health.path", h.Path, `must start with "/"`)
		}
		if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
			return nil, bad(key+".health.expect_status", h.ExpectStatus, "must be an HTTP status 100..599")
		}
	default:
		return nil, bad(key+".health.type", h.Type, `must be "tcp", "http" or empty (no checks)`)
	}
	n.health = h
	if len(nc.Pools) == 0 {
		return nil, bad(key+".pools", nil, "at least one pool is required")
	}
	byName := map[string]*poolSpec{}
	netSeen := map[netip.Prefix]string{}
	for j, pc := range nc.Pools {
		pkey := fmt.Sprintf("%s.pools[%d]", key, j)
		if pc.Name == "" {
			return nil, bad(pkey+".name", "", "a pool name is required")
		}
		if _, dup := byName[pc.Name]; dup {
			return nil, bad(pkey+".name", pc.Name, "duplicate pool name")
		}
		p := &poolSpec{name: pc.Name, cfg: pc}
		byName[pc.Name] = p
		n.pools = append(n.pools, p)
		if len(pc.Members) == 0 {
			return nil, bad(pkey+".members", nil, "a pool needs at least one member")
		}
		addrSeen := map[netip.Addr]bool{}
		for k, mc := range pc.Members {
			mkey := fmt.Sprintf("%s.members[%d]", pkey, k)
			a, err := netip.ParseAddr(strings.TrimSpace(mc.Address))
			if err != nil || a.Zone() != "" {
				return nil, bad(mkey+".address", mc.Address, "not an IPv4 or IPv6 address")
			}
			a = a.Unmap()
			if addrSeen[a] {
				return nil, bad(mkey+".address", mc.Address, "listed twice in this pool")
			}
			addrSeen[a] = true
			if mc.Weight < 0 || mc.Weight > 1_000_000 {
				return nil, bad(mkey+".weight", mc.Weight, "must be between 1 and 1000000 (0 means 1)")
			}
			m := memberSpec{addr: a, weight: max(mc.Weight, 1)}
			if h.Type != "" {
				m.check = mc.Check
				if m.check == "" {
					if h.Port == 0 {
						return nil, bad(key+".health.port", 0, "required for %s checks unless every member sets check", h.Type)
					}
					m.check = netip.AddrPortFrom(a, uint16(h.Port)).String()
				} else if _, err := netip.ParseAddrPort(m.check); err != nil {
					return nil, bad(mkey+".check", mc.Check, "must be address:port: %v", err)
				}
			} else if mc.Check != "" {
				return nil, bad(mkey+".check", mc.Check, "set, but %s.health.type is empty (no checks)", key)
			}
			p.members = append(p.members, m)
		}
		isCountry := func(cc string) bool { return len(cc) == 2 && isAlpha(cc) }
		if err := routeCodes(pkey+".countries", pc.Countries, isCountry, "an ISO 3166-1 alpha-2 country code", n.countries, p); err != nil {
			return nil, err
		}
		isContinent := func(cc string) bool { _, ok := continentNames[cc]; return ok }
		if err := routeCodes(pkey+".continents", pc.Continents, isContinent, "a continent code (AF AN AS EU NA OC SA)", n.continents, p); err != nil {
			return nil, err
		}
		for k, s := range pc.Networks {
			nkey := fmt.Sprintf("%s.networks[%d]", pkey, k)
			pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return nil, bad(nkey, s, "not a CIDR network: %v", err)
			}
			if pfx.Addr().Is4In6() {
				return nil, bad(nkey, s, "write IPv4 networks in IPv4 form")
			}
			if pfx != pfx.Masked() {
				return nil, bad(nkey, s, "host bits set; did you mean %s?", pfx.Masked())
			}
			if prev, dup := netSeen[pfx]; dup {
				return nil, bad(nkey, s, "already routed to pool %q", prev)
			}
			netSeen[pfx] = p.name
			n.nets = append(n.nets, netRule{prefix: pfx, pool: p})
		}
	}
	// Longest prefix first, so the first containing rule is the best.
	sortNets(n.nets)
	if nc.Default == "" {
		if len(nc.Pools) == 1 {
			n.def = n.pools[0]
		} else {
			return nil, bad(key+".default", "", "name the pool for clients no rule matches (one of %s)", poolNames(n.pools))
		}
	} else {
		d, ok := byName[nc.Default]
		if !ok {
			return nil, bad(key+".default", nc.Default, "no such pool (have %s)", poolNames(n.pools))
		}
		n.def = d
	}
	return n, nil
}

func sortNets(nets []netRule) {
	// insertion sort: rule lists are short
	for i := 1; i < len(nets); i++ {
		for j := i; j > 0 && nets[j].prefix.Bits() > nets[j-1].prefix.Bits(); j-- {
			nets[j], nets[j-1] = nets[j-1], nets[j]
		}
	}
}

func poolNames(ps []*poolSpec) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// routeCodes routes each country or continent code in codes to p, refusing
// a code that is not valid or already routed elsewhere.
func routeCodes(key string, codes []string, valid func(string) bool, what string, routes map[string]*poolSpec, p *poolSpec) error {
	for k, raw := range codes {
		ckey := fmt.Sprintf("%s[%d]", key, k)
		cc := strings.ToUpper(strings.TrimSpace(raw))
		if !valid(cc) {
			return bad(ckey, raw, "not %s", what)
		}
		if other, dup := routes[cc]; dup {
			return bad(ckey, cc, "already routed to pool %q", other.name)
		}
		routes[cc] = p
	}
	return nil
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
