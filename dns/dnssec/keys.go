// Package dnssec signs and validates DNS data (RFC 4033-4035): zone keys
// kept in BIND's key-file format, online signing with a cache of
// signatures per RRset, minimally covering NSEC or NSEC3 records for
// authenticated denial (RFC 4470 / RFC 5155 "white lies"), whole zones
// signed with their full NSEC or NSEC3 chain for transfers, DS records
// for the parent, trust-anchor files, and the validator core the
// resolver uses (NSEC and NSEC3 proofs).
package dnssec

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Key is one zone key: its DNSKEY record and the private half.
type Key struct {
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
}

// SEP reports whether the key is a key-signing key (or a CSK): flags 257.
func (k *Key) SEP() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

// Keys are one zone's keys: a KSK and a ZSK, or a single CSK.
type Keys struct {
	Origin string
	List   []*Key
}

// KeyOptions say what keys to make for a zone that has none.
type KeyOptions struct {
	Algorithm uint8 // dns.ECDSAP256SHA256 (13) or dns.ED25519 (15)
	CSK       bool  // one combined key instead of a KSK and a ZSK
	TTL       uint32
}

// AlgorithmByName maps a configured name to its number.
func AlgorithmByName(s string) (uint8, bool) {
	switch strings.ToLower(s) {
	case "ecdsap256sha256", "13", "":
		return dns.ECDSAP256SHA256, true
	case "ed25519", "15":
		return dns.ED25519, true
	}
	return 0, false
}

// Generate makes new keys for origin, each with its own key tag.
func Generate(origin string, o KeyOptions) (*Keys, error) {
	return generate(origin, o, newKey)
}

// generate makes the keys with newKey. A key whose tag an earlier key
// has is made again, as BIND's dnssec-keygen does: the tag names the
// key's files (fileBase), and validators pick keys by it.
func generate(origin string, o KeyOptions, newKey func(string, uint16, KeyOptions) (*Key, error)) (*Keys, error) {
	ks := &Keys{Origin: dns.CanonicalName(origin)}
	flags := []uint16{dns.ZONE | dns.SEP, dns.ZONE}
	if o.CSK {
		flags = flags[:1]
	}
	for _, f := range flags {
		k, err := newKey(ks.Origin, f, o)
		for err == nil && ks.hasTag(k.DNSKEY.KeyTag()) {
			k, err = newKey(ks.Origin, f, o)
		}
		if err != nil {
			return nil, err
		}
		ks.List = append(ks.List, k)
	}
	return ks, nil
}

func (ks *Keys) hasTag(tag uint16) bool {
	return slices.ContainsFunc(ks.List, func(k *Key) bool { return k.DNSKEY.KeyTag() == tag })
}

