package l4

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"netsim/internal/cfgerr"
	hcheck "netsim/internal/health"
	"netsim/lb/policy"
)

// Config is the L4 part of lbd's configuration: TCP frontends and the pools
// they send connections to. Keys are given as they appear in YAML.
type Config struct {
	Frontends []Frontend `mapstructure:"frontends" json:"frontends"`
	Pools     []Pool     `mapstructure:"pools" json:"pools"`
	// DrainTimeout bounds a graceful shutdown: open connections get this
	// long to finish before they are closed [30s].
	DrainTimeout time.Duration `mapstructure:"drain_timeout" json:"drain_timeout"`
}

// Frontend is one listening TCP port.
type Frontend struct {
	Name   string `mapstructure:"name" json:"name"`
	Listen string `mapstructure:"listen" json:"listen"`
	// Pool takes connections that no SNI route matched (and all of them
	// when there are no routes). Empty with routes: unmatched are closed.
	Pool string `mapstructure:"pool" json:"pool"`
	// SNI routes TLS connections by the ClientHello's server name, without
	// terminating TLS (passthrough). Names are exact or "*.domain" (one
	// label).
	SNI []SNIRoute `mapstructure:"sni" json:"sni"`
	// AcceptProxy lists the networks (CIDR or single addresses) trusted to
	// send a PROXY protocol v1/v2 header; peers there must send one, and
	// the client address it names is used for balancing and passed on.
	AcceptProxy []string `mapstructure:"accept_proxy" json:"accept_proxy"`
	// MaxConns caps open connections on this frontend; beyond it the
	// frontend stops accepting and clients wait in the kernel backlog
	// [10000]. MaxConnsPerClient caps one client address; beyond it new
	// connections from that address are closed at once [0: none].
	MaxConns          int `mapstructure:"max_conns" json:"max_conns"`
	MaxConnsPerClient int `mapstructure:"max_conns_per_client" json:"max_conns_per_client"`
	// IdleTimeout closes a connection with no byte in either direction for
	// this long [5m]. HelloTimeout bounds reading the ClientHello or PROXY
	// header [5s].
	IdleTimeout  time.Duration `mapstructure:"idle_timeout" json:"idle_timeout"`
	HelloTimeout time.Duration `mapstructure:"hello_timeout" json:"hello_timeout"`
}

// SNIRoute sends one server name (or wildcard) to a pool.
type SNIRoute struct {
	Name string `mapstructure:"name" json:"name"`
	Pool string `mapstructure:"pool" json:"pool"`
}

// Pool is a set of TCP backends with a balancing policy.
type Pool struct {
	Name string `mapstructure:"name" json:"name"`
	// Policy: round_robin, weighted_round_robin, least_connections,
	// random_two_choices, source_ip_hash or first [round_robin].
	Policy   string    `mapstructure:"policy" json:"policy"`
	Backends []Backend `mapstructure:"backends" json:"backends"`
	// SendProxy sends a PROXY protocol header (v1 or v2) to the backends.
	SendProxy ProxyVersion `mapstructure:"send_proxy" json:"send_proxy"`
	// DialTimeout per connection attempt [3s]; a failed dial is retried on
	// another backend, up to Retries more times [2].
	DialTimeout time.Duration `mapstructure:"dial_timeout" json:"dial_timeout"`
	Retries     *int          `mapstructure:"retries" json:"retries"`
	// DrainTimeout: a backend set to draining keeps its open connections
	// this long, then they are closed [10m].
	DrainTimeout time.Duration `mapstructure:"drain_timeout" json:"drain_timeout"`
	Health       Health        `mapstructure:"health" json:"health"`
	// PassiveFails consecutive failed dials mark a backend down until a
	// check brings it back [3; 0 off].
	PassiveFails *int `mapstructure:"passive_fails" json:"passive_fails"`
}

// Backend is one TCP server.
type Backend struct {
	ID       string `mapstructure:"id" json:"id"`
	Address  string `mapstructure:"address" json:"address"`
	Weight   *int   `mapstructure:"weight" json:"weight"`
	MaxConns int64  `mapstructure:"max_conns" json:"max_conns"`
}

// Health configures TCP connect checks.
type Health struct {
	Disabled bool `mapstructure:"disabled" json:"disabled"`
	// Interval [2s], Timeout [1s], Rise [2] and Fall [3].
	hcheck.Config `mapstructure:",squash"`
}

// l4Policies are the policy names that make sense per connection.
var l4Policies = []string{"round_robin", "weighted_round_robin", "least_connections", "random_two_choices", "source_ip_hash", "first"}

