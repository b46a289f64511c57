package world

import (
	_ "embed"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"netsim/internal/cfgerr"
)

//go:embed world.yaml
var defaultYAML []byte

// DefaultYAML is the built-in world (world.yaml in this package), with the
// real-world figures its comments cite.
func DefaultYAML() []byte { return defaultYAML }

// Config is the `world:` section of netsim's config. It is either the
// word off (also flat or false: no distance anywhere) or on (the built-in
// world), or a mapping:
//
//	world:
//	  places:  [{name: eu, prefixes: [127.0.10.0/24]}, …]   # replaces the built-in places
//	  default: {latency: 30ms, jitter: 2ms, loss_percent: 0, bandwidth: 100Mbit}
//	  links:   [{between: [eu, as], latency: 120ms, …}, …]  # over the built-in links
//
// A mapping starts from the built-in world: links it lists replace those
// pairs; places it lists replace all the built-in places (and then only
// its own links and default apply).
type Config struct {
	Off     bool
	Places  []PlaceConfig
	Default *LinkConfig
	Links   []LinkConfig
}

// PlaceConfig is one named place and the address prefixes in it.
type PlaceConfig struct {
	Name     string   `yaml:"name"`
	Prefixes []string `yaml:"prefixes"`
}

// LinkConfig is the distance between two places, the same both ways.
// Empty fields take the default link's value.
type LinkConfig struct {
	Between     []string `yaml:"between"`
	Latency     string   `yaml:"latency"`      // one way, e.g. 40ms
	Jitter      string   `yaml:"jitter"`       // ± around latency, uniform
	LossPercent *float64 `yaml:"loss_percent"` // each packet, each way, 0–100
	Bandwidth   string   `yaml:"bandwidth"`    // e.g. 100Mbit, or unlimited
}

// ConfigError names the offending key, its value and what was expected:
// the project's one config-error type.
type ConfigError = cfgerr.Error

func bad(key string, value any, format string, args ...any) *ConfigError {
	return cfgerr.New(key, value, format, args...)
}

