package dnssec

import (
	"slices"

	"github.com/miekg/dns"
)

// Minimally covering NSEC records (RFC 4470): instead of the zone's real
// NSEC chain, which lets anyone list the zone, a denial is an NSEC made
// for the name at hand whose owner is just before it and whose next name
// is just after it, signed online.

// CoverNSEC returns an NSEC that covers name (lower case, absolute) and
// nothing else that could exist: its owner is a made-up name just before
// name among its siblings, its next name is name with a zero byte
// appended to its first label, so the closest encloser a validator
// derives from it is name's parent. The caller makes sure name's parent
// exists and name does not.
func CoverNSEC(name string, ttl uint32) *dns.NSEC {
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: Before(name), Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: After(name),
		TypeBitMap: []uint16{dns.TypeRRSIG, dns.TypeNSEC},
	}
}

// MatchNSEC is the NSEC of an existing name: its types (plus RRSIG and
// NSEC), and as next name the name just after it ("\000.name"), so that
// it denies nothing but the types absent at the name.
func MatchNSEC(name string, types []uint16, ttl uint32) *dns.NSEC {
	bm := append(slices.Clone(types), dns.TypeRRSIG, dns.TypeNSEC)
	slices.Sort(bm)
	bm = slices.Compact(bm)
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: `\000.` + name,
		TypeBitMap: bm,
	}
}

// Before is a name that sorts just before name (RFC 4034 §6.1 order) with
// the same parent: the first label's last byte is decremented (or
// dropped, when it is zero) and the label padded with 0xFF bytes, as far
// as labels and names may grow. No name can exist between it and name
// unless it exists itself.
func Before(name string) string {
	first, parent := firstLabel(name)
	if len(first) == 0 {
		return name // the root has no siblings
	}
	room := 255 - len(wireName(parent)) - 1 // the length byte of the label
	var l []byte
	switch last := first[len(first)-1]; {
	case last == 0:
		l = first[:len(first)-1]
		if len(l) == 0 {
			return parent
		}
		return joinLabel(l, parent)
	default:
		l = append(slices.Clone(first[:len(first)-1]), last-1)
		if c := l[len(l)-1]; c >= 'A' && c <= 'Z' {
			// canonical order compares lower case: step below 'A'
			l[len(l)-1] = 'A' - 1
		}
	}
	for len(l) < 63 && len(l) < room {
		l = append(l, 0xFF)
	}
	return joinLabel(l, parent)
}

// After is the name just after name among its siblings: the first label
// with a zero byte appended (or its last byte incremented when the label
// is as long as a label may be).
func After(name string) string {
	first, parent := firstLabel(name)
	if len(first) == 0 {
		return `\000.`
	}
	l := slices.Clone(first)
	if len(l) < 63 && len(wireName(name)) < 255 {
		l = append(l, 0)
	} else if l[len(l)-1] < 0xFF {
		l[len(l)-1]++
	}
	return joinLabel(l, parent)
}

// firstLabel splits an absolute name into its first label (raw bytes)
// and its parent (presentation form).
func firstLabel(name string) ([]byte, string) {
	w := wireName(name)
	if len(w) <= 1 {
		return nil, "."
	}
	n := int(w[0])
	parent, _, err := dns.UnpackDomainName(w, 1+n)
	if err != nil {
		parent = "."
	}
	return w[1 : 1+n], parent
}

func wireName(name string) []byte {
	buf := make([]byte, 256)
	off, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return []byte{0}
	}
	return buf[:off]
}

func joinLabel(label []byte, parent string) string {
	w := append([]byte{byte(len(label))}, label...)
	w = append(w, wireName(parent)...)
	s, _, err := dns.UnpackDomainName(w, 0)
	if err != nil {
		return parent
	}
	return s
}

// Wildcard is the wildcard name at closest encloser ce.
func Wildcard(ce string) string {
	if ce == "." {
		return "*."
	}
	return "*." + ce
}

// Covers reports whether an NSEC with owner and next name proves name
// absent: owner < name < next in canonical order, or, for the last NSEC
// of a chain (next is the apex, at or before owner), owner < name.
func Covers(owner, next, name string) bool {
	o, n, x := canonical(owner), canonical(next), canonical(name)
	if Compare(o, n) < 0 {
		return Compare(o, x) < 0 && Compare(x, n) < 0
	}
	return Compare(o, x) < 0 && dns.IsSubDomain(n, x)
}

func canonical(name string) string { return dns.CanonicalName(name) }

// Compare orders two names as RFC 4034 §6.1 does: label by label from the
// right, each label as lower-case bytes.
func Compare(a, b string) int {
	la, lb := labelsOf(a), labelsOf(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := compareLabel(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

func compareLabel(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := lower(a[i]), lower(b[i])
		if x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// labelsOf returns the raw labels of a name, left to right.
func labelsOf(name string) [][]byte {
	w := wireName(name)
	var out [][]byte
	for off := 0; off < len(w) && w[off] != 0; off += 1 + int(w[off]) {
		out = append(out, w[off+1:off+1+int(w[off])])
	}
	return out
}
