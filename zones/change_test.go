package zones

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netsim/dns/rrset"
	"netsim/internal/testutil"

	"github.com/miekg/dns"
)

var day = time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC)

func TestNextSerial(t *testing.T) {
	cases := []struct {
		name     string
		old, new uint32
	}{
		{"small counter jumps to today", 7, 2026113000},
		{"yesterday's serial jumps to today", 2026112905, 2026113000},
		{"today's serial counts on", 2026113004, 2026113005},
		{"a serial ahead of the date counts on", 2026120100, 2026120101},
		{"past 99 changes a day it still increases", 2026113099, 2026113100},
		{"wrap-around: 2^32-1 is before today", 0xFFFFFFFF, 2026113000},
		{"far ahead in serial arithmetic counts on", 4000000000, 4000000001},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := NextSerial(c.old, day)
			if got != c.new {
				t.Fatalf("NextSerial(%d) = %d, want %d", c.old, got, c.new)
			}
			if !SerialLess(c.old, got) {
				t.Fatalf("%d is not after %d in serial arithmetic", got, c.old)
			}
		})
	}
}

func testZone(t *testing.T) *Zone {
	t.Helper()
	z, err := Parse(strings.NewReader("$TTL 300\n@ SOA ns1 hostmaster 2026112701 7200 3600 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\nwww A 192.0.2.11\nalias CNAME www\n"),
		"example.test.", "t.zone", false)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestAbsolute(t *testing.T) {
	z := testZone(t)
	for in, want := range map[string]string{
		"@": "example.test.", "": "example.test.", "new": "new.example.test.", "New.Example.Test": "new.example.test.",
		"a.b": "a.b.example.test.", "x.example.test.": "x.example.test.", "example.test": "example.test.",
		"elsewhere.org.": "elsewhere.org.", // absolute: Apply says it is out of zone
	} {
		got, err := z.Absolute(in)
		if err != nil || got != want {
			t.Errorf("Absolute(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{strings.Repeat("a", 64), "caf\u00e9", "a b", `a\.b`, "a..b"} {
		if _, err := z.Absolute(bad); err == nil {
			t.Errorf("name %q was accepted", bad)
		}
	}
}

// edit parses records "name type data" (TTL 60) into an Edit.
func edit(t *testing.T, z *Zone, op Op, name, typ string, data ...string) Edit {
	t.Helper()
	abs, err := z.Absolute(name)
	if err != nil {
		t.Fatal(err)
	}
	ty, err := ParseType(typ)
	if err != nil {
		t.Fatal(err)
	}
	e := Edit{Op: op, Name: abs, Type: ty}
	for _, d := range data {
		rr, err := z.ParseRecord(abs, 60, ty, d)
		if err != nil {
			t.Fatal(err)
		}
		e.RRs = append(e.RRs, rr)
	}
	return e
}

func answer(z *Zone, name string, t uint16) []string {
	var out []string
	for _, rr := range z.RRset(name, t) {
		out = append(out, rr.String())
	}
	return out
}

func TestApply(t *testing.T) {
	z := testZone(t)
	before := answer(z, "www.example.test.", dns.TypeA)

	nz, err := z.Apply(edit(t, z, Add, "new", "A", "127.0.0.99"), day)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(nz, "new.example.test.", dns.TypeA); len(got) != 1 || got[0] != "new.example.test.\t60\tIN\tA\t127.0.0.99" {
		t.Fatalf("added: %v", got)
	}
	if nz.SOA.Serial != 2026113000 || nz.NegSOA.Serial != 2026113000 || z.SOA.Serial != 2026112701 {
		t.Fatalf("serials: new %d/%d old %d", nz.SOA.Serial, nz.NegSOA.Serial, z.SOA.Serial)
	}
	if nz.Lookup("new.example.test.", dns.TypeA).Kind != Success || z.Lookup("new.example.test.", dns.TypeA).Kind != NXDomain {
		t.Fatal("the new zone lacks the record or the old one has it")
	}

	// Add to a set: the set takes the new TTL, and the old zone keeps its own
	nz, err = z.Apply(edit(t, z, Add, "www", "A", "192.0.2.12"), day)
	if err != nil {
		t.Fatal(err)
	}
	if s := nz.Node("www.example.test.").RRsets[dns.TypeA]; len(s.RRs) != 3 || s.TTL() != 60 {
		t.Fatalf("www after add: %v", s.RRs)
	}
	if got := answer(z, "www.example.test.", dns.TypeA); strings.Join(got, "|") != strings.Join(before, "|") {
		t.Fatalf("the old zone changed: %v, was %v", got, before)
	}

	nz, err = z.Apply(edit(t, z, Replace, "www", "A", "192.0.2.20"), day)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(nz, "www.example.test.", dns.TypeA); len(got) != 1 || !strings.HasSuffix(got[0], "192.0.2.20") {
		t.Fatalf("www after replace: %v", got)
	}

	nz, err = z.Apply(edit(t, z, Remove, "www", "A", "192.0.2.10"), day)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(nz, "www.example.test.", dns.TypeA); len(got) != 1 || !strings.HasSuffix(got[0], "192.0.2.11") {
		t.Fatalf("www after removing one: %v", got)
	}
	nz, err = z.Apply(edit(t, z, Remove, "alias", "CNAME"), day)
	if err != nil {
		t.Fatal(err)
	}
	if nz.Lookup("alias.example.test.", dns.TypeA).Kind != NXDomain {
		t.Fatal("alias still there after removing its set")
	}

	// a replaced SOA may carry the serial further, never back
	nz, err = z.Apply(edit(t, z, Replace, "@", "SOA", "ns1 hostmaster 2030010100 7200 3600 1209600 30"), day)
	if err != nil {
		t.Fatal(err)
	}
	if nz.SOA.Serial != 2030010100 || nz.NegSOA.Hdr.Ttl != 30 {
		t.Fatalf("SOA after replace: %v (neg %v)", nz.SOA, nz.NegSOA)
	}
	nz, err = z.Apply(edit(t, z, Replace, "@", "SOA", "ns1 hostmaster 1 7200 3600 1209600 30"), day)
	if err != nil || nz.SOA.Serial != 2026113000 {
		t.Fatalf("SOA with an older serial: %v, %v", nz, err)
	}
}

func TestApplyRefuses(t *testing.T) {
	z := testZone(t)
	cases := []struct {
		name string
		e    Edit
		want string // in the InvalidError; "" for the sentinel errors
		is   error
	}{
		{"duplicate", edit(t, z, Add, "www", "A", "192.0.2.10"), "", ErrExists},
		{"remove what is not there", edit(t, z, Remove, "www", "A", "192.0.2.99"), "", ErrNoRecord},
		{"remove a set that is not there", edit(t, z, Remove, "nope", "A"), "", ErrNoRecord},
		{"CNAME and other data", edit(t, z, Add, "www", "CNAME", "ns1"), "CNAME and other data", nil},
		{"data beside a CNAME", edit(t, z, Add, "alias", "TXT", `"x"`), "CNAME and other data", nil},
		{"two CNAMEs", edit(t, z, Add, "alias", "CNAME", "ns1"), "2 CNAME records", nil},
		{"out of zone", edit(t, z, Add, "www.example.org.", "A", "192.0.2.1"), "out of zone example.test.", nil},
		{"name server without address", edit(t, z, Remove, "ns1", "A"), "ns1.example.test. has no A or AAAA", nil},
		{"last apex NS", edit(t, z, Remove, "@", "NS"), "no NS records at the zone apex", nil},
		{"remove the SOA", edit(t, z, Remove, "@", "SOA"), "exactly one SOA", nil},
		{"add an SOA", edit(t, z, Add, "@", "SOA", "ns1 hostmaster 1 2 3 4 5"), "exactly one SOA", nil},
		{"SOA below the apex", edit(t, z, Replace, "www", "SOA", "ns1 hostmaster 1 2 3 4 5"), "belongs at the zone apex", nil},
		{"delegation without glue", edit(t, z, Add, "sub", "NS", "ns.sub"), "glue for delegation sub.example.test.", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nz, err := z.Apply(c.e, day)
			if err == nil {
				t.Fatalf("applied: %v", nz.Records())
			}
			if c.is != nil {
				if !errors.Is(err, c.is) {
					t.Fatalf("error %v, want %v", err, c.is)
				}
				return
			}
			var ie *InvalidError
			if !errors.As(err, &ie) || !strings.Contains(ie.Reason, c.want) {
				t.Fatalf("error %T %v, want an InvalidError saying %q", err, err, c.want)
			}
		})
	}
	if z.SOA.Serial != 2026112701 || len(z.Records()) != 6 {
		t.Fatalf("a refused change touched the zone: serial %d, %d records", z.SOA.Serial, len(z.Records()))
	}
}

func TestParseRecord(t *testing.T) {
	z := testZone(t)
	good := map[string]struct{ typ, data, want string }{
		"relative target": {"MX", "10 mx1", "x.example.test.\t60\tIN\tMX\t10 mx1.example.test."},
		"absolute target": {"CNAME", "www.example.org.", "x.example.test.\t60\tIN\tCNAME\twww.example.org."},
		"text":            {"TXT", `"hello world"`, "x.example.test.\t60\tIN\tTXT\t\"hello world\""},
	}
	for name, c := range good {
		ty, _ := ParseType(c.typ)
		rr, err := z.ParseRecord("x.example.test.", 60, ty, c.data)
		if err != nil || rr.String() != c.want {
			t.Errorf("%s: %v, %v; want %s", name, rr, err, c.want)
		}
	}
	bad := map[string]struct{ typ, data, want string }{
		"bad address":     {"A", "300.1.1.1", `A record: "300.1.1.1" is not an IPv4 address`},
		"no data":         {"A", "", "A record has no data"},
		"only brackets":   {"A", " ()    ", "A record has no data"}, // fuzz: parsed as an A without address
		"v6 in A":         {"A", "::1", `"::1" is not an IPv4 address`},
		"MX without pref": {"MX", "mx1", `MX record: "mx1" is not a preference (0-65535)`},
		"second record":   {"A", "192.0.2.1\nevil A 192.0.2.66", "spans lines"},
	}
	for name, c := range bad {
		ty, _ := ParseType(c.typ)
		_, err := z.ParseRecord("x.example.test.", 60, ty, c.data)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(ie.Reason, c.want) {
			t.Errorf("%s: error %v, want an InvalidError saying %q", name, err, c.want)
		}
	}
	for _, s := range []string{"ANY", "OPT", "AXFR", "BOGUS", ""} {
		if _, err := ParseType(s); err == nil {
			t.Errorf("type %q accepted", s)
		}
	}
}

func TestApplyLintWarnings(t *testing.T) {
	z := testZone(t)
	nz, err := z.Apply(edit(t, z, Add, "@", "MX", "10 alias"), day)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(nz.Warnings, "\n"); !strings.Contains(w, "target alias.example.test. is a CNAME") {
		t.Fatalf("warnings %q lack the MX-to-CNAME lint", w)
	}
}

// TestSaveRoundTrip: a changed zone saved to disk loads again with the
// same records, and BIND's named-checkzone accepts the file.
func TestSaveRoundTrip(t *testing.T) {
	zs, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, z := range zs {
		nz, err := z.Apply(edit(t, z, Add, "new", "TXT", `"a \"quoted\" text; not a comment"`), day)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(nz.Origin, ".") + ".zone"
		if nz.Origin == "." {
			name = "root.zone"
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := nz.Save(p); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want the file's own 0600", p, fi.Mode().Perm())
		}
		back, err := LoadFiles([]Source{{File: p}})
		if err != nil {
			t.Fatal(err)
		}
		if back[0].SOA.Serial != nz.SOA.Serial || !rrset.Equal(back[0].Records(), nz.Records()) {
			t.Fatalf("%s: reloaded zone differs:\n%v\nwant\n%v", p, back[0].Records(), nz.Records())
		}
		if bin, err := exec.LookPath("named-checkzone"); err == nil {
			out, err := exec.Command(bin, "-q", "-k", "fail", "-m", "fail", "-M", "fail", "-S", "fail", nz.Origin, p).CombinedOutput()
			if err != nil {
				t.Errorf("named-checkzone %s: %v\n%s", p, err, out)
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(zs) {
		t.Errorf("%d files in the dir, want %d (temporary files left behind?)", len(ents), len(zs))
	}
}

func TestSaveFailsWithoutDir(t *testing.T) {
	z := testZone(t)
	p := filepath.Join(t.TempDir(), "gone", "example.test.zone")
	testutil.WantErr(t, "Save", z.Save(p), p)
}

func TestSeed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "zones")
	written, err := Seed(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(EmbeddedFiles()) {
		t.Fatalf("wrote %v, want every embedded file", written)
	}
	zs, err := LoadDir(dir)
	if err != nil || len(zs) != len(EmbeddedFiles()) {
		t.Fatalf("loading the seeded dir: %d zones, %v", len(zs), err)
	}
	// a dir with zones is left alone, even one that lacks some demo zones
	if err := os.Remove(filepath.Join(dir, "test.zone")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.zone"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	written, err = Seed(dir)
	if err != nil || len(written) != 0 {
		t.Fatalf("second seed wrote %v, %v", written, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "root.zone")); string(b) != "mine" {
		t.Fatal("seed overwrote an existing zone file")
	}
}

// FuzzChangeRoundTrip: whatever data a client sends, a change the zone
// accepts is written out as a file that loads back to the same records
// (no record injected, none lost), and a refused one is an InvalidError.
func FuzzChangeRoundTrip(f *testing.F) {
	f.Add("new", "A", "192.0.2.1")
	f.Add("@", "TXT", `"a \"quoted\" text; not a comment" "and \\ more"`)
	f.Add("x.y", "MX", "10 mx1")
	f.Add("*.w", "CNAME", "www.example.org.")
	f.Add("s", "SRV", "0 5 443 www")
	f.Add("c", "CAA", `0 issue "ca.example.test"`)
	f.Add("n", "A", "192.0.2.1 ( ) ; x")
	f.Add("n", "TXT", "$INCLUDE /etc/passwd")
	f.Fuzz(func(t *testing.T, name, typ, data string) {
		z, err := Parse(strings.NewReader("$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n"), "example.test.", "f.zone", false)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := z.Absolute(name)
		if err != nil {
			return
		}
		ty, err := ParseType(typ)
		if err != nil {
			return
		}
		rr, err := z.ParseRecord(abs, 60, ty, data)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseRecord error of type %T: %v", err, err)
			}
			return
		}
		nz, err := z.Apply(Edit{Op: Add, Name: abs, Type: ty, RRs: []dns.RR{rr}}, day)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) && !errors.Is(err, ErrExists) {
				t.Fatalf("Apply error of type %T: %v", err, err)
			}
			return
		}
		var buf strings.Builder
		if err := nz.WriteText(&buf); err != nil {
			return // a record that cannot be written on one line is refused there
		}
		back, err := Parse(strings.NewReader(buf.String()), "example.test.", "back.zone", false)
		if err != nil {
			t.Fatalf("the written zone does not load: %v\n%s", err, buf.String())
		}
		if !rrset.Equal(back.Records(), nz.Records()) {
			t.Fatalf("records changed on the way through the file:\n%v\nwant\n%v", back.Records(), nz.Records())
		}
	})
}
