package main

import (
	"strings"
	"testing"

	"netsim/internal/testutil"
)

func TestServers(t *testing.T) {
	tests := []struct {
		name    string
		c       config
		addrs   []string
		ids     []string
		vers    []string
		wantErr string
	}{
		{name: "listen list", c: config{listen: "127.0.0.1:9001,127.0.0.1:9002", ids: "x,y", versions: "v1", capacity: 1},
			addrs: []string{"127.0.0.1:9001", "127.0.0.1:9002"}, ids: []string{"x", "y"}, vers: []string{"v1", "v1"}},
		{name: "count", c: config{count: 3, host: "127.0.0.1", basePort: 9001, versions: "v1,v2,v1", capacity: 1},
			addrs: []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}, ids: []string{"b1", "b2", "b3"}, vers: []string{"v1", "v2", "v1"}},
		{name: "port 0", c: config{count: 1, host: "127.0.0.1", versions: "v1", capacity: 1},
			addrs: []string{"127.0.0.1:0"}, ids: []string{"b1"}, vers: []string{"v1"}},
		{name: "id count mismatch", c: config{listen: "127.0.0.1:1,127.0.0.1:2", ids: "a", versions: "v1", capacity: 1}, wantErr: "--id has 1 ids for 2"},
		{name: "version mismatch", c: config{count: 3, basePort: 9001, versions: "v1,v2", capacity: 1}, wantErr: "--version has 2"},
		{name: "bad listen", c: config{listen: "9001", versions: "v1", capacity: 1}, wantErr: "--listen"},
		{name: "dup id", c: config{count: 2, basePort: 9001, ids: "a,a", versions: "v1", capacity: 1}, wantErr: "given twice"},
		{name: "rate", c: config{count: 1, basePort: 9001, versions: "v1", errorRate: 2, capacity: 1}, wantErr: "--error-rate"},
		{name: "port range", c: config{count: 3, basePort: 65534, versions: "v1", capacity: 1}, wantErr: "port range"},
		{name: "count 0", c: config{count: 0, versions: "v1", capacity: 1}, wantErr: "--count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, addrs, err := tt.c.servers()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(addrs, " ") != strings.Join(tt.addrs, " ") {
				t.Fatalf("addrs %v", addrs)
			}
			for i, o := range opts {
				if o.ID != tt.ids[i] || o.Version != tt.vers[i] {
					t.Fatalf("server %d: %s %s", i, o.ID, o.Version)
				}
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	testutil.Commands(t, newRoot, []testutil.CommandCase{
		{Name: "count 0", Args: []string{"--count", "0"}, Err: "--count must be 1..1000"},
		{Name: "stray argument", Args: []string{"stray"}, Err: `unexpected argument "stray"`},
		{Name: "unknown flag", Args: []string{"--frobnicate"}, Err: "unknown flag"},
		{Name: "ids for servers", Args: []string{"--listen", "127.0.0.1:1", "--id", "a,b"}, Err: "--id has 2 ids for 1"},
		{Name: "help", Args: []string{"--help"}, Out: "--log-level"},
	})
}
