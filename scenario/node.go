package scenario

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// dec walks yaml nodes and collects every mistake with its line, so that a
// teacher sees all problems of a file at once.
type dec struct{ errs []LineError }

func (d *dec) errf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
}

// fields returns the keys of a mapping node; it reports keys not in known.
func (d *dec) fields(n *yaml.Node, where string, known ...string) map[string]*yaml.Node {
	n = resolve(n)
	out := map[string]*yaml.Node{}
	if n == nil {
		return out
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "%s: want a mapping of %s, got %s", where, strings.Join(known, ", "), describe(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" { // merge key: fold the anchored mapping in
			for mk, mv := range d.fields(v, where, known...) {
				if _, ok := out[mk]; !ok {
					out[mk] = mv
				}
			}
			continue
		}
		if !contains(known, k.Value) {
			d.errf(k, "%s: unknown key %q; known keys: %s", where, k.Value, strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.errf(k, "%s: key %q given twice", where, k.Value)
		}
		out[k.Value] = v
	}
	return out
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (d *dec) str(n *yaml.Node, where string) string {
	n = resolve(n)
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.errf(n, "%s: want a string, got %s", where, describe(n))
		return ""
	}
	return n.Value
}

func (d *dec) list(n *yaml.Node, where string) []*yaml.Node {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "%s: want a list, got %s", where, describe(n))
		return nil
	}
	return n.Content
}

func (d *dec) strs(n *yaml.Node, where string) []string {
	n = resolve(n)
	if n != nil && n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, e := range d.list(n, where) {
		out = append(out, d.str(e, where))
	}
	return out
}

func (d *dec) integer(n *yaml.Node, where string, lo, hi int) int {
	s := d.str(n, where)
	if s == "" {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		d.errf(n, "%s: want a whole number from %d to %d, got %q", where, lo, hi, s)
		return 0
	}
	return v
}

func (d *dec) number(n *yaml.Node, where string, lo, hi float64) float64 {
	s := d.str(n, where)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < lo || v > hi {
		d.errf(n, "%s: want a number from %g to %g, got %q", where, lo, hi, s)
		return 0
	}
	return v
}

func (d *dec) boolean(n *yaml.Node, where string) bool {
	s := d.str(n, where)
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off", "":
		return false
	}
	d.errf(n, "%s: want true or false, got %q", where, s)
	return false
}

func (d *dec) duration(n *yaml.Node, where string) time.Duration {
	s := d.str(n, where)
	if s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.errf(n, "%s: want a duration such as 500ms, 5s or 1m, got %q", where, s)
		return 0
	}
	return v
}

// fraction reads "5%" or 0.05 as 0.05.
func (d *dec) fraction(n *yaml.Node, where string) float64 {
	s := d.str(n, where)
	if s == "" {
		return 0
	}
	v, err := parseFraction(s)
	if err != nil {
		d.errf(n, "%s: %v", where, err)
	}
	return v
}

func parseFraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
	if pct {
		v /= 100
	}
	if err != nil || v < 0 || v > 1 {
		return 0, fmt.Errorf("want a share such as 5%% or 0.05 (0 to 100%%), got %q", s)
	}
	return v, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
