package dnsd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds config files to Load, viper and all: any input gives
// a config or an error naming the file, never a panic, and a config that
// loads validates again unchanged.
func FuzzLoadConfig(f *testing.F) {
	f.Add(DefaultYAML())
	for _, s := range []string{
		"servers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n",
		"servers:\n  - listen: 127.0.0.1:0\n    recursion: true\nresolver:\n  timeout: 5x\n",
		"geo:\n  names:\n    - name: www.example.test.\n      health: {type: tcp, port: 80, interval: soon}\n",
		"primary:\n  zones:\n    - name: example.test.\n      notify: [127.0.0.2:53]\n",
		"rrl:\n  responses_per_second: -1\n",
		"dnssec:\n  enabled: true\n  denial: nsec3\n  nsec3_iterations: 500\n",
		"servers: [\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "dnsd.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config "+path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a loaded config fails validation again: %v", err)
		}
	})
}
