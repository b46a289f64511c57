package scenario

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Regions are the client regions and the third octet of their source
// addresses (127.0.10.x is a client in Europe).
var Regions = map[string]int{"eu": 10, "na": 20, "as": 30}

// DefaultLoad is the load of a scenario that does not say otherwise.
func DefaultLoad() Load {
	return Load{Rate: 100, Duration: 30 * time.Second, Clients: 20, KeepAlive: true, Method: "GET", Timeout: 5 * time.Second}
}

// Parse reads a scenario file. file names it in messages. Every mistake is
// reported at once, each with its line and what to write instead.
func Parse(file string, data []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &FileError{File: file, Errs: []LineError{{Line: yamlErrLine(err), Msg: "not valid YAML: " + err.Error()}}}
	}
	d := &dec{}
	sc := &Scenario{File: file, Load: DefaultLoad(), Variants: map[string]Variant{}}
	top := d.fields(&root, "scenario", "name", "description", "load", "stack", "setup", "watch", "steps", "expect", "variants")
	sc.Name = d.str(top["name"], "name")
	sc.Description = d.str(top["description"], "description")
	if sc.Name == "" {
		d.errf(resolve(&root), "name: missing; give the scenario a short name such as rolling-deploy")
	}
	d.load(top["load"], &sc.Load, "load")
	sc.Stack = d.stack(top["stack"])
	sc.Setup = d.steps(top["setup"], "setup")
	sc.Watch = d.watches(top["watch"])
	sc.Steps = d.steps(top["steps"], "steps")
	if top["steps"] == nil {
		d.errf(resolve(&root), "steps: missing; list at least one step (for example `- at: 5s` and `drain: b1`)")
	}
	sc.Expect = d.expects(top["expect"], "expect")
	if vs := resolve(top["variants"]); vs != nil {
		for name, vn := range d.fields(vs, "variants", variantNames(vs)...) {
			sc.Variants[name] = d.variant(vn, sc.Load, "variants."+name)
		}
	}
	d.check(sc)
	if len(d.errs) > 0 {
		return nil, &FileError{File: file, Errs: d.errs}
	}
	return sc, nil
}

func variantNames(n *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func yamlErrLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		var n int
		if _, e := fmt.Sscanf(s[i:], "line %d", &n); e == nil {
			return n
		}
	}
	return 1
}

func (d *dec) load(n *yaml.Node, l *Load, where string) {
	if n == nil {
		return
	}
	f := d.fields(n, where, "rate", "duration", "concurrency", "clients", "regions", "keep_alive", "cookies", "method", "target", "resolver", "timeout")
	if v, ok := f["rate"]; ok {
		l.Rate = d.number(v, where+".rate", 0.1, 100000)
	}
	if v, ok := f["duration"]; ok {
		l.Duration = d.duration(v, where+".duration")
		if l.Duration == 0 || l.Duration > time.Hour {
			d.errf(v, "%s.duration: want more than 0 and at most 1h, got %q", where, v.Value)
		}
	}
	if v, ok := f["concurrency"]; ok {
		l.Concurrency = d.integer(v, where+".concurrency", 0, 100000)
	}
	if v, ok := f["clients"]; ok {
		l.Clients = d.integer(v, where+".clients", 1, 10000)
	}
	if v, ok := f["regions"]; ok {
		l.Regions = d.strs(v, where+".regions")
		for _, r := range l.Regions {
			if _, ok := Regions[r]; !ok {
				d.errf(v, "%s.regions: unknown region %q; regions: eu, na, as", where, r)
			}
		}
	}
	if v, ok := f["keep_alive"]; ok {
		l.KeepAlive = d.boolean(v, where+".keep_alive")
	}
	if v, ok := f["cookies"]; ok {
		l.Cookies = d.boolean(v, where+".cookies")
	}
	if v, ok := f["method"]; ok {
		l.Method = strings.ToUpper(d.str(v, where+".method"))
		if !contains([]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}, l.Method) {
			d.errf(v, "%s.method: want GET, HEAD, POST, PUT, DELETE or PATCH, got %q", where, v.Value)
		}
	}
	if v, ok := f["target"]; ok {
		l.Target = d.str(v, where+".target")
		if u, err := url.Parse(l.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errf(v, "%s.target: want a URL such as http://www.example.test:8080/, got %q", where, l.Target)
		}
	}
	if v, ok := f["resolver"]; ok {
		l.Resolver = d.str(v, where+".resolver")
		if _, p, err := splitHostPort(l.Resolver); err != nil || p == 0 {
			d.errf(v, "%s.resolver: want host:port such as 127.0.0.1:1053, got %q", where, l.Resolver)
		}
	}
	if v, ok := f["timeout"]; ok {
		l.Timeout = d.duration(v, where+".timeout")
	}
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("no port")
	}
	p, err := strconv.Atoi(s[i+1:])
	return s[:i], p, err
}

