package resolver

import (
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
)

// The client subnet a resolution is done for (ECS, RFC 7871).

// subnet is what a resolution sends as EDNS Client Subnet and where its
// answer is looked up: opt is nil when ECS is off; at is the address that
// locates the client (invalid when it opted out with SOURCE 0).
type subnet struct {
	opt   *dns.EDNS0_SUBNET
	at    netip.Addr
	scope netip.Prefix
}

// lookupAddr is the address a cached answer must hold for: the client's,
// or the one in its own ECS option. bad when that option is malformed
// (RFC 7871 §7.1.2: FORMERR). Allocation-free for a query without ECS.
func (r *Resolver) lookupAddr(req *dns.Msg, client netip.Addr) (netip.Addr, bool) {
	if !r.cfg.ECS.Enabled || len(req.Extra) == 0 {
		return client, false
	}
	o := ecs.Find(req)
	if o == nil {
		return client, false
	}
	s, err := ecs.Parse(o)
	if err != nil {
		return netip.Addr{}, true
	}
	if s.OptOut() {
		return netip.Addr{}, false
	}
	return s.Addr(), false
}

// subnet builds the option to send upstream for this client (the policy's
// /24 or /56 of its address, or a shorter prefix it sent itself).
func (r *Resolver) subnet(req *dns.Msg, client netip.Addr) (subnet, error) {
	if !r.cfg.ECS.Enabled {
		return subnet{at: client}, nil
	}
	opt, err := r.comp.ecsPolicy.Upstream(client, ecs.Find(req))
	if err != nil {
		return subnet{}, err
	}
	if opt.SourceNetmask == 0 {
		return subnet{opt: opt}, nil
	}
	s, err := ecs.Parse(opt)
	if err != nil {
		return subnet{}, err
	}
	return subnet{opt: opt, at: s.Addr(), scope: s.Prefix}, nil
}
