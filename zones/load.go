package zones

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

//go:embed data/*.zone
var embedded embed.FS

// EmbeddedFiles lists the embedded demo zone files (root.zone, test.zone, …).
func EmbeddedFiles() []string {
	ents, _ := fs.ReadDir(embedded, "data")
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// EmbeddedFile returns the text of one embedded zone file.
func EmbeddedFile(name string) ([]byte, error) { return embedded.ReadFile("data/" + name) }

// Source names one zone file and its origin.
type Source struct {
	// File is a path on disk (or the embedded file name when FS is set).
	File string `mapstructure:"file"`
	// Origin; when empty it is derived from the file name:
	// "example.test.zone" → "example.test.", "root.zone" → ".".
	Origin string `mapstructure:"origin"`
}

// OriginFromFile derives an origin from a zone file name.
func OriginFromFile(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".zone", ".db", ".txt"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimPrefix(base, "db.")
	if base == "root" || base == "" || base == "." {
		return "."
	}
	return dns.Fqdn(strings.ToLower(base))
}

// LoadEmbedded loads the demo hierarchy compiled into the binary.
func LoadEmbedded() ([]*Zone, error) {
	var out []*Zone
	for _, name := range EmbeddedFiles() {
		data, _ := embedded.ReadFile("data/" + name)
		z, err := Parse(strings.NewReader(string(data)), OriginFromFile(name), "embedded:"+name, false)
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, nil
}

// LoadDir loads every *.zone file of dir, origins from file names.
func LoadDir(dir string) ([]*Zone, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.zone"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("zones: no *.zone files in %s", dir)
	}
	sort.Strings(matches)
	srcs := make([]Source, len(matches))
	for i, m := range matches {
		srcs[i] = Source{File: m}
	}
	return LoadFiles(srcs)
}

// LoadFiles loads the listed files; $INCLUDE is allowed in them.
func LoadFiles(srcs []Source) ([]*Zone, error) {
	var out []*Zone
	seen := map[string]string{}
	for _, s := range srcs {
		origin := s.Origin
		if origin == "" {
			origin = OriginFromFile(s.File)
		}
		origin = dns.Fqdn(strings.ToLower(origin))
		if prev, ok := seen[origin]; ok {
			return nil, &Error{File: s.File, Reason: fmt.Sprintf("zone %s is already loaded from %s", origin, prev)}
		}
		seen[origin] = s.File
		f, err := os.Open(s.File)
		if err != nil {
			return nil, &Error{File: s.File, Reason: err.Error()}
		}
		z, err := Parse(f, origin, s.File, true)
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, nil
}

// maxRecords bounds one zone, so a runaway $INCLUDE or generated file cannot
// eat the machine.
const maxRecords = 1_000_000

// Parse reads one zone in master-file format and checks it.
func Parse(r io.Reader, origin, file string, allowInclude bool) (*Zone, error) {
	origin = dns.Fqdn(strings.ToLower(origin))
	var src bytes.Buffer // the text read, to quote the record of an error
	zp := dns.NewZoneParser(io.TeeReader(r, &src), origin, file)
	zp.SetIncludeAllowed(allowInclude)
	z := &Zone{Origin: origin, File: file, nodes: map[string]*Node{}, labels: dns.CountLabel(origin)}
	count := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		count++
		if count > maxRecords {
			return nil, &Error{File: file, Reason: fmt.Sprintf("more than %d records", maxRecords)}
		}
		if err := z.add(rr); err != nil {
			return nil, &Error{File: file, Reason: err.Error()}
		}
	}
	if err := zp.Err(); err != nil {
		return nil, parseErr(file, src.Bytes(), err)
	}
	if err := z.finish(); err != nil {
		return nil, &Error{File: file, Reason: err.Error()}
	}
	return z, nil
}

func (z *Zone) add(rr dns.RR) error {
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return fmt.Errorf("%s %s: only class IN is served, not %s", h.Name, dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class])
	}
	switch h.Rrtype {
	case dns.TypeDNAME:
		// refused rather than loaded and silently ignored
		return fmt.Errorf("%s DNAME: DNAME (RFC 6672) is not supported; use a CNAME per name", h.Name)
	}
	name := strings.ToLower(h.Name)
	if !dns.IsSubDomain(z.Origin, name) {
		return fmt.Errorf("%s %s: out of zone %s", h.Name, dns.TypeToString[h.Rrtype], z.Origin)
	}
	h.Name = name
	canonicalHex(rr)
	n := z.nodes[name]
	if n == nil {
		n = &Node{Name: name, RRsets: map[uint16]*RRset{}}
		z.nodes[name] = n
		// every ancestor up to the origin exists, as an empty non-terminal
		// when it has no records of its own
		for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
			anc := name[off:]
			if len(anc) < len(z.Origin) {
				break
			}
			if _, ok := z.nodes[anc]; !ok {
				z.nodes[anc] = &Node{Name: anc, RRsets: map[uint16]*RRset{}}
			}
			if anc == z.Origin {
				break
			}
		}
		if _, ok := z.nodes[z.Origin]; !ok {
			z.nodes[z.Origin] = &Node{Name: z.Origin, RRsets: map[uint16]*RRset{}}
		}
	}
	t := h.Rrtype
	s := n.RRsets[t]
	if s == nil {
		s = &RRset{Type: t}
		n.RRsets[t] = s
	}
	for _, old := range s.RRs {
		if dns.IsDuplicate(old, rr) {
			return nil // RFC 2181 §5: a set has no duplicates
		}
	}
	s.RRs = append(s.RRs, rr)
	return nil
}

