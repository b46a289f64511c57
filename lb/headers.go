package lb

import (
	"bufio"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
)

// Header rules (route request_headers / response_headers) and the
// request ID. Both engines write fields through a fieldSink: net/http's
// header map, or the fast engine's buffered writer after it has left out
// the fields a rule replaces (drops).

// fieldSink receives header fields.
type fieldSink interface {
	set(name, value string) // replaces the field
	add(name, value string)
}

// headerSink is a fieldSink over an http.Header. Names are kept as
// written (X-RateLimit-Limit, not X-Ratelimit-Limit), as the fast engine
// writes them; net/http sends map keys as they are.
type headerSink http.Header

func (h headerSink) set(name, value string) {
	if k := http.CanonicalHeaderKey(name); k != name {
		delete(h, k)
	}
	h[name] = []string{value}
}

func (h headerSink) add(name, value string) {
	if k := http.CanonicalHeaderKey(name); k != name {
		if vs, ok := h[k]; ok {
			delete(h, k)
			h[name] = vs
		}
	}
	h[name] = append(h[name], value)
}

// bufSink writes fields to the fast engine's connection: whatever set
// replaces was left out before.
type bufSink struct{ w *bufio.Writer }

func (b bufSink) set(name, value string) { b.add(name, value) }
func (b bufSink) add(name, value string) {
	b.w.WriteString(name)
	b.w.WriteString(": ")
	b.w.WriteString(value)
	b.w.WriteString("\r\n")
}

// headerRule is one set or add; a value with %{…} variables is expanded
// per request.
type headerRule struct {
	name, value string
	vars        bool
}

// headerRules are compiled HeaderRules; nil when there are none.
type headerRules struct {
	set, add []headerRule
	drops    []string // canonical names a message loses: remove and set
}

func compileHeaderRules(h HeaderRules) *headerRules {
	if h.empty() {
		return nil
	}
	r := &headerRules{}
	for _, name := range h.Remove {
		r.drops = append(r.drops, http.CanonicalHeaderKey(name))
	}
	for _, m := range []struct {
		src map[string]string
		dst *[]headerRule
	}{{h.Set, &r.set}, {h.Add, &r.add}} {
		for name, v := range m.src {
			*m.dst = append(*m.dst, headerRule{name: http.CanonicalHeaderKey(name), value: v, vars: strings.Contains(v, "%{")})
		}
		sort.Slice(*m.dst, func(i, j int) bool { return (*m.dst)[i].name < (*m.dst)[j].name })
	}
	for _, s := range r.set {
		r.drops = append(r.drops, s.name)
	}
	return r
}

// write sends the rules' fields to sink, expanding variables for st.
func (r *headerRules) write(sink fieldSink, st *reqState) {
	for _, s := range r.set {
		sink.set(s.name, st.expand(s))
	}
	for _, a := range r.add {
		sink.add(a.name, st.expand(a))
	}
}

// ruleVars are the variables a rule's value may use.
var ruleVars = []string{"client_ip", "request_id", "backend", "route", "frontend", "host", "path", "query"}

// checkVars refuses an unknown or unclosed %{…} in a value.
func checkVars(v string) error {
	for {
		i := strings.Index(v, "%{")
		if i < 0 {
			return nil
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			return errUnclosedVar
		}
		name := v[i+2 : i+end]
		known := false
		for _, k := range ruleVars {
			known = known || k == name
		}
		if !known {
			return &unknownVarError{name}
		}
		v = v[i+end+1:]
	}
}

type unknownVarError struct{ name string }

func (e *unknownVarError) Error() string {
	return "unknown variable %{" + e.name + "}; known: %{" + strings.Join(ruleVars, "}, %{") + "}"
}

var errUnclosedVar = &unknownVarError{name: "…"}

func (st *reqState) expand(r headerRule) string {
	if !r.vars {
		return r.value
	}
	return expandVars(r.value, st.varValue)
}

func expandVars(v string, value func(string) string) string {
	var sb strings.Builder
	for {
		i := strings.Index(v, "%{")
		if i < 0 {
			sb.WriteString(v)
			return sb.String()
		}
		end := strings.IndexByte(v[i:], '}')
		sb.WriteString(v[:i])
		sb.WriteString(value(v[i+2 : i+end]))
		v = v[i+end+1:]
	}
}

// varValue is one variable's value for the request.
func (st *reqState) varValue(name string) string {
	switch name {
	case "client_ip":
		if a := st.client(); a.IsValid() {
			return a.String()
		}
	case "request_id":
		return string(st.rid)
	case "backend":
		if b := st.backend; b != nil {
			return b.ID()
		}
		if b := st.cur; b != nil {
			return b.ID()
		}
	case "route":
		if st.rt != nil {
			return st.rt.name
		}
		return "default"
	case "frontend":
		return st.fe.name
	case "host", "path", "query":
		return st.target.part(name)
	}
	return ""
}

// newRequestID fills st's buffer with 32 random hex digits.
func (st *reqState) newRequestID() {
	var raw [16]byte
	for i := 0; i < 16; i += 8 {
		u := rand.Uint64()
		for j := range 8 {
			raw[i+j] = byte(u >> (8 * j))
		}
	}
	hex.Encode(st.ridBuf[:], raw[:])
	st.rid = st.ridBuf[:]
}

// drops reports whether an answer's field called name is left out: a
// rule, the CORS policy or the rate limit replaces it.
func dropsField(drops []string, name []byte) bool {
	for _, d := range drops {
		if len(d) == len(name) && equalFoldString(name, d) {
			return true
		}
	}
	return false
}
