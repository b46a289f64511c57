package dnsd

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"netsim/dns/dnssec"
	"netsim/internal/testutil"
)

// a dnsd signing the demo zones on one listener each, keys in dir
func signingConfig(t *testing.T, dir string) Config {
	t.Helper()
	text := "admin:\n  listen: 127.0.0.1:0\n  token: secret\nrrl:\n  responses_per_second: 0\n" +
		"servers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n  - listen: 127.0.0.2:0\n    zones: [test.]\n  - listen: 127.0.0.3:0\n    zones: [\".\"]\n" +
		"dnssec:\n  enabled: true\n  key_dir: " + filepath.Join(dir, "keys") + "\n  root_key: " + filepath.Join(dir, "root.key") + "\n"
	c, err := Load(writeFile(t, text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func askDO(t *testing.T, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, true)
	r, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSigningKeysDSAndAnchor(t *testing.T) {
	dir := t.TempDir()
	d, err := New(signingConfig(t, dir), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	keyFiles, _ := filepath.Glob(filepath.Join(dir, "keys", "K*.key"))
	if len(keyFiles) != 8 {
		t.Fatalf("%d key files, want a KSK and a ZSK for each of the 4 demo zones: %v", len(keyFiles), keyFiles)
	}
	anchor, err := dnssec.ReadAnchor(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	ex := d.Listeners()["127.0.0.1:0"]
	tld := d.Listeners()["127.0.0.2:0"]
	root := d.Listeners()["127.0.0.3:0"]
	// the root's DNSKEY matches the anchor written for delv
	keys := askDO(t, root, ".", dns.TypeDNSKEY)
	if _, _, err := dnssec.VerifyKeys(".", dnssec.RRset(keys.Answer, ".", dns.TypeDNSKEY), dnssec.Sigs(keys.Answer, ".", dns.TypeDNSKEY), anchor, time.Now()); err != nil {
		t.Fatalf("the root's keys against var/root.key: %v", err)
	}
	// test. holds example.test.'s DS, the root test.'s
	for _, c := range []struct{ server, child string }{{tld, "example.test."}, {root, "test."}} {
		r := askDO(t, c.server, c.child, dns.TypeDS)
		if len(dnssec.RRset(r.Answer, c.child, dns.TypeDS)) == 0 || len(dnssec.Sigs(r.Answer, c.child, dns.TypeDS)) == 0 {
			t.Fatalf("no signed DS of %s at its parent: %v", c.child, r.Answer)
		}
	}
	if r := askDO(t, ex, "www.example.test.", dns.TypeA); len(dnssec.Sigs(r.Answer, "www.example.test.", dns.TypeA)) == 0 {
		t.Fatalf("no RRSIG with DO: %v", r.Answer)
	}

	// the signer's clock, through the admin API: expired signatures
	url := "http://" + d.AdminAddr() + "/api/v1/dnssec/zones/example.test."
	if st, _ := testutil.Call(t, "PATCH", url, `{"clock_offset":"-720h"}`, ""); st != http.StatusUnauthorized {
		t.Fatalf("PATCH without the token: %d", st)
	}
	if st, b := testutil.Call(t, "PATCH", url, `{"clock_offset":"soon"}`, "secret"); st != http.StatusUnprocessableEntity || !strings.Contains(b, "clock_offset") {
		t.Fatalf("a bad offset: %d %s", st, b)
	}
	if st, b := testutil.Call(t, "PATCH", url, `{"clock_offset":"-720h"}`, "secret"); st != 200 || !strings.Contains(b, `"clock_offset": "-720h0m0s"`) {
		t.Fatalf("PATCH: %d %s", st, b)
	}
	sig := dnssec.Sigs(askDO(t, ex, "www.example.test.", dns.TypeA).Answer, "www.example.test.", dns.TypeA)
	if len(sig) == 0 || sig[0].ValidityPeriod(time.Now()) {
		t.Fatalf("after the clock moved back 30 days the packed answer still has a valid signature: %v", sig)
	}
	if st, b := testutil.Call(t, "GET", "http://"+d.AdminAddr()+"/api/v1/dnssec/zones", "", ""); st != 200 || !strings.Contains(b, `"role": "KSK"`) {
		t.Fatalf("GET zones: %d %s", st, b)
	}

	// a second start reads the same keys
	before, _ := os.ReadFile(filepath.Join(dir, "root.key"))
	if _, err := New(signingConfig(t, dir), zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "root.key"))
	if string(before) != string(after) {
		t.Fatalf("a restart made new keys:\n%s\n%s", before, after)
	}
}

func TestDNSSECConfigErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"dnssec:\n  enabled: true\n  algorithm: rsasha1\n", "dnssec.algorithm"},
		{"dnssec:\n  enabled: true\n  refresh: 400h\n", "dnssec.refresh"},
		{"dnssec:\n  enabled: true\n  signature_validity: 1m\n", "dnssec.signature_validity"},
		{"dnssec:\n  enabled: true\n  denial: nsec5\n", `dnssec.denial: "nsec5": want nsec or nsec3`},
		{"dnssec:\n  enabled: true\n  denial: nsec3\n  nsec3_iterations: 51\n", "dnssec.nsec3_iterations: 51: want 0 (RFC 9276), at most 50"},
		{"dnssec:\n  enabled: true\n  denial: nsec3\n  nsec3_iterations: -1\n", "dnssec.nsec3_iterations: -1"},
		{"dnssec:\n  enabled: true\n  denial: nsec3\n  nsec3_salt: xyz\n", `dnssec.nsec3_salt: "xyz": want hex digits`},
	} {
		_, err := Load(writeFile(t, "servers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"+c.yaml), nil)
		testutil.WantErr(t, "Load "+c.yaml, err, c.want)
	}
}

// NSEC3 with extra iterations or a salt starts, with a warning that names
// the keys (RFC 9276); with the recommended parameters, no warning.
func TestNSEC3ParametersWarn(t *testing.T) {
	for _, c := range []struct {
		cfg  DNSSECConfig
		warn bool
	}{
		{DNSSECConfig{Enabled: true, Denial: "nsec3"}, false},
		{DNSSECConfig{Enabled: true, Denial: "nsec3", NSEC3Iterations: 10}, true},
		{DNSSECConfig{Enabled: true, Denial: "nsec3", NSEC3Salt: "abcd"}, true},
		{DNSSECConfig{Enabled: true, Denial: "nsec", NSEC3Iterations: 10}, false},
	} {
		core, logs := observer.New(zap.WarnLevel)
		newSigning(c.cfg, zap.New(core))
		if got := logs.FilterMessageSnippet("RFC 9276").Len() == 1; got != c.warn {
			t.Errorf("%+v: warned %v, want %v", c.cfg, got, c.warn)
		}
	}
}