func newKey(origin string, flags uint16, o KeyOptions) (*Key, error) {
	ttl := o.TTL
	if ttl == 0 {
		ttl = 3600
	}
	rr := &dns.DNSKEY{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
		Flags: flags, Protocol: 3, Algorithm: o.Algorithm}
	priv, err := rr.Generate(256) // P-256; Ed25519 keys have one size

	if err != nil {
		return nil, fmt.Errorf("generating a key of algorithm %d for %s: %w", o.Algorithm, origin, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of algorithm %d for %s cannot sign", o.Algorithm, origin)
	}
	return &Key{DNSKEY: rr, Signer: s}, nil
}

// DNSKEYs returns the zone's DNSKEY RRset.
func (ks *Keys) DNSKEYs() []dns.RR {
	out := make([]dns.RR, len(ks.List))
	for i, k := range ks.List {
		out[i] = dns.Copy(k.DNSKEY)
	}
	return out
}

// Public returns the keys' DNSKEY records themselves (not copies): what
// the zone's signatures are checked with.
func (ks *Keys) Public() []*dns.DNSKEY {
	out := make([]*dns.DNSKEY, len(ks.List))
	for i, k := range ks.List {
		out[i] = k.DNSKEY
	}
	return out
}

// DS returns the SHA-256 DS records of the zone's key-signing keys, for
// the parent zone, with the given TTL.
func (ks *Keys) DS(ttl uint32) []dns.RR {
	var out []dns.RR
	for _, k := range ks.List {
		if !k.SEP() {
			continue
		}
		ds := k.DNSKEY.ToDS(dns.SHA256)
		ds.Hdr.Ttl = ttl
		ds.Digest = strings.ToUpper(ds.Digest) // as zone files and dig show it
		out = append(out, ds)
	}
	return out
}

// fileBase is BIND's key file name without the extension:
// K<zone>+<alg>+<tag> (the root is "K.").
func fileBase(k *dns.DNSKEY) string {
	name := strings.TrimSuffix(k.Hdr.Name, ".")
	return fmt.Sprintf("K%s.+%03d+%05d", name, k.Algorithm, k.KeyTag())
}

// LoadOrGenerate reads origin's keys of the configured algorithm from dir
// (BIND's K<zone>.+<alg>+<tag>.key and .private files), or makes and saves
// new ones when there are none. dir "" keeps new keys in memory only.
func LoadOrGenerate(dir, origin string, o KeyOptions) (ks *Keys, created bool, err error) {
	origin = dns.CanonicalName(origin)
	if dir != "" {
		ks, err = Load(dir, origin, o.Algorithm)
		if err != nil || ks != nil {
			return ks, false, err
		}
	}
	ks, err = Generate(origin, o)
	if err != nil {
		return nil, false, err
	}
	if dir != "" {
		if err := ks.Save(dir); err != nil {
			return nil, false, err
		}
	}
	return ks, true, nil
}

// Load reads origin's keys of algorithm alg from dir; nil when there are none.
func Load(dir, origin string, alg uint8) (*Keys, error) {
	name := strings.TrimSuffix(origin, ".")
	paths, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("K%s.+%03d+*.key", globEscape(name), alg)))
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	ks := &Keys{Origin: origin}
	for _, p := range paths {
		k, err := loadKey(p, origin)
		if err != nil {
			return nil, err
		}
		ks.List = append(ks.List, k)
	}
	if !ks.hasSEP() {
		return nil, fmt.Errorf("keys of %s in %s: no key-signing key (flags 257) among %d key files", origin, dir, len(paths))
	}
	return ks, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

func (ks *Keys) hasSEP() bool {
	for _, k := range ks.List {
		if k.SEP() {
			return true
		}
	}
	return false
}

func loadKey(path, origin string) (*Key, error) {
	pub, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rr, err := dns.NewRR(keyLine(string(pub)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	k, ok := rr.(*dns.DNSKEY)
	if !ok || dns.CanonicalName(k.Hdr.Name) != origin {
		return nil, fmt.Errorf("key file %s: want a DNSKEY record of %s, have %q", path, origin, rr.String())
	}
	privPath := strings.TrimSuffix(path, ".key") + ".private"
	f, err := os.Open(privPath)
	if err != nil {
		return nil, fmt.Errorf("key %s: its private half: %w", path, err)
	}
	defer f.Close()
	priv, err := k.ReadPrivateKey(f, privPath)
	if err != nil {
		return nil, fmt.Errorf("private key file %s: %w", privPath, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key file %s: not a signing key", privPath)
	}
	k.Hdr.Name = origin
	return &Key{DNSKEY: k, Signer: s}, nil
}

// keyLine is the first line of a .key file that is not a comment.
func keyLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, ";") {
			return t
		}
	}
	return ""
}

// Save writes each key to dir in BIND's format (the private half mode 0600).
func (ks *Keys) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("key directory %s: %w", dir, err)
	}
	files := map[string]bool{}
	for _, k := range ks.List {
		b := fileBase(k.DNSKEY)
		if files[b] {
			return fmt.Errorf("keys of %s: two keys of algorithm %d have key tag %d and would both be saved as %s in %s; want one tag a key", ks.Origin, k.DNSKEY.Algorithm, k.DNSKEY.KeyTag(), b, dir)
		}
		files[b] = true
	}
	for _, k := range ks.List {
		base := filepath.Join(dir, fileBase(k.DNSKEY))
		kind := "zone-signing key"
		if k.SEP() {
			kind = "key-signing key"
		}
		pub := fmt.Sprintf("; This is a %s, keyid %d, for %s\n%s\n", kind, k.DNSKEY.KeyTag(), ks.Origin, k.DNSKEY.String())
		if err := os.WriteFile(base+".key", []byte(pub), 0o644); err != nil {
			return fmt.Errorf("key file: %w", err)
		}
		if err := os.WriteFile(base+".private", []byte(k.DNSKEY.PrivateKeyString(k.Signer)), 0o600); err != nil {
			return fmt.Errorf("private key file: %w", err)
		}
	}
	return nil
}
