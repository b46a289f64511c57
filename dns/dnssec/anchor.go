package dnssec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// AnchorText is a trust-anchor file for the zone of ks: a BIND
// "trust-anchors" clause with its key-signing keys as static DS records
// (what `delv -a` reads), and the same DS records as comments in the
// form Unbound's trust-anchor: and auto-trust-anchor-file take.
func AnchorText(ks *Keys) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Trust anchor of the simulated root %q, written by dnsd.\n", ks.Origin)
	b.WriteString("# delv: delv @127.0.0.1 -p 1053 -a var/root.key www.example.test\n")
	b.WriteString("# Unbound: trust-anchor: followed by one of these lines\n")
	for _, rr := range ks.DS(0) {
		ds := rr.(*dns.DS)
		fmt.Fprintf(&b, "#   \"%s DS %d %d %d %s\"\n", ds.Hdr.Name, ds.KeyTag, ds.Algorithm, ds.DigestType, strings.ToUpper(ds.Digest))
	}
	b.WriteString("trust-anchors {\n")
	for _, rr := range ks.DS(0) {
		ds := rr.(*dns.DS)
		fmt.Fprintf(&b, "\t%q static-ds %d %d %d \"%s\";\n", ds.Hdr.Name, ds.KeyTag, ds.Algorithm, ds.DigestType, strings.ToUpper(ds.Digest))
	}
	b.WriteString("};\n")
	return b.String()
}

// WriteAnchor writes AnchorText(ks) to path (atomically).
func WriteAnchor(path string, ks *Keys) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("trust anchor %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(AnchorText(ks)), 0o644); err != nil {
		return fmt.Errorf("trust anchor %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadAnchor reads trust anchors: the DS records of a BIND trust-anchors
// clause (static-ds; static-key and initial-key give DNSKEYs, made into
// DS records), or DS / DNSKEY records one a line in zone-file form.
func ReadAnchor(path string) ([]*dns.DS, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	ds, err := ParseAnchor(data)
	if err != nil {
		return nil, fmt.Errorf("trust anchor %s: %w", path, err)
	}
	return ds, nil
}

// ParseAnchor is ReadAnchor of the file's contents.
func ParseAnchor(data []byte) ([]*dns.DS, error) {
	var out []*dns.DS
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' || strings.HasPrefix(l, "//") ||
			strings.HasPrefix(l, "trust-anchors") || strings.HasPrefix(l, "managed-keys") || strings.HasPrefix(l, "trusted-keys") || strings.HasPrefix(l, "}") {
			continue
		}
		l = strings.TrimSuffix(l, ";")
		f := strings.Fields(strings.ReplaceAll(l, `"`, ""))
		if len(f) >= 2 {
			switch f[1] {
			case "static-ds", "initial-ds":
				f[1] = "IN DS"
			case "static-key", "initial-key":
				f[1] = "IN DNSKEY"
			}
		}
		rr, err := dns.NewRR(strings.Join(f, " "))
		if err != nil || rr == nil {
			return nil, fmt.Errorf("line %d: %q: want a DS or DNSKEY record (%v)", line, l, err)
		}
		switch rr := rr.(type) {
		case *dns.DS:
			out = append(out, rr)
		case *dns.DNSKEY:
			out = append(out, rr.ToDS(dns.SHA256))
		default:
			return nil, fmt.Errorf("line %d: %q: want a DS or DNSKEY record", line, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no DS or DNSKEY record in it")
	}
	return out, nil
}
