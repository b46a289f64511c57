package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/cache"
	"netsim/dns/ecs"
	"netsim/internal/cfgerr"
)

// Config is the `resolver:` section of configs/dnsd.yaml. Durations are Go
// duration strings ("800ms", "1h") when loaded through viper.
type Config struct {
	// RootHints are the addresses iteration starts from, each "addr",
	// "addr@port" (Unbound's form) or "addr:port"/"[v6]:port". Without a
	// port, Port applies.
	RootHints []string `mapstructure:"root_hints"`
	// Port is where iterative queries go when a referral's glue (which
	// carries no port) is used: 53 on the internet, 1053 in the simulation.
	Port int `mapstructure:"port"`
	// Stubs send iterative (RD=0) queries for a zone and everything below
	// it to fixed addresses, like Unbound's stub-zone/stub-addr.
	Stubs []Zone `mapstructure:"stubs"`
	// Forwarders, when set, receive every recursive query (RD=1) that no
	// stub or forward zone covers, instead of iterating from the root.
	Forwarders []string `mapstructure:"forwarders"`
	// ForwardZones forward one zone and its subtree (Unbound forward-zone,
	// CoreDNS forward).
	ForwardZones []Zone `mapstructure:"forward_zones"`
	// Allow lists the client networks (CIDR or single addresses) that may
	// recurse; everyone else is REFUSED.
	Allow []string `mapstructure:"allow"`

	MaxReferrals       int           `mapstructure:"max_referrals"`        // zone cuts followed per name
	MaxCNAMEChain      int           `mapstructure:"max_cname_chain"`      // CNAME hops followed per query
	MaxUpstreamQueries int           `mapstructure:"max_upstream_queries"` // upstream queries per client query, NS lookups included
	MaxNSLookupDepth   int           `mapstructure:"max_ns_lookup_depth"`  // nested lookups of glueless NS addresses
	Timeout            time.Duration `mapstructure:"timeout"`              // total time for one resolution; past it: SERVFAIL
	UpstreamTimeout    time.Duration `mapstructure:"upstream_timeout"`     // the longest wait for one try at one server (a measured one: its RTO, servers.go)
	EDNSBufferSize     int           `mapstructure:"edns_buffer_size"`     // advertised upstream (1232, DNS flag day 2020)
	// QNAMEMinimisation asks each server only for the next label below its
	// zone (RFC 9156), so the root and TLDs do not see the full name.
	QNAMEMinimisation bool `mapstructure:"qname_minimisation"`
	// AggressiveNXDomain: a cached NXDOMAIN for a name answers every name
	// below it too, without asking (RFC 8020; Unbound harden-below-nxdomain).
	AggressiveNXDomain bool `mapstructure:"aggressive_nxdomain"`

	// Cache is the `resolver.cache:` section.
	Cache cache.Config `mapstructure:"cache"`

	// ECS: EDNS Client Subnet sent upstream (RFC 7871), so a GeoDNS
	// server behind the resolver sees where the client is.
	ECS ECSConfig `mapstructure:"ecs"`

	// StaleAnswerTTL is the TTL of records served stale (RFC 8767 §4: 30 s).
	StaleAnswerTTL time.Duration `mapstructure:"stale_answer_ttl"`
	// StaleClientTimeout is how long a client waits for a refresh of an
	// expired entry before the stale answer is sent (RFC 8767 "client
	// response timer"; 0 answers stale at once and refreshes behind).
	StaleClientTimeout time.Duration `mapstructure:"stale_client_timeout"`
	// StaleRecheck: after a refresh failed, stale answers for that name go
	// out at once, without waiting, for this long (RFC 8767 "failure recheck").
	StaleRecheck time.Duration `mapstructure:"stale_recheck"`
	// FailureTTL: after a resolution fails, clients asking the same
	// question get SERVFAIL at once for this long instead of each waiting
	// for dead servers again (RFC 9520: at least 1 s, at most 5 min).
	FailureTTL time.Duration `mapstructure:"failure_ttl"`

	// Coalesce: clients asking the same question while it is being
	// resolved wait for that one resolution instead of each asking
	// upstream (off only to show the thundering herd). Both Coalesce and
	// Prefetch can be switched at run time (PATCH /api/v1/resolver).
	Coalesce          bool    `mapstructure:"coalesce"`
	Prefetch          bool    `mapstructure:"prefetch"`           // refresh popular entries before they expire
	PrefetchThreshold float64 `mapstructure:"prefetch_threshold"` // fraction of the TTL left that triggers it
	PrefetchMinHits   int     `mapstructure:"prefetch_min_hits"`  // hits an entry needs to count as popular

	// Defences against hostile authorities and greedy clients.

	// MaxNSLookupsPerReferral bounds the name servers without glue looked
	// up for one referral (NXNSAttack: a referral naming hundreds of
	// glueless servers must not turn into hundreds of queries).
	MaxNSLookupsPerReferral int `mapstructure:"max_ns_lookups_per_referral"`
	// UnwantedReplyThreshold: after this many upstream replies that match
	// no query (wrong ID, question, source address or 0x20 case), the
	// cache is flushed in case a forgery got through (Unbound's
	// unwanted-reply-threshold). 0 turns it off.
	UnwantedReplyThreshold int `mapstructure:"unwanted_reply_threshold"`
	// MaxResolutionsPerClient bounds the resolutions one client (an IPv4
	// address or an IPv6 /64) waits for at once; past it the client gets
	// SERVFAIL at once, so it cannot hold every slot of the listener. 0
	// turns it off.
	MaxResolutionsPerClient int `mapstructure:"max_resolutions_per_client"`
	// CaseRandomisation sends each upstream question with the case of its
	// letters chosen at random and drops replies that do not echo it
	// (draft-vixie-dnsext-dns0x20, Unbound use-caps-for-id): more for an
	// off-path forger to guess. Every server of the simulated world echoes
	// the case, but a server that does not cannot be resolved with it on
	// (its replies are dropped as forgeries), and the authoritative
	// listeners' dns.query events then carry the random case, which the
	// live page matches against dns.upstream events: off by default.
	CaseRandomisation bool `mapstructure:"case_randomisation"`

	// DNSSEC validation from a trust anchor (validate.go).
	DNSSEC DNSSECConfig `mapstructure:"dnssec"`
}