// Validate checks the whole configuration and fills in defaults; errors
// name the key (e.g. l4.pools[0].backends[1].address).
func (c *Config) Validate() error {
	var errs cfgerr.List
	bad := errs.Add
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	pools := map[string]bool{}
	for i := range c.Pools {
		p := &c.Pools[i]
		k := fmt.Sprintf("l4.pools[%d]", i)
		if p.Name == "" {
			bad(k+".name", "", "is required")
		} else if pools[p.Name] {
			bad(k+".name", p.Name, "is used by two pools")
		}
		pools[p.Name] = true
		if p.Policy == "" {
			p.Policy = "round_robin"
		}
		if !slices.Contains(l4Policies, p.Policy) {
			bad(k+".policy", p.Policy, "must be one of "+strings.Join(l4Policies, ", ")+" (header and cookie hashing need L7)")
		}
		switch p.SendProxy {
		case ProxyNone, ProxyV1, ProxyV2:
		default:
			bad(k+".send_proxy", string(p.SendProxy), `must be "", "v1" or "v2"`)
		}
		if p.DialTimeout == 0 {
			p.DialTimeout = 3 * time.Second
		}
		if p.DrainTimeout == 0 {
			p.DrainTimeout = 10 * time.Minute
		}
		if p.Retries == nil {
			p.Retries = ptr(2)
		} else if *p.Retries < 0 {
			bad(k+".retries", *p.Retries, "must not be negative")
		}
		if p.PassiveFails == nil {
			p.PassiveFails = ptr(3)
		}
		if len(p.Backends) == 0 {
			bad(k+".backends", nil, "needs at least one backend")
		}
		ids := map[string]bool{}
		for j := range p.Backends {
			b := &p.Backends[j]
			bk := fmt.Sprintf("%s.backends[%d]", k, j)
			if b.ID == "" {
				b.ID = fmt.Sprintf("%s-%d", p.Name, j+1)
			}
			if ids[b.ID] {
				bad(bk+".id", b.ID, "is used twice in the pool")
			}
			ids[b.ID] = true
			if _, _, err := net.SplitHostPort(b.Address); err != nil {
				bad(bk+".address", b.Address, "must be host:port")
			}
			if b.Weight == nil {
				b.Weight = ptr(1)
			} else if *b.Weight < 0 || *b.Weight > 1000 {
				bad(bk+".weight", *b.Weight, "must be 0..1000")
			}
			if b.MaxConns < 0 {
				bad(bk+".max_conns", b.MaxConns, "must not be negative")
			}
		}
		if err := p.Health.NotNegative(); err != nil {
			bad(k+".health", nil, "%v", err)
		}
	}
	names := map[string]bool{}
	for i := range c.Frontends {
		f := &c.Frontends[i]
		k := fmt.Sprintf("l4.frontends[%d]", i)
		if f.Name == "" {
			f.Name = fmt.Sprintf("tcp%d", i+1)
		}
		if names[f.Name] {
			bad(k+".name", f.Name, "is used by two frontends")
		}
		names[f.Name] = true
		if _, _, err := net.SplitHostPort(f.Listen); err != nil {
			bad(k+".listen", f.Listen, "must be host:port")
		}
		if f.Pool == "" && len(f.SNI) == 0 {
			bad(k+".pool", "", "is required when there are no sni routes")
		}
		if f.Pool != "" && !pools[f.Pool] {
			bad(k+".pool", f.Pool, "is not a pool")
		}
		seen := map[string]bool{}
		for j, r := range f.SNI {
			rk := fmt.Sprintf("%s.sni[%d]", k, j)
			n := strings.ToLower(strings.TrimSuffix(r.Name, "."))
			if err := checkSNIName(n); err != nil {
				bad(rk+".name", r.Name, "%v", err)
			}
			if seen[n] {
				bad(rk+".name", r.Name, "is routed twice")
			}
			seen[n] = true
			f.SNI[j].Name = n
			if !pools[r.Pool] {
				bad(rk+".pool", r.Pool, "is not a pool")
			}
		}
		for j, a := range f.AcceptProxy {
			if _, err := parsePrefix(a); err != nil {
				bad(fmt.Sprintf("%s.accept_proxy[%d]", k, j), a, "must be a CIDR or an address")
			}
		}
		if f.MaxConns == 0 {
			f.MaxConns = 10000
		}
		if f.MaxConns < 0 || f.MaxConnsPerClient < 0 {
			bad(k+".max_conns", fmt.Sprintf("%d/%d", f.MaxConns, f.MaxConnsPerClient), "must not be negative")
		}
		if f.IdleTimeout == 0 {
			f.IdleTimeout = 5 * time.Minute
		}
		if f.HelloTimeout == 0 {
			f.HelloTimeout = 5 * time.Second
		}
		if f.IdleTimeout < 0 || f.HelloTimeout < 0 {
			bad(k+".idle_timeout", f.IdleTimeout, "must not be negative")
		}
	}
	return errs.Err()
}

func checkSNIName(n string) error {
	rest, wild := strings.CutPrefix(n, "*.")
	if rest == "" || strings.Contains(rest, "*") {
		return errors.New("must be a host name or *.domain")
	}
	if !wild && !strings.Contains(n, ".") && n != "localhost" {
		return nil // single-label names are allowed
	}
	for _, l := range strings.Split(rest, ".") {
		if l == "" || len(l) > 63 {
			return errors.New("has an empty or over-long label")
		}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func ptr[T any](v T) *T { return &v }

// newPolicy builds a pool's policy from the shared L7 implementations.
func newPolicy(name string) (policy.Policy, error) { return policy.New(name, nil) }
