package compress

import (
	"strconv"
	"strings"
)

// Content codings this package produces, in the server's order of
// preference for ties (RFC 9110 §12.5.3 leaves ties to the server): br
// compresses text best, zstd is fastest for a similar ratio, gzip is what
// every client knows.
const (
	Identity = ""
	Brotli   = "br"
	Zstd     = "zstd"
	Gzip     = "gzip"
)

// preference is the tie order of the codings this package knows.
var preference = [...]string{Brotli, Zstd, Gzip}

// coding is one element of an Accept-Encoding field.
type coding struct {
	name string // lower case; "*" for any
	q    int    // quality × 1000
}

// parseAccept reads an Accept-Encoding value (RFC 9110 §12.5.3):
// comma-separated codings, each with an optional ";q=" weight between 0
// and 1 (three decimals). An element that does not parse is skipped, as
// a server may.
func parseAccept(v string, out []coding) []coding {
	for len(v) > 0 {
		var item string
		item, v, _ = strings.Cut(v, ",")
		name, params, _ := strings.Cut(item, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if name == "x-gzip" {
			name = Gzip
		}
		q, ok := 1000, true
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, val, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q, ok = parseQ(strings.TrimSpace(val))
			}
		}
		if ok {
			out = append(out, coding{name: name, q: q})
		}
	}
	return out
}

// parseQ reads a qvalue: "0", "0.5", "1", "1.000" (RFC 9110 §12.4.2).
func parseQ(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	if len(s) == 1 {
		return int(s[0]-'0') * 1000, true
	}
	if s[1] != '.' {
		return 0, false
	}
	frac := s[2:]
	n, err := strconv.Atoi(frac + strings.Repeat("0", 3-len(frac)))
	if frac != "" && err != nil {
		return 0, false
	}
	q := int(s[0]-'0')*1000 + n
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// quality is the weight the client gives name: its own element, else
// "*", else 0 (not acceptable). identity is acceptable unless excluded
// explicitly or by "*;q=0".
func quality(cs []coding, name string) int {
	star := -1
	for _, c := range cs {
		switch c.name {
		case name:
			return c.q
		case "*":
			star = c.q
		}
	}
	if star >= 0 {
		return star
	}
	if name == "identity" {
		return 1
	}
	return 0
}

// Negotiate picks the coding for a response to a request whose
// Accept-Encoding is ae, among offered (codings this server may use, in
// its order of preference): the one of highest weight, ties going to the
// earlier in offered; Identity when the field is absent or empty, when
// nothing offered is acceptable, or when identity weighs more than any.
// (An absent field allows any coding, but a proxy that compresses for
// clients that never asked would break the ones that cannot decode.)
func Negotiate(ae string, offered []string) string {
	if ae == "" {
		return Identity
	}
	var buf [8]coding
	cs := parseAccept(ae, buf[:0])
	best, bestQ := Identity, 0
	for _, name := range offered {
		if q := quality(cs, name); q > bestQ {
			best, bestQ = name, q
		}
	}
	if best != Identity && quality(cs, "identity") > bestQ {
		return Identity
	}
	return best
}

// NormalizeAcceptEncoding maps an Accept-Encoding value to the form a
// cache keys a variant by when a response says "Vary: Accept-Encoding":
// the codings this package knows with their weights, sorted, q=0 and
// unknown codings dropped ("gzip, deflate, br" and "br,gzip" give
// "br,gzip"). Two requests with the same form get the same answer from
// any server that produces only these codings; a server that also sends
// another coding may be given a few needless variants, never a wrong one,
// since every coding it could pick for either is in the form.
func NormalizeAcceptEncoding(ae string) string {
	if ae == "" {
		return ""
	}
	var buf [8]coding
	cs := parseAccept(ae, buf[:0])
	var b strings.Builder
	for _, name := range [...]string{Brotli, "deflate", Gzip, "identity", Zstd} {
		q := quality(cs, name)
		if name == "identity" {
			if q == 1 || q == 1000 {
				continue // the default
			}
		} else if q == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		if q != 1000 {
			b.WriteString(";q=")
			b.WriteString(formatQ(q))
		}
	}
	return b.String()
}

// formatQ writes a weight below 1 (in thousandths) as a qvalue: 500 is
// "0.5", 0 is "0".
func formatQ(q int) string {
	if q == 0 {
		return "0"
	}
	return strings.TrimRight("0."+strconv.Itoa(1000 + q)[1:], "0")
}
