package scenario

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

func actionNames() string {
	s := make([]string, len(actions))
	for i, a := range actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func (d *dec) steps(n *yaml.Node, where string) []Step {
	var out []Step
	var last time.Duration
	for i, sn := range d.list(n, where) {
		w := fmt.Sprintf("%s[%d]", where, i)
		s, ok := d.step(sn, w)
		if !ok {
			continue
		}
		if s.HasAt {
			if s.At < last {
				d.errf(sn, "%s: at %v comes before the previous timed step (%v); list steps in time order", w, s.At, last)
			}
			last = s.At
		}
		out = append(out, s)
	}
	return out
}

func (d *dec) step(sn *yaml.Node, w string) (Step, bool) {
	sn = resolve(sn)
	s := Step{Line: sn.Line, Timeout: 30 * time.Second}
	if sn.Kind != yaml.MappingNode {
		d.errf(sn, "%s: want a mapping such as {at: 5s, drain: b1}, got %s", w, describe(sn))
		return s, false
	}
	keys := append([]string{"at", "label", "timeout"}, strings.Split(actionNames(), ", ")...)
	f := d.fields(sn, w, keys...)
	if v := f["at"]; v != nil {
		s.At, s.HasAt = d.duration(v, w+".at"), true
	}
	s.Label = d.str(f["label"], w+".label")
	if v := f["timeout"]; v != nil {
		s.Timeout = d.duration(v, w+".timeout")
	}
	var found []Action
	for _, a := range actions {
		if _, ok := f[string(a)]; ok {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		d.errf(sn, "%s: a step does exactly one thing; found %d actions %v; actions: %s", w, len(found), found, actionNames())
		return s, false
	}
	s.Action = found[0]
	v := f[string(s.Action)]
	w += "." + string(s.Action)
	switch s.Action {
	case ActDrain, ActUndrain, ActMaintenance, ActWaitIdle, ActStop, ActKill, ActWaitHealthy, ActRemove:
		s.Backend = d.backendID(v, w)
	case ActStart:
		if resolve(v).Kind == yaml.ScalarNode {
			s.Backend = d.backendID(v, w)
			break
		}
		bf := d.fields(v, w, "backend", "version")
		s.Backend, s.Version = d.backendID(bf["backend"], w+".backend"), d.str(bf["version"], w+".version")
	case ActAdd:
		bf := d.fields(v, w, "backend", "version", "weight")
		s.Backend, s.Version, s.Weight = d.backendID(bf["backend"], w+".backend"), d.str(bf["version"], w+".version"), 1
		if bf["weight"] != nil {
			s.Weight = d.integer(bf["weight"], w+".weight", 0, 256)
		}
		if s.Version == "" {
			d.errf(v, "%s: say which version the new backend runs, e.g. {backend: c1, version: v2}", w)
		}
	case ActWeight:
		s.Weights = map[string]int{}
		vn := resolve(v)
		if vn.Kind != yaml.MappingNode || len(vn.Content) == 0 {
			d.errf(vn, "%s: want backend: weight pairs such as {b1: 19, c1: 1}, got %s", w, describe(vn))
			break
		}
		for i := 0; i+1 < len(vn.Content); i += 2 {
			s.Weights[vn.Content[i].Value] = d.integer(vn.Content[i+1], w+"."+vn.Content[i].Value, 0, 256)
		}
	case ActFailHealth:
		s.On = true
		if resolve(v).Kind == yaml.ScalarNode {
			s.Backend = d.backendID(v, w)
			break
		}
		bf := d.fields(v, w, "backend", "on")
		s.Backend = d.backendID(bf["backend"], w+".backend")
		if bf["on"] != nil {
			s.On = d.boolean(bf["on"], w+".on")
		}
	case ActSlow:
		bf := d.fields(v, w, "backend", "latency", "jitter")
		s.Backend, s.Latency, s.Jitter = d.backendID(bf["backend"], w+".backend"), d.duration(bf["latency"], w+".latency"), d.duration(bf["jitter"], w+".jitter")
	case ActErrors:
		bf := d.fields(v, w, "backend", "rate")
		s.Backend, s.Rate = d.backendID(bf["backend"], w+".backend"), d.fraction(bf["rate"], w+".rate")
	case ActStopRegion, ActStartRegion:
		s.Region = d.str(v, w)
		if _, ok := Regions[s.Region]; !ok {
			d.errf(v, "%s: unknown region %q; regions: eu, na, as", w, s.Region)
		}
	case ActDNS:
		bf := d.fields(v, w, "zone", "name", "type", "value", "ttl")
		s.Record = RecordChange{Zone: d.str(bf["zone"], w+".zone"), Name: d.str(bf["name"], w+".name"),
			Type: strings.ToUpper(d.str(bf["type"], w+".type")), Value: d.str(bf["value"], w+".value"), TTL: 300}
		if bf["ttl"] != nil {
			s.Record.TTL = d.integer(bf["ttl"], w+".ttl", 0, 604800)
		}
		if s.Record.Name == "" || s.Record.Type == "" || s.Record.Value == "" {
			d.errf(v, "%s: want {name: www.example.test., type: A, value: 127.0.10.1, ttl: 30}", w)
		}
	case ActFlushCache:
		if vn := resolve(v); vn.Kind == yaml.ScalarNode {
			s.Record.Name = vn.Value
		}
	case ActSleep:
		s.Duration = d.duration(v, w)
	case ActRollout:
		s.Rollout = d.rollout(v, w)
	case ActAnalyze:
		s.Analyze = d.analyze(v, w)
	case ActResolver:
		d.resolverKnobs(v, w, &s)
	case ActHerd:
		d.herd(v, w, &s)
	}
	return s, true
}

func (d *dec) backendID(n *yaml.Node, w string) string {
	id := d.str(n, w)
	if id == "" {
		d.errf(n, "%s: name a backend, e.g. b1", w)
	}
	return id
}

func (d *dec) rollout(n *yaml.Node, w string) *Rollout {
	f := d.fields(n, w, "version", "backends", "max_unavailable", "max_surge", "drain", "broken", "ready_timeout", "min_ready")
	r := &Rollout{Version: d.str(f["version"], w+".version"), Backends: d.strs(f["backends"], w+".backends"), MaxUnavailable: 1, Drain: true, ReadyTimeout: 30 * time.Second}
	if f["max_unavailable"] != nil {
		r.MaxUnavailable = d.integer(f["max_unavailable"], w+".max_unavailable", 0, 100)
	}
	if f["max_surge"] != nil {
		r.MaxSurge = d.integer(f["max_surge"], w+".max_surge", 0, 100)
	}
	if f["drain"] != nil {
		r.Drain = d.boolean(f["drain"], w+".drain")
	}
	if f["min_ready"] != nil {
		r.MinReady = d.duration(f["min_ready"], w+".min_ready")
	}
	if f["ready_timeout"] != nil {
		r.ReadyTimeout = d.duration(f["ready_timeout"], w+".ready_timeout")
	}
	if f["broken"] != nil {
		r.Broken = d.boolean(f["broken"], w+".broken")
	}
	if r.Version == "" || len(r.Backends) == 0 {
		d.errf(n, "%s: want {version: v2, backends: [b1, b2, b3]}", w)
	}
	if r.MaxUnavailable == 0 && r.MaxSurge == 0 {
		d.errf(n, "%s: max_unavailable and max_surge cannot both be 0 (the rollout could never make progress)", w)
	}
	return r
}

func (d *dec) analyze(n *yaml.Node, w string) *Analyze {
	f := d.fields(n, w, "backend", "max_error_rate", "min_samples", "for", "rollback")
	a := &Analyze{Backend: d.backendID(f["backend"], w+".backend"), MaxErrors: d.fraction(f["max_error_rate"], w+".max_error_rate"),
		MinSamples: 20, For: d.duration(f["for"], w+".for")}
	if f["min_samples"] != nil {
		a.MinSamples = d.integer(f["min_samples"], w+".min_samples", 1, 1000000)
	}
	if a.For == 0 {
		d.errf(n, "%s.for: say how long to watch, e.g. for: 10s", w)
	}
	a.Rollback = d.steps(f["rollback"], w+".rollback")
	return a
}

func (d *dec) expects(n *yaml.Node, where string) []Expect {
	var out []Expect
	for i, en := range d.list(n, where) {
		w := fmt.Sprintf("%s[%d]", where, i)
		f := d.fields(en, w, "failed", "share", "converge", "upstream", "failover", "dns")
		if len(f) != 1 {
			d.errf(en, "%s: an expectation is one of failed, share, converge, upstream, failover, dns; found %d", w, len(f))
			continue
		}
		for kind, v := range f {
			e := Expect{Line: resolve(en).Line, Kind: kind}
			switch kind {
			case "failed":
				d.failed(v, &e, w+".failed")
			case "share":
				bf := d.fields(v, w+".share", "version", "from", "to", "is", "within")
				e.Version, e.From, e.To = d.str(bf["version"], w+".share.version"), d.bound(bf["from"], w+".share.from"), d.bound(bf["to"], w+".share.to")
				e.Share, e.Within = d.fraction(bf["is"], w+".share.is"), d.fraction(bf["within"], w+".share.within")
				if e.Version == "" || bf["is"] == nil || bf["within"] == nil {
					d.errf(v, "%s.share: want {version: v2, is: 5%%, within: 3%%} (from/to optional: a time such as 5s or a step label)", w)
				}
			case "converge":
				bf := d.fields(v, w+".converge", "version", "from", "within")
				e.Version, e.From, e.Limit = d.str(bf["version"], w+".converge.version"), d.bound(bf["from"], w+".converge.from"), d.duration(bf["within"], w+".converge.within")
				if e.Version == "" || e.Limit == 0 {
					d.errf(v, "%s.converge: want {version: v2, within: 20s}", w)
				}
			default:
				d.dnsExpect(kind, v, &e, w+"."+kind)
			}
			out = append(out, e)
		}
	}
	return out
}

// failed reads `failed: 0`, `failed: ">0"` or `failed: {is: 0, from: rollback, version: v2}`.
func (d *dec) failed(v *yaml.Node, e *Expect, w string) {
	cmp := v
	if rv := resolve(v); rv.Kind == yaml.MappingNode {
		bf := d.fields(rv, w, "is", "from", "to", "version", "backend")
		cmp = bf["is"]
		e.From, e.To = d.bound(bf["from"], w+".from"), d.bound(bf["to"], w+".to")
		e.Version, e.Backend = d.str(bf["version"], w+".version"), d.str(bf["backend"], w+".backend")
	}
	s := strings.ReplaceAll(d.str(cmp, w), " ", "")
	e.Op = "=="
	for _, op := range []string{">=", "<=", "==", ">", "<", "="} {
		if strings.HasPrefix(s, op) {
			e.Op, s = op, s[len(op):]
			break
		}
	}
	if e.Op == "=" {
		e.Op = "=="
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		d.errf(v, "%s: want a count with an optional comparison: 0, \">0\", \"<=5\"; got %q", w, d.str(cmp, w))
	}
	e.Count = n
}

func (d *dec) bound(n *yaml.Node, w string) Bound {
	s := d.str(n, w)
	if s == "" {
		return Bound{}
	}
	if t, err := time.ParseDuration(s); err == nil {
		return Bound{At: t, Set: true}
	}
	return Bound{Label: s, Set: true}
}