func (d *dec) stack(n *yaml.Node) StackSpec {
	s := StackSpec{Policy: "weighted_round_robin", Sticky: "none", HealthInterval: 500 * time.Millisecond, Rise: 2, Fall: 3,
		Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Boot: time.Second}
	if n == nil {
		for i := 1; i <= 3; i++ {
			s.Backends = append(s.Backends, BackendSpec{ID: fmt.Sprintf("b%d", i), Version: "v1", Weight: 1})
		}
		return s
	}
	f := d.fields(n, "stack", "backends", "policy", "sticky", "health_interval", "rise", "fall", "slow_start", "latency", "jitter", "boot")
	for _, b := range d.list(f["backends"], "stack.backends") {
		bf := d.fields(b, "stack.backends[]", "id", "version", "weight")
		bs := BackendSpec{ID: d.str(bf["id"], "stack.backends[].id"), Version: d.str(bf["version"], "stack.backends[].version"), Weight: 1}
		if bf["weight"] != nil {
			bs.Weight = d.integer(bf["weight"], "stack.backends[].weight", 0, 256)
		}
		if bs.ID == "" || bs.Version == "" {
			d.errf(b, "stack.backends[]: each backend needs an id and a version, e.g. {id: b1, version: v1}")
		}
		s.Backends = append(s.Backends, bs)
	}
	if v := f["policy"]; v != nil {
		s.Policy = d.str(v, "stack.policy")
	}
	if v := f["sticky"]; v != nil {
		s.Sticky = d.str(v, "stack.sticky")
		if !contains([]string{"none", "cookie", "source_ip"}, s.Sticky) {
			d.errf(v, "stack.sticky: want none, cookie or source_ip, got %q", s.Sticky)
		}
	}
	if v := f["health_interval"]; v != nil {
		s.HealthInterval = d.duration(v, "stack.health_interval")
	}
	if v := f["rise"]; v != nil {
		s.Rise = d.integer(v, "stack.rise", 1, 100)
	}
	if v := f["fall"]; v != nil {
		s.Fall = d.integer(v, "stack.fall", 1, 100)
	}
	if v := f["slow_start"]; v != nil {
		s.SlowStart = d.duration(v, "stack.slow_start")
	}
	if v := f["latency"]; v != nil {
		s.Latency = d.duration(v, "stack.latency")
	}
	if v := f["boot"]; v != nil {
		s.Boot = d.duration(v, "stack.boot")
	}
	if v := f["jitter"]; v != nil {
		s.Jitter = d.duration(v, "stack.jitter")
	}
	return s
}

func (d *dec) variant(n *yaml.Node, base Load, where string) Variant {
	f := d.fields(n, where, "description", "load", "steps", "expect")
	v := Variant{Description: d.str(f["description"], where+".description")}
	if f["load"] != nil {
		l := base
		d.load(f["load"], &l, where+".load")
		v.Load = &l
	}
	if f["steps"] != nil {
		v.Steps, v.HasSteps = d.steps(f["steps"], where+".steps"), true
	}
	if f["expect"] != nil {
		v.Expect, v.HasExpect = d.expects(f["expect"], where+".expect"), true
	}
	return v
}

// check validates what needs the whole file: labels that bounds name, and
// backends that steps name (when the file lists the stack's backends).
func (d *dec) check(sc *Scenario) {
	all := [][]Step{sc.Steps, sc.Setup}
	exps := [][]Expect{sc.Expect}
	for _, name := range sortedKeys(sc.Variants) {
		v := sc.Variants[name]
		if v.HasSteps {
			all = append(all, v.Steps)
		}
		if v.HasExpect {
			exps = append(exps, v.Expect)
		}
	}
	labels := map[string]bool{}
	var walk func([]Step)
	walk = func(steps []Step) {
		for _, s := range steps {
			if s.Label != "" {
				labels[s.Label] = true
				labels[s.Label+DoneSuffix] = true
			}
			if s.Analyze != nil {
				walk(s.Analyze.Rollback)
			}
			if s.Rollout != nil {
				labels["halted"] = true // a rollout marks the moment it halts itself
			}
		}
	}
	for _, steps := range all {
		walk(steps)
	}
	for _, es := range exps {
		for _, e := range es {
			for _, b := range []Bound{e.From, e.To} {
				if b.Label != "" && !labels[b.Label] {
					d.errs = append(d.errs, LineError{e.Line, fmt.Sprintf("expect %s: no step has the label %q; labels: %s", e.Kind, b.Label, strings.Join(sortedKeys(labels), ", "))})
				}
			}
		}
	}
	for _, steps := range all {
		known := map[string]bool{}
		for _, b := range sc.Stack.Backends {
			known[b.ID] = true
		}
		d.checkBackends(steps, known)
	}
}

func (d *dec) checkBackends(steps []Step, known map[string]bool) {
	for _, s := range steps {
		if s.Action == ActAdd {
			known[s.Backend] = true
			continue
		}
		names := []string{s.Backend}
		if s.Weights != nil {
			names = sortedKeys(s.Weights)
		}
		if s.Rollout != nil {
			names = s.Rollout.Backends
		}
		for _, b := range names {
			if b != "" && !known[b] {
				d.errs = append(d.errs, LineError{s.Line, fmt.Sprintf("%s: no backend %q in the stack; backends: %s (add one first with `add: {backend: %s, version: v2}`)", s.Action, b, strings.Join(sortedKeys(known), ", "), b)})
			}
		}
		if s.Analyze != nil {
			d.checkBackends(s.Analyze.Rollback, known)
		}
	}
}