// Zone is a stub or forward zone: a name and the addresses to ask.
type Zone struct {
	Name  string   `mapstructure:"name"`
	Addrs []string `mapstructure:"addrs"`
}

// ECSConfig is the `resolver.ecs:` section. Answers that come back with a
// SCOPE PREFIX-LENGTH are cached for that network only, so one subnet's
// answer is never served to another.
type ECSConfig struct {
	Enabled    bool `mapstructure:"enabled"`
	IPv4Prefix int  `mapstructure:"ipv4_prefix"` // source prefix sent for IPv4 clients (RFC 7871 §11.1: 24)
	IPv6Prefix int  `mapstructure:"ipv6_prefix"` // ... for IPv6 clients (56)
	// SendTo lists the upstream server networks that receive ECS (Unbound's
	// send-client-subnet): by default the simulated world on loopback only,
	// so the client's subnet is not leaked to servers on the internet.
	SendTo []string `mapstructure:"send_to"`
	// ExcludeZones: names at or below these zones are resolved without ECS.
	ExcludeZones []string `mapstructure:"exclude_zones"`
}

// DefaultConfig iterates the simulated hierarchy: root hints 127.0.1.1,
// port 1053, recursion for loopback clients only.
func DefaultConfig() Config {
	return Config{
		RootHints:          []string{"127.0.1.1"},
		Port:               1053,
		Allow:              []string{"127.0.0.0/8", "::1"},
		MaxReferrals:       16,
		MaxCNAMEChain:      8,
		MaxUpstreamQueries: 48,
		MaxNSLookupDepth:   3,
		Timeout:            4 * time.Second,
		UpstreamTimeout:    800 * time.Millisecond,
		EDNSBufferSize:     1232,
		AggressiveNXDomain: true,
		Cache:              cache.DefaultConfig(),
		ECS: ECSConfig{
			Enabled:    true,
			IPv4Prefix: ecs.DefaultV4Bits,
			IPv6Prefix: ecs.DefaultV6Bits,
			SendTo:     []string{"127.0.0.0/8", "::1"},
		},
		StaleAnswerTTL:     30 * time.Second,
		StaleClientTimeout: 1800 * time.Millisecond,
		StaleRecheck:       30 * time.Second,
		FailureTTL:         5 * time.Second,
		Coalesce:           true,
		Prefetch:           true,
		PrefetchThreshold:  0.1,
		PrefetchMinHits:    2,

		MaxNSLookupsPerReferral: 5,
		UnwantedReplyThreshold:  10_000_000,
		MaxResolutionsPerClient: 100,
		DNSSEC:                  DNSSECConfig{Validate: true},
	}
}

