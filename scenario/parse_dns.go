package scenario

import (
	"go.yaml.in/yaml/v3"
)

// watches reads `watch: [app.example.test, {name: www.example.test, region: eu}]`.
func (d *dec) watches(n *yaml.Node) []Watch {
	var out []Watch
	for _, wn := range d.list(n, "watch") {
		wn = resolve(wn)
		if wn.Kind == yaml.ScalarNode {
			out = append(out, Watch{Name: wn.Value})
			continue
		}
		f := d.fields(wn, "watch[]", "name", "region")
		w := Watch{Name: d.str(f["name"], "watch[].name"), Region: d.str(f["region"], "watch[].region")}
		if w.Name == "" {
			d.errf(wn, "watch[]: want a name, or {name: www.example.test, region: eu}")
		}
		if _, ok := Regions[w.Region]; w.Region != "" && !ok {
			d.errf(f["region"], "watch[].region: unknown region %q; regions: eu, na, as", w.Region)
		}
		out = append(out, w)
	}
	return out
}

// resolverKnobs reads `resolver: {coalesce: false, prefetch: false}`.
func (d *dec) resolverKnobs(v *yaml.Node, w string, s *Step) {
	f := d.fields(v, w, "coalesce", "prefetch")
	if c := f["coalesce"]; c != nil {
		b := d.boolean(c, w+".coalesce")
		s.Coalesce = &b
	}
	if p := f["prefetch"]; p != nil {
		b := d.boolean(p, w+".prefetch")
		s.Prefetch = &b
	}
	if s.Coalesce == nil && s.Prefetch == nil {
		d.errf(v, "%s: want {coalesce: false} and/or {prefetch: false}", w)
	}
}

// herd reads `herd: {name: popular.example.test, clients: 50}`.
func (d *dec) herd(v *yaml.Node, w string, s *Step) {
	f := d.fields(v, w, "name", "clients")
	s.Record.Name, s.Clients = d.str(f["name"], w+".name"), 50
	if c := f["clients"]; c != nil {
		s.Clients = d.integer(c, w+".clients", 2, 1000)
	}
	if s.Record.Name == "" {
		d.errf(v, "%s: want {name: popular.example.test, clients: 50}", w)
	}
}

// dnsExpect reads the DNS expectations:
//
//	upstream: {step: herd-on, is: 1}       upstream queries a herd step caused ("<=2", ">10" …)
//	failover: {region: eu, from: outage, to: back, within: 23s}
//	dns: {name: app.example.test, from: change, old: 127.0.10.1, new: 127.0.20.1}
func (d *dec) dnsExpect(kind string, v *yaml.Node, e *Expect, w string) {
	switch kind {
	case "upstream":
		f := d.fields(v, w, "step", "is")
		e.Step = d.str(f["step"], w+".step")
		if e.Step == "" || f["is"] == nil {
			d.errf(v, "%s: want {step: herd-on, is: 1} (the label of a herd step, and a count with an optional comparison)", w)
			return
		}
		d.failed(f["is"], e, w+".is")
	case "failover":
		f := d.fields(v, w, "region", "from", "to", "within")
		e.Region, e.From, e.To, e.Limit = d.str(f["region"], w+".region"), d.bound(f["from"], w+".from"), d.bound(f["to"], w+".to"), d.duration(f["within"], w+".within")
		if _, ok := Regions[e.Region]; !ok || !e.From.Set || e.Limit == 0 {
			d.errf(v, "%s: want {region: eu, from: outage, within: 23s} (to: optional)", w)
		}
	case "dns":
		f := d.fields(v, w, "name", "from", "old", "new")
		e.Name, e.From, e.Old, e.New = d.str(f["name"], w+".name"), d.bound(f["from"], w+".from"), d.str(f["old"], w+".old"), d.str(f["new"], w+".new")
		if e.Name == "" || !e.From.Set || e.Old == "" || e.New == "" {
			d.errf(v, "%s: want {name: app.example.test, from: change, old: 127.0.10.1, new: 127.0.20.1}", w)
		}
	}
}
