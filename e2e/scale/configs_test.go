package main

import (
	"os"
	"path/filepath"
	"testing"

	"netsim/dns/dnsd"
	"netsim/lb"
)

const demoDir = "../../configs/scale-demo"

// TestDemoConfigs loads every config of configs/scale-demo as the daemons
// would, and checks that nothing in them listens on, or allows, 127/8
// where the demo's hosts are meant.
func TestDemoConfigs(t *testing.T) {
	dir, err := filepath.Abs(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	// the key files the configs name, relative to the repository's root
	// where e2e/scale.sh runs the daemons
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("var/scale-demo", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("var/scale-demo/update.key", []byte("c2NhbGUtZGVtby10ZXN0LWtleS0wMTIzNDU2Nzg5YWI=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lbd-eu.yaml", "lbd-na.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, err := lb.LoadConfig(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Frontends) != 2 || len(c.Pools) != 2 || len(c.L4.Frontends) != 0 {
				t.Fatalf("want two HTTP frontends, two pools, no L4: %d, %d, %d", len(c.Frontends), len(c.Pools), len(c.L4.Frontends))
			}
			if s := c.Pools[0].Sticky; s.Mode != "cookie" || s.SecretFile == "" {
				t.Fatalf("sticky %+v: want cookies keyed by the shared file", s)
			}
		})
	}
	for _, name := range []string{"dnsd-primary.yaml", "dnsd-resolver.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, err := dnsd.Load(filepath.Join(dir, name), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.Servers {
				if s.Listen[:4] != "198." {
					t.Errorf("listener %s: want an address of 198.18.0.0/15", s.Listen)
				}
			}
			if name == "dnsd-resolver.yaml" {
				r := c.Resolver
				if len(r.Allow) != 1 || r.Allow[0] != "198.18.0.0/15" || len(r.ECS.SendTo) != 1 || r.ECS.SendTo[0] != "198.18.0.0/15" {
					t.Errorf("resolver allow %v, ECS send_to %v: want 198.18.0.0/15", r.Allow, r.ECS.SendTo)
				}
			}
		})
	}
}