// RealRootHints are the IPv4 addresses of a.root-servers.net … m.root-servers.net
// (IANA named.root); with Port 53 they make the resolver iterate the internet.
var RealRootHints = []string{
	"198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13", "192.203.230.10",
	"192.5.5.241", "192.112.36.4", "198.97.190.53", "192.36.148.17", "192.58.128.30",
	"193.0.14.129", "199.7.83.42", "202.12.27.33",
}

// parseServer reads "addr", "addr@port", "addr:port" or "[v6]:port".
func parseServer(s string, defPort int) (netip.AddrPort, error) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		a, err := netip.ParseAddr(s[:i])
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address", s[:i])
		}
		p, err := strconv.ParseUint(s[i+1:], 10, 16)
		if err != nil || p == 0 {
			return netip.AddrPort{}, fmt.Errorf("%q is not a port from 1 to 65535", s[i+1:])
		}
		return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, errors.New("port 0 (want 1 to 65535)")
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, errors.New("not an address (want 192.0.2.1, 192.0.2.1@1053 or [2001:db8::1]:1053)")
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(defPort)), nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not a network (want 127.0.0.0/8)")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an address or network (want 127.0.0.1 or 127.0.0.0/8)")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate reports the first bad key as resolver.<key>, its value and why.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// zoneServers is a configured stub or forward zone after parsing.
type zoneServers struct {
	zone    string
	addrs   []netip.AddrPort
	forward bool
}

type compiled struct {
	zones      []zoneServers // most specific first
	allow      []netip.Prefix
	ecsPolicy  ecs.Policy
	ecsSendTo  []netip.Prefix
	ecsExclude []string
}

func keyErr(key string, v any, why string, args ...any) error {
	return cfgerr.New("resolver."+key, v, why, args...)
}

