package sim

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/miekg/dns"

	"netsim/dns/dnsd"
	"netsim/dns/xfr"
)

// DemoKeyName is the demo's TSIG key: it signs nsupdate's changes.
const DemoKeyName = "netsim-demo"

var keySecret = regexp.MustCompile(`secret\s+"([A-Za-z0-9+/=]+)"`)

// DemoKey returns the demo TSIG key kept in dir/netsim-demo.key — a BIND
// key file (`nsupdate -k` reads it), mode 0600 — making it with a random
// secret on the first start: the path and the base64 secret.
func DemoKey(dir string) (path, secret string, err error) {
	path = filepath.Join(dir, DemoKeyName+".key")
	b, err := os.ReadFile(path)
	if err == nil {
		if m := keySecret.FindSubmatch(b); m != nil {
			return path, string(m[1]), nil
		}
		return "", "", fmt.Errorf("demo key %s: no `secret \"<base64>\";` in it: delete the file and a new key is made", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("demo key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	secret = base64.StdEncoding.EncodeToString(raw)
	text := fmt.Sprintf("key \"%s\" {\n\talgorithm hmac-sha256;\n\tsecret \"%s\";\n};\n", DemoKeyName, secret)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("demo key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+DemoKeyName+".key-*")
	if err != nil {
		return "", "", fmt.Errorf("demo key: %w", err)
	}
	_, werr := tmp.WriteString(text)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o600), os.Rename(tmp.Name(), path)); err != nil {
		os.Remove(tmp.Name())
		return "", "", fmt.Errorf("demo key %s: %w", path, err)
	}
	return path, secret, nil
}

// UseDemoKey adds the demo key (its file at path) to cfg and lets it
// change every primary zone that takes no updates yet, names at and
// below the zone's apex (not the SOA, which the serial bump owns).
func UseDemoKey(cfg *dnsd.Config, path string) {
	for _, k := range cfg.TSIGKeys {
		if dns.CanonicalName(k.Name) == DemoKeyName+"." {
			return
		}
	}
	cfg.TSIGKeys = append(cfg.TSIGKeys, xfr.KeyConfig{Name: DemoKeyName, SecretFile: path})
	zs := make([]xfr.ZoneConfig, len(cfg.Primary.Zones))
	copy(zs, cfg.Primary.Zones)
	for i, z := range zs {
		if len(z.Update) == 0 {
			name := dns.CanonicalName(z.Name)
			zs[i].Update = []xfr.PolicyRule{{Key: DemoKeyName, Names: []string{name, "*." + name}}}
		}
	}
	cfg.Primary.Zones = zs
}
