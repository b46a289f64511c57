package zones

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestEmbeddedHierarchyLoads(t *testing.T) {
	zs, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, z := range zs {
		got[z.Origin] = z.Len()
	}
	for _, want := range []string{".", "test.", "example.test.", "sub.example.test."} {
		if got[want] == 0 {
			t.Errorf("zone %s missing or empty (have %v)", want, got)
		}
	}
}

const good = `$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 60
@ NS ns1
ns1 A 192.0.2.1
`

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		text string
		line int
		want string
	}{
		{"syntax error names the line", good + "www A 192.0.2.999\n", 5, `"192.0.2.999" is not an IPv4 address (record: www A 192.0.2.999)`},
		// issue 9 defect 13: these said `not a TTL: "FOO"` and `bad SOA zone parameter: " "`
		{"unknown type", good + "\n\nwww BOGUS 1\n", 7, `"BOGUS" is not a record type, class or TTL; expected a type such as A, AAAA`},
		{"unknown type after a TTL", good + "www 300 IN FOO 1 ; x\n", 5, `"FOO" is not a record type, class or TTL; expected a type such as A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV or TXT (record: www 300 IN FOO 1)`},
		{"SOA without its (", "$TTL 1\n@ SOA ns1 hostmaster\n  1 2 3 4 5 )\n@ NS ns1\n", 3, `SOA record ends too early: expected serial, refresh, retry, expire and minimum (numbers, or durations like 1h); a record on several lines needs them inside ( and ) (record: @ SOA ns1 hostmaster 1 2 3 4 5 ))`},
		{"SOA without its )", "$TTL 1\n@ SOA ns1 hostmaster (\n  1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n", 4, `the ( on line 2 is not closed (record: @ SOA ns1 hostmaster ( 1 2 3 4 5 @ NS ns1)`},
		{"SOA value not a number", "$TTL 1\n@ SOA ns1 hostmaster 1 2 3 4 x\n", 2, `SOA value "x" is not valid: expected serial, refresh`},
		{"MX without preference", good + "www MX mail\n", 5, `MX record: "mail" is not a preference (0-65535)`},
		{"no SOA", "$TTL 1\n@ NS ns1\nns1 A 192.0.2.1\n", 0, "no SOA"},
		{"two SOAs", good + "@ SOA ns2 hostmaster 2 7200 3600 1209600 60\n", 0, "2 SOA records"},
		{"no NS at the apex", "$TTL 1\n@ SOA ns1 hostmaster 1 2 3 4 5\nns1 A 192.0.2.1\n", 0, "no NS records at the zone apex"},
		{"in-zone NS without address", "$TTL 1\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n", 0, "ns1.example.test. has no A or AAAA"},
		{"delegation without glue", good + "sub NS ns.sub\n", 0, "glue for delegation sub.example.test."},
		{"CNAME beside other data", good + "www CNAME ns1\nwww A 192.0.2.2\n", 0, "CNAME and other data"},
		{"out-of-zone record", good + "www.example.org. A 192.0.2.2\n", 0, "out of zone"},
		{"class other than IN", good + "www CH A 1\n", 0, ""},
		{"DNAME refused, not ignored", good + "old DNAME new.example.\n", 0, "DNAME (RFC 6672) is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.text), "example.test.", "x.zone", false)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("error %T %v is not a *zones.Error", err, err)
			}
			if ze.File != "x.zone" {
				t.Errorf("file %q, want x.zone (%v)", ze.File, err)
			}
			if c.line > 0 && ze.Line != c.line {
				t.Errorf("line %d, want %d (%v)", ze.Line, c.line, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	z, err := Parse(strings.NewReader(good+`sub NS ns.sub
ns.sub A 192.0.2.5
txt.sub TXT "hidden"
@ MX 10 alias
alias CNAME ns1
x 60 A 192.0.2.7
x 90 A 192.0.2.8
`), "example.test.", "w.zone", false)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(z.Warnings, "\n")
	for _, want := range []string{"txt.sub.example.test. TXT: below a delegation", "target alias.example.test. is a CNAME", "x.example.test. A: TTLs differ (60 to 90)"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	zs, _ := LoadEmbedded()
	for _, z := range zs {
		if len(z.Warnings) > 0 {
			t.Errorf("embedded zone %s has warnings: %v", z.Origin, z.Warnings)
		}
	}
}

func TestLoadFilesAndInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("hosts.inc", "www A 192.0.2.10\n")
	write("example.test.zone", "$ORIGIN example.test.\n"+good+"$INCLUDE "+filepath.Join(dir, "hosts.inc")+"\n")
	zs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 1 || zs[0].Origin != "example.test." {
		t.Fatalf("zones %v", zs)
	}
	if r := zs[0].Lookup("www.example.test.", 1); r.Kind != Success {
		t.Fatalf("$INCLUDEd record not found: %v", r.Kind)
	}
	// a syntax error inside the included file names that file and line
	write("hosts.inc", "www A 192.0.2.10\nbad A nope\n")
	_, err = LoadDir(dir)
	var ze *Error
	if !errors.As(err, &ze) || !strings.HasSuffix(ze.File, "hosts.inc") || ze.Line != 2 {
		t.Fatalf("error %v: want hosts.inc line 2", err)
	}
}

func TestOriginFromFile(t *testing.T) {
	for in, want := range map[string]string{
		"root.zone": ".", "example.test.zone": "example.test.", "/x/Sub.Example.Test.zone": "sub.example.test.", "db.foo": "foo.",
	} {
		if got := OriginFromFile(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

// TestNamedCheckzone runs BIND's checker on the embedded files when it is
// installed (Debian bind9-utils; .ci/run installs it).
func TestNamedCheckzone(t *testing.T) {
	bin, err := exec.LookPath("named-checkzone")
	if err != nil {
		t.Skip("named-checkzone not installed (Debian package bind9-utils); make e2e runs it in CI")
	}
	for _, name := range EmbeddedFiles() {
		data, _ := EmbeddedFile(name)
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-q", "-k", "fail", "-m", "fail", "-M", "fail", "-S", "fail", OriginFromFile(name), p).CombinedOutput()
		if err != nil {
			t.Errorf("named-checkzone %s: %v\n%s", name, err, out)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range EmbeddedFiles() {
		data, _ := EmbeddedFile(name)
		f.Add(string(data))
	}
	f.Add(good + "*.w A 192.0.2.1\nx.y.z TXT \"a\" \"b\"\n")
	f.Add("$ORIGIN .\n$TTL 1\n@ SOA a. b. 1 2 3 4 5\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := Parse(strings.NewReader(text), "example.test.", "fuzz.zone", false)
		if err != nil {
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// a zone that loads can be looked up without panicking
		for _, name := range z.Names() {
			z.Lookup(name, 1)
			z.Lookup("x."+name, 16)
		}
	})
}

// TestCanonicalLess: RFC 4034 §6.1 order (labels from the right, shorter
// first), the fast path agreeing with the escaped one on every pair.
func TestCanonicalLess(t *testing.T) {
	names := []string{"example.test.", "a.example.test.", "yljkjljk.a.example.test.", "z.a.example.test.",
		"zabc.a.example.test.", "z.example.test.", "*.z.example.test.", "test.", ".", "b.test.", "a-b.test."}
	want := []string{".", "test.", "a-b.test.", "b.test.", "example.test.", "a.example.test.", "yljkjljk.a.example.test.",
		"z.a.example.test.", "zabc.a.example.test.", "z.example.test.", "*.z.example.test."}
	got := slices.Clone(names)
	sort.Slice(got, func(i, j int) bool { return canonicalLess(got[i], got[j]) })
	if !slices.Equal(got, want) {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
	for _, a := range names {
		for _, b := range names {
			if canonicalLess(a, b) != canonicalLessEscaped(a, b) {
				t.Errorf("%q < %q: fast %v, escaped %v", a, b, canonicalLess(a, b), canonicalLessEscaped(a, b))
			}
		}
	}
	// an escaped dot is not a boundary: a\.b is one label, after a
	if !canonicalLess("a.test.", `a\.b.test.`) || canonicalLess(`a\.b.test.`, "b.a.test.") {
		t.Error("escaped dots")
	}
}