func (c Config) compile() (compiled, error) {
	var out compiled
	if c.Port < 1 || c.Port > 65535 {
		return out, keyErr("port", c.Port, "must be from 1 to 65535")
	}
	servers := func(key string, list []string, need bool) ([]netip.AddrPort, error) {
		if need && len(list) == 0 {
			return nil, keyErr(key, nil, "needs at least one address")
		}
		var aps []netip.AddrPort
		for i, s := range list {
			ap, err := parseServer(s, c.Port)
			if err != nil {
				return nil, keyErr(fmt.Sprintf("%s[%d]", key, i), s, "%v", err)
			}
			aps = append(aps, ap)
		}
		return aps, nil
	}
	seen := map[string]string{}
	addZone := func(key, name string, addrs []netip.AddrPort, forward bool) error {
		if _, ok := dns.IsDomainName(name); !ok || name == "" {
			return keyErr(key+".name", name, "is not a domain name")
		}
		z := strings.ToLower(dns.Fqdn(name))
		if prev, dup := seen[z]; dup {
			return keyErr(key+".name", name, "zone already configured by resolver.%s", prev)
		}
		seen[z] = key
		out.zones = append(out.zones, zoneServers{zone: z, addrs: addrs, forward: forward})
		return nil
	}
	zones := func(key string, list []Zone, forward bool) error {
		for i, z := range list {
			k := fmt.Sprintf("%s[%d]", key, i)
			aps, err := servers(k+".addrs", z.Addrs, true)
			if err != nil {
				return err
			}
			if err := addZone(k, z.Name, aps, forward); err != nil {
				return err
			}
		}
		return nil
	}
	if err := zones("stubs", c.Stubs, false); err != nil {
		return out, err
	}
	if err := zones("forward_zones", c.ForwardZones, true); err != nil {
		return out, err
	}
	if _, ok := seen["."]; !ok {
		if len(c.Forwarders) > 0 {
			aps, err := servers("forwarders", c.Forwarders, true)
			if err != nil {
				return out, err
			}
			_ = addZone("forwarders", ".", aps, true)
		} else {
			aps, err := servers("root_hints", c.RootHints, true)
			if err != nil {
				return out, err
			}
			_ = addZone("root_hints", ".", aps, false)
		}
	}
	sort.SliceStable(out.zones, func(i, j int) bool {
		return dns.CountLabel(out.zones[i].zone) > dns.CountLabel(out.zones[j].zone)
	})
	for i, s := range c.Allow {
		p, err := parsePrefix(s)
		if err != nil {
			return out, keyErr(fmt.Sprintf("allow[%d]", i), s, "%v", err)
		}
		out.allow = append(out.allow, p)
	}
	ints := []struct {
		key       string
		v, lo, hi int
	}{
		{"max_referrals", c.MaxReferrals, 1, 64},
		{"max_cname_chain", c.MaxCNAMEChain, 0, 32},
		{"max_upstream_queries", c.MaxUpstreamQueries, 1, 1000},
		{"max_ns_lookup_depth", c.MaxNSLookupDepth, 0, 10},
		{"edns_buffer_size", c.EDNSBufferSize, 512, 4096},
		{"prefetch_min_hits", c.PrefetchMinHits, 0, 1 << 20},
		{"max_ns_lookups_per_referral", c.MaxNSLookupsPerReferral, 1, 64},
		{"unwanted_reply_threshold", c.UnwantedReplyThreshold, 0, 1 << 30},
		{"max_resolutions_per_client", c.MaxResolutionsPerClient, 0, 1 << 20},
	}
	for _, x := range ints {
		if x.v < x.lo || x.v > x.hi {
			return out, keyErr(x.key, x.v, "must be from %d to %d", x.lo, x.hi)
		}
	}
	durs := []struct {
		key    string
		v, lo  time.Duration
		hi     time.Duration
		reason string
	}{
		{"timeout", c.Timeout, 100 * time.Millisecond, time.Minute, "a client waits this long at most"},
		{"upstream_timeout", c.UpstreamTimeout, 10 * time.Millisecond, c.Timeout, "one try must fit in resolver.timeout"},
		{"stale_answer_ttl", c.StaleAnswerTTL, 0, time.Hour, "RFC 8767 suggests 30s"},
		{"stale_client_timeout", c.StaleClientTimeout, 0, c.Timeout, "must not exceed resolver.timeout"},
		{"stale_recheck", c.StaleRecheck, 0, time.Hour, ""},
		{"failure_ttl", c.FailureTTL, 0, 5 * time.Minute, "RFC 9520: at most 5 minutes"},
	}
	for _, d := range durs {
		if d.v < d.lo || d.v > d.hi {
			msg := fmt.Sprintf("must be from %s to %s", d.lo, d.hi)
			if d.reason != "" {
				msg += " (" + d.reason + ")"
			}
			return out, keyErr(d.key, d.v, "%s", msg)
		}
	}
	if c.PrefetchThreshold < 0 || c.PrefetchThreshold > 0.5 {
		return out, keyErr("prefetch_threshold", c.PrefetchThreshold, "must be a fraction from 0 to 0.5 of the TTL")
	}
	if c.ECS.Enabled {
		if c.ECS.IPv4Prefix < 1 || c.ECS.IPv4Prefix > 32 {
			return out, keyErr("ecs.ipv4_prefix", c.ECS.IPv4Prefix, "must be from 1 to 32 (24 keeps the client's /24 private)")
		}
		if c.ECS.IPv6Prefix < 1 || c.ECS.IPv6Prefix > 128 {
			return out, keyErr("ecs.ipv6_prefix", c.ECS.IPv6Prefix, "must be from 1 to 128 (56 is usual)")
		}
		out.ecsPolicy = ecs.Policy{V4Bits: c.ECS.IPv4Prefix, V6Bits: c.ECS.IPv6Prefix}
		for i, s := range c.ECS.SendTo {
			p, err := parsePrefix(s)
			if err != nil {
				return out, keyErr(fmt.Sprintf("ecs.send_to[%d]", i), s, "%v", err)
			}
			out.ecsSendTo = append(out.ecsSendTo, p)
		}
		for i, z := range c.ECS.ExcludeZones {
			if _, ok := dns.IsDomainName(z); !ok || z == "" {
				return out, keyErr(fmt.Sprintf("ecs.exclude_zones[%d]", i), z, "is not a domain name")
			}
			out.ecsExclude = append(out.ecsExclude, strings.ToLower(dns.Fqdn(z)))
		}
	}
	if _, err := cache.New(c.Cache, nil); err != nil {
		return out, cfgerr.Prefix("resolver.cache.", err)
	}
	return out, nil
}
