package geo

import (
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
	"netsim/dns/rrset"
)

// decide makes the geo decision for a query of n from client with the
// validated subnet sub (nil: none) and explains it in x; it draws members
// but builds no records (draw.records) and counts nothing (draw.count),
// so that a server can cache the answer per variant (Variant).
func (e *Engine) decide(n *name, qtype uint16, client netip.Addr, sub *ecs.Subnet, x *Explanation) draw {
	client = client.Unmap()
	var d draw
	x.Name = n.name
	x.Client = client

	// 1. Where is the client?
	useECS := false
	if sub != nil {
		x.ECS = sub.Prefix
		switch {
		case e.ignoreECS:
			x.ECSIgnored = ecsIgnoredConfig
		case !e.trusted(client):
			x.ECSIgnored = ecsIgnoredUntrusted
		default:
			useECS = true
		}
	}
	var addr netip.Addr
	switch {
	case useECS && sub.OptOut():
		x.Source = "ecs-opt-out"
	case useECS:
		x.Source = "ecs"
		addr = sub.Addr()
	default:
		x.Source = "client"
		addr = client
	}
	x.Located = addr

	// 2. Which pool, and for which network does that choice hold?
	target, network := e.choose(n, addr, x)
	p := target.pool
	x.Rule = target.label
	x.Pool = p.name
	x.Network = network
	if useECS {
		d.useECS, d.scope = true, ecs.Scope(*sub, network)
	}

	var f int
	switch qtype {
	case dns.TypeA:
		f = 0
	case dns.TypeAAAA:
		f = 1
	default:
		return d // NODATA: the name exists, with A/AAAA only
	}

	// 3. Which members?
	v := p.view.Load()
	x.LeftOut = v.leftOut
	fv := &v.fam[f]
	dec := decMatched
	if target.label == "default" {
		dec = decDefault
	}
	if len(fv.all) == 0 {
		return d // NODATA: this pool has no address of the family
	}
	members, total := fv.avail, fv.availTotal
	if len(members) == 0 {
		if dp := n.def; dp != p {
			dv := dp.view.Load()
			if df := &dv.fam[f]; len(df.avail) > 0 {
				p, v, members, total = dp, dv, df.avail, df.availTotal
				dec = decFailover
				x.Failover = failoverDefault
				x.Pool = dp.name
			}
		}
	}
	if len(members) == 0 {
		if !n.failOpen {
			d.rcode = dns.RcodeServerFailure
			x.Failover = failClosedAll
			d.pool, d.dec = p, decFailClosed
			return d
		}
		members, total = fv.all, fv.allTotal
		dec = decFailOpen
		x.Failover = failOpenAll
		d.open = true
	}
	d.view, d.pool, d.dec = v, p, dec
	e.pick(&d, members, total, n.answers)
	return d
}

// draw is a decided geo answer: the members drawn, named by the pool
// view they come from and their places in it, so that equal draws of one
// view give equal records (Variant's key).
type draw struct {
	rcode  int
	useECS bool
	scope  uint8
	pool   *pool // counted (nil: a NODATA, not counted)
	dec    decision
	view   *poolView
	open   bool      // fail open: ms are all of the family's members, not the available ones
	ms     []*member // drawn from
	n      uint8     // members drawn, at ms[idx[i]]
	idx    [maxAnswers]uint8
	rotate bool     // all of ms, turned by rot
	rot    uint32   // < len(ms)
	wide   []dns.RR // the records, drawn from more members than idx can name
}

// maxAnswers is the most records of one answer (config: answers).
const maxAnswers = 16

// count counts the answer in dnsd_geo_answers_total.
func (d *draw) count() {
	if d.pool != nil {
		d.pool.answers[d.dec].Inc()
	}
}

// records are the answer's records (nil: NODATA or SERVFAIL), owned by
// the Engine: a single record's slice is shared, a longer one is new.
func (d *draw) records() []dns.RR {
	switch {
	case d.wide != nil:
		return d.wide
	case d.rotate:
		out := make([]dns.RR, len(d.ms))
		for i, m := range d.ms {
			out[i] = m.rr
		}
		rrset.Rotate(out, d.rot)
		return out
	case d.n == 0:
		return nil
	case d.n == 1:
		return d.ms[d.idx[0]].one
	}
	out := make([]dns.RR, d.n)
	for i := range out {
		out[i] = d.ms[d.idx[i]].rr
	}
	return out
}
