package xfr

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"netsim/internal/cfgerr"
)

// ACLRule lets transfers through: from a client in From (empty: any
// address) and, when Key is set, signed with that TSIG key. A transfer
// is allowed when one rule of the zone's list matches.
type ACLRule struct {
	From string `mapstructure:"from"`
	Key  string `mapstructure:"key"`
}

type aclRule struct {
	from netip.Prefix // invalid: any address
	key  string       // "" : signed or not
}

// PolicyRule lets one key change names of a zone: names that match one
// of Names ("host.zone." exactly, "*.zone." any name below zone), records
// of one of Types (empty: any type but SOA, which the serial bump owns).
type PolicyRule struct {
	Key   string   `mapstructure:"key"`
	Names []string `mapstructure:"names"`
	Types []string `mapstructure:"types"`
}

type policyRule struct {
	key   string
	names []string // exact names, or "*.suffix"
	types map[uint16]bool
}

func parseACL(field string, rules []ACLRule, keys *Keyring) ([]aclRule, error) {
	var out []aclRule
	for i, r := range rules {
		f := fmt.Sprintf("%s[%d]", field, i)
		var a aclRule
		if r.From != "" {
			p, err := parsePrefix(r.From)
			if err != nil {
				return nil, cfgerr.New(f+".from", r.From, "%v (want a prefix such as 127.0.0.0/8 or an address)", err)
			}
			a.from = p
		}
		if r.Key != "" {
			a.key = dns.CanonicalName(r.Key)
			if !keys.Has(a.key) {
				return nil, cfgerr.New(f+".key", r.Key, "not a key of tsig_keys")
			}
		}
		if r.From == "" && r.Key == "" {
			return nil, cfgerr.New(f, nil, "give from, key or both (an empty rule would let anyone transfer)")
		}
		out = append(out, a)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

// allowed reports whether a client, with the key it signed with ("" for
// none, already verified), may transfer.
func allowed(rules []aclRule, client netip.Addr, key string) bool {
	for _, r := range rules {
		if r.from.IsValid() && !r.from.Contains(client.Unmap()) {
			continue
		}
		if r.key != "" && r.key != key {
			continue
		}
		return true
	}
	return false
}

func parsePolicy(field, zone string, rules []PolicyRule, keys *Keyring) ([]policyRule, error) {
	var out []policyRule
	for i, r := range rules {
		f := fmt.Sprintf("%s[%d]", field, i)
		p := policyRule{key: dns.CanonicalName(r.Key)}
		if r.Key == "" || !keys.Has(p.key) {
			return nil, cfgerr.New(f+".key", r.Key, "not a key of tsig_keys (updates must be signed)")
		}
		if len(r.Names) == 0 {
			return nil, cfgerr.New(f+".names", nil, "empty: list the names the key may change, e.g. [%q, \"*.%s\"]", zone, zone)
		}
		for j, n := range r.Names {
			c := dns.CanonicalName(n)
			if !dns.IsSubDomain(zone, strings.TrimPrefix(c, "*.")) {
				return nil, cfgerr.New(fmt.Sprintf("%s.names[%d]", f, j), n, "not in zone %s", zone)
			}
			p.names = append(p.names, c)
		}
		if len(r.Types) > 0 {
			p.types = map[uint16]bool{}
			for j, t := range r.Types {
				ty, ok := dns.StringToType[strings.ToUpper(t)]
				if !ok {
					return nil, cfgerr.New(fmt.Sprintf("%s.types[%d]", f, j), t, "not a record type (A, AAAA, TXT…)")
				}
				p.types[ty] = true
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// permits reports whether key may change records of name and type t.
// Type ANY stands for "every set at the name": a rule limited to some
// types does not permit it.
func permits(rules []policyRule, key, name string, t uint16) bool {
	for _, r := range rules {
		if r.key != key {
			continue
		}
		if r.types == nil {
			if t == dns.TypeSOA {
				continue
			}
		} else if !r.types[t] {
			continue
		}
		for _, n := range r.names {
			if n == name || strings.HasPrefix(n, "*.") && name != n[2:] && dns.IsSubDomain(n[2:], name) {
				return true
			}
		}
	}
	return false
}