// Parse reads a YAML document whose top-level `world:` key holds the
// section (other top-level keys are ignored; no `world:` key means the
// built-in world).
func Parse(data []byte) (Config, error) {
	var doc struct {
		World yaml.Node `yaml:"world"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("world config: %w", err)
	}
	var c Config
	if doc.World.Kind == 0 {
		return c, nil
	}
	err := c.UnmarshalYAML(&doc.World)
	return c, err
}

// UnmarshalYAML decodes the section, refusing unknown keys, so Config can
// sit inside a larger YAML document.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = Config{}
	switch n.Kind {
	case yaml.ScalarNode:
		switch strings.ToLower(n.Value) {
		case "off", "flat", "false", "no":
			c.Off = true
			return nil
		case "on", "true", "yes", "default", "":
			return nil
		}
		return bad("world", n.Value, "want off (or flat), on, or a mapping of places, default and links")
	case yaml.MappingNode:
	default:
		return bad("world", n.Tag, "want off (or flat), on, or a mapping of places, default and links")
	}
	if err := knownKeys(n, "world", "places", "default", "links"); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		key := "world." + k
		switch k {
		case "places":
			if v.Kind != yaml.SequenceNode {
				return bad(key, v.Value, "want a list of {name, prefixes}")
			}
			for j, p := range v.Content {
				pk := fmt.Sprintf("%s[%d]", key, j)
				if err := knownKeys(p, pk, "name", "prefixes"); err != nil {
					return err
				}
				var pc PlaceConfig
				if err := p.Decode(&pc); err != nil {
					return bad(pk, "line "+strconv.Itoa(p.Line), "want {name: eu, prefixes: [127.0.10.0/24]}: %v", err)
				}
				c.Places = append(c.Places, pc)
			}
		case "default":
			lc, err := decodeLink(v, key)
			if err != nil {
				return err
			}
			c.Default = &lc
		case "links":
			if v.Kind != yaml.SequenceNode {
				return bad(key, v.Value, "want a list of {between: [a, b], latency, jitter, loss_percent, bandwidth}")
			}
			for j, l := range v.Content {
				lc, err := decodeLink(l, fmt.Sprintf("%s[%d]", key, j))
				if err != nil {
					return err
				}
				c.Links = append(c.Links, lc)
			}
		}
	}
	return nil
}

func decodeLink(n *yaml.Node, key string) (LinkConfig, error) {
	var lc LinkConfig
	if err := knownKeys(n, key, "between", "latency", "jitter", "loss_percent", "bandwidth"); err != nil {
		return lc, err
	}
	if err := n.Decode(&lc); err != nil {
		return lc, bad(key, "line "+strconv.Itoa(n.Line), "want {between: [a, b], latency: 40ms, jitter: 2ms, loss_percent: 1, bandwidth: 100Mbit}: %v", err)
	}
	return lc, nil
}

// knownKeys refuses a mapping key that is not in allowed.
func knownKeys(n *yaml.Node, key string, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return bad(key, n.Value, "want a mapping with keys %s", strings.Join(allowed, ", "))
	}
next:
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i].Value
		for _, a := range allowed {
			if k == a {
				continue next
			}
		}
		return bad(key+"."+k, "line "+strconv.Itoa(n.Content[i].Line), "unknown key; want one of %s", strings.Join(allowed, ", "))
	}
	return nil
}

var placeName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// builtin parses the embedded world once per call (cheap: a few dozen lines).
func builtin() Config {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("internal/world/world.yaml is invalid: " + err.Error()) // a build defect; a test loads it
	}
	return c
}

// Validate checks the section as New would, returning the first problem
// as a *ConfigError.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// compile merges c over the built-in world and builds the model.
func compile(c Config) (*model, error) {
	base := builtin()
	places, links, def := base.Places, base.Links, base.Default
	if len(c.Places) > 0 {
		places, links = c.Places, nil
	}
	if c.Default != nil {
		def = c.Default
	}
	m := &model{index: map[string]int{}}
	for i, p := range places {
		key := fmt.Sprintf("world.places[%d]", i)
		if !placeName.MatchString(p.Name) {
			return nil, bad(key+".name", strconv.Quote(p.Name), "want a lowercase name of letters, digits and '-' (at most 32), starting with a letter")
		}
		if _, dup := m.index[p.Name]; dup {
			return nil, bad(key+".name", p.Name, "this place is already defined; want each name once")
		}
		if len(p.Prefixes) == 0 {
			return nil, bad(key+".prefixes", "[]", "want at least one address prefix such as 127.0.10.0/24")
		}
		m.index[p.Name] = len(m.places)
		pl := Place{Name: p.Name}
		for j, s := range p.Prefixes {
			pk := fmt.Sprintf("%s.prefixes[%d]", key, j)
			pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return nil, bad(pk, strconv.Quote(s), "want an address prefix such as 127.0.10.0/24")
			}
			if pfx != pfx.Masked() {
				return nil, bad(pk, s, "host bits are set; want %s", pfx.Masked())
			}
			for _, other := range m.prefixes {
				if other.pfx.Overlaps(pfx) {
					return nil, bad(pk, s, "overlaps %s of place %s; want each address in one place", other.pfx, m.places[other.place].Name)
				}
			}
			pl.Prefixes = append(pl.Prefixes, pfx)
			m.prefixes = append(m.prefixes, placePrefix{pfx: pfx, place: len(m.places)})
		}
		m.places = append(m.places, pl)
	}
	dl, err := linkValues(*def, Link{}, "world.default")
	if err != nil {
		return nil, err
	}
	n := len(m.places)
	m.links = make([]Link, n*n)
	for i := range m.links {
		m.links[i] = dl
	}
	type keyed struct {
		lc  LinkConfig
		key string
	}
	var all []keyed
	for i, lc := range links {
		all = append(all, keyed{lc, fmt.Sprintf("world.links (built-in)[%d]", i)})
	}
	for i, lc := range c.Links {
		all = append(all, keyed{lc, fmt.Sprintf("world.links[%d]", i)})
	}
	seen := map[[2]int]string{}
	for _, k := range all {
		lc, key := k.lc, k.key
		if len(lc.Between) != 2 {
			return nil, bad(key+".between", lc.Between, "want two place names, e.g. [eu, as]")
		}
		var ab [2]int
		for j, name := range lc.Between {
			i, ok := m.index[name]
			if !ok {
				return nil, bad(fmt.Sprintf("%s.between[%d]", key, j), strconv.Quote(name), "not a place; want one of %s", strings.Join(m.names(), ", "))
			}
			ab[j] = i
		}
		if ab[0] > ab[1] {
			ab[0], ab[1] = ab[1], ab[0]
		}
		if prev, dup := seen[ab]; dup && !strings.Contains(prev, "built-in") {
			return nil, bad(key+".between", lc.Between, "this pair is already set by %s; want each pair once", prev)
		}
		seen[ab] = key
		l, err := linkValues(lc, dl, key)
		if err != nil {
			return nil, err
		}
		m.set(ab[0], ab[1], l)
	}
	return m, nil
}

// linkValues reads lc's fields over def.
func linkValues(lc LinkConfig, def Link, key string) (Link, error) {
	l := def
	var err error
	if lc.Latency != "" {
		if l.Latency, err = parseDelay(lc.Latency); err != nil {
			return l, bad(key+".latency", strconv.Quote(lc.Latency), "%v", err)
		}
	}
	if lc.Jitter != "" {
		if l.Jitter, err = parseDelay(lc.Jitter); err != nil {
			return l, bad(key+".jitter", strconv.Quote(lc.Jitter), "%v", err)
		}
	}
	if lc.LossPercent != nil {
		p := *lc.LossPercent
		if !(p >= 0 && p <= 100) {
			return l, bad(key+".loss_percent", p, "want a percentage from 0 to 100")
		}
		l.Loss = p / 100
	}
	if lc.Bandwidth != "" {
		if l.Bandwidth, err = ParseBandwidth(lc.Bandwidth); err != nil {
			return l, bad(key+".bandwidth", strconv.Quote(lc.Bandwidth), "%v", err)
		}
	}
	if l.Jitter > l.Latency {
		return l, bad(key+".jitter", l.Jitter, "want at most the latency (%s), so no packet arrives before it was sent", l.Latency)
	}
	return l, nil
}
