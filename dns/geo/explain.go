package geo

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Result is a geo answer.
type Result struct {
	// Answer holds the records, owned by the Engine and shared between
	// queries: do not modify them (dns.Copy first, e.g. to set the owner
	// name to the question's case). Empty with Rcode success: NODATA (a
	// type other than A/AAAA, or a pool with no member of that family).
	Answer []dns.RR
	// Rcode is dns.RcodeSuccess, dns.RcodeFormatError (malformed ECS
	// option, RFC 7871 §6) or dns.RcodeServerFailure (every member down
	// and the name is fail: closed).
	Rcode int
	// ECS is the option to attach to the reply, nil when the query had
	// none or it was not used (then no option is echoed, as from a server
	// that ignores ECS). Its SCOPE PREFIX-LENGTH is Scope.
	ECS *dns.EDNS0_SUBNET
	// Scope is the SCOPE PREFIX-LENGTH: the length of the network the
	// answer holds for (see ecs.Scope).
	Scope uint8
	// TTL of the records (seconds).
	TTL uint32
	// Explanation says how the answer was chosen.
	Explanation Explanation
}

// Explanation records each step of a geo decision. Building it does not
// allocate: its strings are prepared at load or on health changes.
type Explanation struct {
	Name string `json:"name"`
	// Client is the query's source address.
	Client netip.Addr `json:"client"`
	// ECS is the client subnet from the query, if any.
	ECS netip.Prefix `json:"ecs,omitzero"`
	// Source is what located the client: "ecs", "client" (the source
	// address), or "ecs-opt-out" (SOURCE /0: nobody's address is used).
	Source string `json:"source"`
	// ECSIgnored says why a query's ECS option was not used.
	ECSIgnored string `json:"ecs_ignored,omitempty"`
	// Located is the address looked up ("" when none was).
	Located netip.Addr `json:"located,omitzero"`
	// DatabaseConsulted is false when no rule needed the GeoIP database
	// (a network rule matched, or the name has no country/continent rules).
	DatabaseConsulted bool `json:"database_consulted"`
	// Found and Location: the database record.
	Found    bool     `json:"found_in_database"`
	Location Location `json:"location"`
	// Rule is the rule that chose the pool: "network 127.0.10.0/24",
	// "country GB", "continent EU" or "default".
	Rule string `json:"rule"`
	// Pool is the pool answered from.
	Pool string `json:"pool"`
	// Failover is set when the chosen pool had no available member.
	Failover string `json:"failover,omitempty"`
	// Network is the network the decision holds for (the ECS scope).
	Network netip.Prefix `json:"network,omitzero"`
	// LeftOut lists the members of the pool that were not eligible.
	LeftOut []LeftOut `json:"left_out,omitempty"`
}

// LeftOut is a member that was not eligible, and why.
type LeftOut struct {
	Member string `json:"member"`
	Reason string `json:"reason"`
}

// String renders the explanation in one line.
func (x Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: client %s", x.Name, x.Client)
	if x.ECS.IsValid() {
		fmt.Fprintf(&b, " ecs %s", x.ECS)
	}
	fmt.Fprintf(&b, "; located by %s", x.Source)
	if x.ECSIgnored != "" {
		fmt.Fprintf(&b, " (ecs ignored: %s)", x.ECSIgnored)
	}
	if x.DatabaseConsulted {
		if x.Found {
			fmt.Fprintf(&b, "; database: %s/%s in %s", x.Location.Country, x.Location.Continent, x.Location.Network)
		} else {
			fmt.Fprintf(&b, "; database: no record (%s)", x.Location.Network)
		}
	}
	fmt.Fprintf(&b, "; rule %s -> pool %s", x.Rule, x.Pool)
	if x.Failover != "" {
		fmt.Fprintf(&b, " (%s)", x.Failover)
	}
	for _, l := range x.LeftOut {
		fmt.Fprintf(&b, "; left out %s: %s", l.Member, l.Reason)
	}
	return b.String()
}

// Reasons an ECS option was not used.
const (
	ecsIgnoredConfig    = "geo.ignore_ecs is set"
	ecsIgnoredUntrusted = "client is not in geo.trust_ecs_from"
)

// Failover reasons.
const (
	failoverDefault = "no available member in the chosen pool: answered from the default pool"
	failOpenAll     = "every member is down: fail-open answers them all as if healthy"
	failClosedAll   = "every member is down: fail-closed answers SERVFAIL"
)