// finish runs the semantic checks and precomputes what lookups need.
func (z *Zone) finish() error {
	z.sorted = z.sortNames()
	apex := z.nodes[z.Origin]
	if apex == nil || apex.RRsets[dns.TypeSOA] == nil {
		return fmt.Errorf("no SOA record at the zone apex %s", z.Origin)
	}
	soas := apex.RRsets[dns.TypeSOA].RRs
	if len(soas) != 1 {
		return fmt.Errorf("%d SOA records at %s; exactly one is allowed", len(soas), z.Origin)
	}
	z.SOA = soas[0].(*dns.SOA)
	neg := dns.Copy(z.SOA).(*dns.SOA)
	neg.Hdr.Ttl = min(z.SOA.Hdr.Ttl, z.SOA.Minttl)
	z.NegSOA = neg
	if apex.RRsets[dns.TypeNS] == nil {
		return fmt.Errorf("no NS records at the zone apex %s", z.Origin)
	}
	for name, n := range z.nodes {
		if name != z.Origin {
			if _, ok := n.RRsets[dns.TypeSOA]; ok {
				return fmt.Errorf("%s: SOA record below the apex %s", name, z.Origin)
			}
			if _, ok := n.RRsets[dns.TypeNS]; ok {
				n.Cut = true
			}
		}
		if c, ok := n.RRsets[dns.TypeCNAME]; ok {
			if len(c.RRs) > 1 {
				return fmt.Errorf("%s: %d CNAME records; a name has at most one", name, len(c.RRs))
			}
			for _, t := range n.Types() {
				if t != dns.TypeCNAME && t != dns.TypeRRSIG && t != dns.TypeNSEC {
					return fmt.Errorf("%s: CNAME and other data (%s) at the same name", name, dns.TypeToString[t])
				}
			}
		}
		// RFC 2181 §5.2: one TTL per RRset; like BIND, take the lowest.
		for t, s := range n.RRsets {
			lo, hi := s.RRs[0].Header().Ttl, s.RRs[0].Header().Ttl
			for _, rr := range s.RRs[1:] {
				lo, hi = min(lo, rr.Header().Ttl), max(hi, rr.Header().Ttl)
			}
			if lo != hi {
				z.warn("%s %s: TTLs differ (%d to %d); all set to %d", name, dns.TypeToString[t], lo, hi, lo)
			}
			for _, rr := range s.RRs {
				rr.Header().Ttl = lo
			}
		}
	}
	z.lint()
	// Glue: every NS target inside the zone (at the apex or a cut) must
	// have an address here, or resolvers can never reach it.
	for name, n := range z.nodes {
		ns := n.RRsets[dns.TypeNS]
		if ns == nil {
			continue
		}
		for _, rr := range ns.RRs {
			target := strings.ToLower(rr.(*dns.NS).Ns)
			if !z.Contains(target) {
				continue
			}
			if len(z.Glue(target)) == 0 {
				what := "in-zone name server"
				if n.Cut {
					what = "glue for delegation " + name + ": name server"
				}
				return fmt.Errorf("%s %s has no A or AAAA record in the zone", what, target)
			}
		}
	}
	return nil
}

func (z *Zone) warn(format string, args ...any) {
	z.Warnings = append(z.Warnings, fmt.Sprintf(format, args...))
}

// lint records what BIND's named-checkzone warns about and the zone still
// loads with: data hidden below a delegation, targets that are aliases, a
// wildcard delegation.
func (z *Zone) lint() {
	for _, name := range z.Names() {
		n := z.nodes[name]
		if z.Occluded(name) {
			for _, t := range n.Types() {
				if t != dns.TypeA && t != dns.TypeAAAA {
					z.warn("%s %s: below a delegation; never answered (only A/AAAA glue is used there)", name, dns.TypeToString[t])
				}
			}
			continue
		}
		if strings.HasPrefix(name, "*.") && n.RRsets[dns.TypeNS] != nil {
			z.warn("%s NS: a wildcard delegation is not followed by resolvers (RFC 4592 §4.2)", name)
		}
		for _, t := range []uint16{dns.TypeMX, dns.TypeNS, dns.TypeSRV} {
			s := n.RRsets[t]
			if s == nil {
				continue
			}
			for _, rr := range s.RRs {
				target, _ := Target(rr)
				if tn := z.nodes[strings.ToLower(target)]; tn != nil && tn.RRsets[dns.TypeCNAME] != nil {
					z.warn("%s %s: target %s is a CNAME (RFC 2181 §10.3: it must name an address)", name, dns.TypeToString[t], target)
				}
			}
		}
	}
}

// Target is the host name an MX, NS or SRV record points at, whose
// addresses go in the additional section; ok is false for other types.
func Target(rr dns.RR) (name string, ok bool) {
	switch r := rr.(type) {
	case *dns.MX:
		return r.Mx, true
	case *dns.NS:
		return r.Ns, true
	case *dns.SRV:
		return r.Target, true
	}
	return "", false
}
