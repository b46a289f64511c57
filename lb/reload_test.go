package lb

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	nstls "netsim/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runningState is everything a reload may change, as text: the config in
// force, the HTTP pool's members, the TCP pools and frontends, the
// certificates each HTTPS frontend serves and the demo PKI's files.
func runningState(t *testing.T, h *harness, dir string) string {
	t.Helper()
	var b strings.Builder
	cfg, _ := json.Marshal(h.srv.Config())
	b.Write(cfg)
	for _, m := range h.srv.pool("web").snap.Load().order {
		fmt.Fprintf(&b, "\nweb %s %s w=%d max=%d", m.b.ID(), m.b.Address(), m.b.Weight(), m.b.MaxConns())
	}
	if tb := h.srv.pool("web").table; tb != nil {
		fmt.Fprintf(&b, "\nstick max %d", tb.max.Load())
	}
	for _, p := range h.srv.L4().Pools() {
		fmt.Fprintf(&b, "\nl4 pool %s %s", p.Name, p.Policy)
		for _, be := range p.Backends {
			fmt.Fprintf(&b, " %s@%s w=%d", be.ID, be.Address, be.Weight)
		}
	}
	for _, f := range h.srv.L4().Frontends() {
		fmt.Fprintf(&b, "\nl4 frontend %s %s %s %s", f.Name, f.Listen, f.Address, f.Pool)
	}
	for _, f := range h.srv.frontends {
		if f.store == nil {
			continue
		}
		for _, c := range f.store.Certificates() {
			fmt.Fprintf(&b, "\ncert %s %s %v", f.name, c.Serial, c.Default)
		}
		c, _ := f.store.Lookup("www.example.test")
		fmt.Fprintf(&b, "\nserved %s %s", f.name, c.Serial)
	}
	for _, name := range []string{nstls.CACertFile, nstls.ServerCertFile, nstls.ServerKeyFile, nstls.ClientCertFile, nstls.CRLFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		fmt.Fprintf(&b, "\nfile %s %x %v", name, sha256.Sum256(data), err != nil)
	}
	return b.String()
}

// TestReloadIsAtomic makes each step of a reload fail in turn, in a
// config that also changes pools, TCP pools, certificates and (the demo
// server certificate being gone from disk) the demo PKI: nothing running
// and nothing on disk changes. The same change without the fault then
// goes through (issue 9, defect 3).
func TestReloadIsAtomic(t *testing.T) {
	h, dir := demoHarness(t)
	extra, err := nstls.EnsureDemoPKI(t.TempDir(), []string{"extra.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	// the demo leaf must be issued again by the next reload that commits
	if err := os.Remove(filepath.Join(dir, nstls.ServerCertFile)); err != nil {
		t.Fatal(err)
	}
	change := func() Config {
		c := h.cfg
		c.Frontends = slices.Clone(c.Frontends)
		for i, f := range c.Frontends {
			if f.TLS != nil {
				t2 := *f.TLS
				t2.Certs = append(slices.Clone(t2.Certs), nstls.Pair{Cert: extra.Cert, Key: extra.Key})
				c.Frontends[i].TLS = &t2
			}
		}
		c.Pools = slices.Clone(c.Pools)
		c.Pools[0].Backends = slices.Clone(c.Pools[0].Backends)
		three, one := 3, 1
		c.Pools[0].Backends[0].Weight = &three
		c.Pools[0].Backends = append(c.Pools[0].Backends, BackendConfig{ID: "b9", Address: "127.0.0.1:1", Weight: &one})
		c.L4.Pools = slices.Clone(c.L4.Pools)
		c.L4.Pools[0].Backends = slices.Clone(c.L4.Pools[0].Backends)
		seven := 7
		c.L4.Pools[0].Backends[0].Weight = &seven
		c.L4.Frontends = slices.Clone(c.L4.Frontends)
		return c
	}
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := runningState(t, h, dir)
	for _, tc := range []struct {
		name  string
		fault func(*Config)
		want  string
	}{
		{"bad pool", func(c *Config) { c.Pools[0].Policy = "fastest" }, "pools[0].policy"},
		{"bad l4 section", func(c *Config) { c.L4.Frontends[0].Listen = "127.0.0.1:1" }, "l4.frontends[0]"},
		{"frontend listen changed", func(c *Config) { c.Frontends[0].Listen = "127.0.0.1:1" }, "frontends[0]"},
		{"demo dir is a file", func(c *Config) { c.Frontends[1].TLS.DemoDir = notADir }, "demo_dir"},
		{"bad cert path", func(c *Config) {
			c.Frontends[1].TLS.Certs = append(c.Frontends[1].TLS.Certs, nstls.Pair{Cert: filepath.Join(dir, "nope.pem"), Key: extra.Key})
		}, "nope.pem"},
		{"bad pool tls ca", func(c *Config) {
			c.Pools[0].TLS = &PoolTLS{CA: filepath.Join(dir, "no-ca.pem"), ServerName: "www.example.test"}
		}, "no-ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := change()
			tc.fault(&cfg)
			err := h.srv.Reload(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload: %v, want an error mentioning %q", err, tc.want)
			}
			if after := runningState(t, h, dir); after != before {
				t.Fatalf("a refused reload changed what runs:\nbefore: %s\nafter:  %s", before, after)
			}
		})
	}
	// Prepare alone changes nothing either; Commit does.
	p, err := h.srv.Prepare(change())
	if err != nil {
		t.Fatal(err)
	}
	if after := runningState(t, h, dir); after != before {
		t.Fatalf("Prepare changed what runs:\nbefore: %s\nafter:  %s", before, after)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	after := runningState(t, h, dir)
	for _, want := range []string{"web b9 127.0.0.1:1", "web b1 " + h.webds[0].addr + " w=3", " e1@", " w=7"} {
		if !strings.Contains(after, want) || strings.Contains(before, want) && want != " e1@" {
			t.Errorf("after the good reload, %q: %s", want, after)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, nstls.ServerCertFile)); err != nil {
		t.Errorf("demo certificate not written by the commit: %v", err)
	}
	if c, ok := h.srv.frontends[1].store.Lookup("extra.example.test"); !ok || c.CertFile != extra.Cert {
		t.Errorf("extra certificate not served after the good reload")
	}
	// A second commit of the same Pending, or one prepared before another
	// reload committed, is refused.
	if err := p.Commit(); err == nil {
		t.Error("a stale Pending committed")
	}
}
