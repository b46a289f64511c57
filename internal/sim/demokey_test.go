package sim

import (
	"os"
	"testing"

	"netsim/dns/dnsd"
	"netsim/dns/xfr"
)

// TestDemoKey: made once with mode 0600, the same secret on the next
// start, and a config using it passes dnsd's checks with the demo zone
// updatable by the key.
func TestDemoKey(t *testing.T) {
	dir := t.TempDir()
	p, s1, err := DemoKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v, want mode 0600", p, fi, err)
	}
	_, s2, err := DemoKey(dir)
	if err != nil || s2 != s1 {
		t.Fatalf("second start: %q %v, want the same secret %q", s2, err, s1)
	}
	cfg, err := dnsd.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	UseDemoKey(&cfg, p)
	UseDemoKey(&cfg, p) // idempotent (SIGHUP)
	if len(cfg.TSIGKeys) != 1 {
		t.Fatalf("keys %v, want the demo key once", cfg.TSIGKeys)
	}
	if err := xfr.Check(cfg.Primary, cfg.TSIGKeys); err != nil {
		t.Fatal(err)
	}
	for _, z := range cfg.Primary.Zones {
		if len(z.Update) != 1 || z.Update[0].Key != DemoKeyName {
			t.Errorf("zone %s: update %v, want the demo key's rule", z.Name, z.Update)
		}
	}
	if err := os.WriteFile(p, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DemoKey(dir); err == nil {
		t.Error("a key file without a secret was accepted")
	}
}
