package l4

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"netsim/internal/testutil"
	"netsim/lb/backend"
)

func TestReload(t *testing.T) {
	es := []*echoServer{startEcho(t, "b1", false), startEcho(t, "b2", false), startEcho(t, "b3", false)}
	base := func() Config {
		p := mkPool("echo", "round_robin", "", es[0], es[1])
		p.DrainTimeout = time.Hour
		return Config{Pools: []Pool{p}, Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}}}
	}
	s, addrs, _, _ := run(t, base())

	// A connection opened before the reload, on b1 or b2.
	old, err := net.Dial("tcp", addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldID := roundTrip(t, old, "before")
	if err := s.SetBackendState("echo", "b1", backend.Draining); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"listen change refused", func(c *Config) { c.Frontends[0].Listen = "127.0.0.1:1" }, "needs a restart"},
		{"frontend added refused", func(c *Config) {
			c.Frontends = append(c.Frontends, Frontend{Name: "x", Listen: "127.0.0.1:0", Pool: "echo"})
		}, "needs a restart"},
		{"bad value refused", func(c *Config) { c.Pools[0].Policy = "cookie_hash" }, "l4.pools[0].policy"},
		{"b3 added", func(c *Config) {
			c.Pools[0].Backends = append(c.Pools[0].Backends, Backend{ID: "b3", Address: es[2].addr()})
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			err := s.Reload(cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Reload: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}

	// b1 stays draining through the reload; b3 comes up after its check.
	var b1 BackendStatus
	for _, b := range s.Pools()[0].Backends {
		if b.ID == "b1" {
			b1 = b
		}
	}
	if b1.State != "draining" {
		t.Fatalf("b1 is %q after the reload, want draining (API state survives)", b1.State)
	}
	testutil.WaitFor(t, "b3 healthy", 15*time.Second, func() bool {
		bs := s.Pools()[0].Backends
		return len(bs) == 3 && bs[2].Healthy
	})
	counts := map[string]int{}
	for i := range 20 {
		counts[ask(t, addrs["tcp"], fmt.Sprint("after ", i))]++
	}
	if counts["b1"] != 0 || counts["b2"] != 10 || counts["b3"] != 10 {
		t.Fatalf("after reload: %v, want b2 and b3 10 each, b1 (draining) none", counts)
	}
	// The connection from before still works, on the same backend.
	if id := roundTrip(t, old, "after"); id != oldID {
		t.Fatalf("old connection answered by %s, was %s", id, oldID)
	}
	// Draining through the API after the reload still finds the connection.
	if err := s.SetBackendState("echo", oldID, backend.Maintenance); err != nil {
		t.Fatal(err)
	}
	_ = old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := old.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after its backend went to maintenance")
	}
}
