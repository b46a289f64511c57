package xfr

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/cfgerr"
)

// KeyConfig is one TSIG key (RFC 8945): its name, algorithm and secret.
type KeyConfig struct {
	Name string `mapstructure:"name"`
	// Algorithm: hmac-sha256 (the default and the only one offered).
	Algorithm string `mapstructure:"algorithm"`
	// Secret is the base64 key; or SecretFile names a file holding it,
	// bare or as a BIND key file (`secret "…";`, what tsig-keygen writes).
	Secret     string `mapstructure:"secret"`
	SecretFile string `mapstructure:"secret_file"`
}

// Keyring holds the TSIG keys by name (lower case, fully qualified).
type Keyring struct {
	secrets map[string]string // base64
	now     func() time.Time
}

var bindSecret = regexp.MustCompile(`secret\s+"([^"]+)"`)

// NewKeyring reads the configured keys; errors name the key and field.
func NewKeyring(keys []KeyConfig, now func() time.Time) (*Keyring, error) {
	k := &Keyring{secrets: map[string]string{}, now: now}
	for i, c := range keys {
		field := fmt.Sprintf("tsig_keys[%d]", i)
		name := dns.CanonicalName(c.Name)
		if _, ok := dns.IsDomainName(name); !ok || c.Name == "" {
			return nil, cfgerr.New(field+".name", c.Name, "want a key name (a domain name, e.g. netsim-demo)")
		}
		if a := strings.TrimSuffix(strings.ToLower(c.Algorithm), "."); a != "" && a != "hmac-sha256" {
			return nil, cfgerr.New(field+".algorithm", c.Algorithm, "only hmac-sha256 is offered")
		}
		secret := c.Secret
		if c.SecretFile != "" {
			b, err := os.ReadFile(c.SecretFile)
			if err != nil {
				return nil, cfgerr.New(field+".secret_file", c.SecretFile, "%v", err)
			}
			secret = strings.TrimSpace(string(b))
			if m := bindSecret.FindStringSubmatch(secret); m != nil {
				secret = m[1]
			}
		}
		raw, err := base64.StdEncoding.DecodeString(secret)
		if err != nil || len(raw) < 16 {
			return nil, cfgerr.New(field+".secret", "(hidden)", "key %s: want base64 of at least 16 bytes (tsig-keygen makes one)", name)
		}
		if _, dup := k.secrets[name]; dup {
			return nil, cfgerr.New(field+".name", c.Name, "listed twice")
		}
		k.secrets[name] = secret
	}
	return k, nil
}

// Has reports whether the key is known.
func (k *Keyring) Has(name string) bool { _, ok := k.secrets[dns.CanonicalName(name)]; return ok }

// Signer signs the replies to one request: with the request's key, each
// message chained to the MAC before it (RFC 8945 §5.3.1).
type Signer struct {
	k      *Keyring
	key    string
	mac    string // the MAC to chain to: the request's, then each reply's
	sent   int
	tsigEr uint16
}

// Verify checks the TSIG of a request (wire pkt, parsed m). With no TSIG
// it returns a nil Signer and rcode 0. With a bad one it returns the
// TSIG error (BADKEY, BADSIG, BADTIME) and a Signer that writes the
// RFC 8945 §5.3.2 error reply; with a good one, the key's name.
func (k *Keyring) Verify(pkt []byte, m *dns.Msg) (s *Signer, key string, tsigErr uint16) {
	t := m.IsTsig()
	if t == nil {
		return nil, "", 0
	}
	key = dns.CanonicalName(t.Hdr.Name)
	s = &Signer{k: k, key: key, mac: t.MAC}
	secret, ok := k.secrets[key]
	switch {
	case !ok:
		s.tsigEr = dns.RcodeBadKey
	case !strings.EqualFold(strings.TrimSuffix(t.Algorithm, "."), "hmac-sha256"):
		s.tsigEr = dns.RcodeBadKey // RFC 8945 §5.2.1: an algorithm we do not have is BADKEY
	default:
		err := dns.TsigVerify(pkt, secret, "", false)
		switch {
		case err == nil:
		case errors.Is(err, dns.ErrTime):
			s.tsigEr = dns.RcodeBadTime
		default:
			s.tsigEr = dns.RcodeBadSig
		}
	}
	return s, key, s.tsigEr
}

// Key is the name of the request's key.
func (s *Signer) Key() string { return s.key }

// Pack packs a reply, signed when the request was (nil Signer: plain).
// Replies after the first are signed with timers only, chained to the
// MAC of the one before (a transfer, RFC 8945 §5.3.1).
func (s *Signer) Pack(m *dns.Msg) ([]byte, error) {
	if s == nil {
		return m.Pack()
	}
	now := uint64(s.k.now().Unix())
	t := &dns.TSIG{
		Hdr:        dns.RR_Header{Name: s.key, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  dns.HmacSHA256,
		TimeSigned: now,
		Fudge:      300,
		OrigId:     m.Id,
		Error:      s.tsigEr,
	}
	if s.tsigEr == dns.RcodeBadTime { // RFC 8945 §5.2.3: our time, for the client to see the skew
		var b [6]byte
		binary.BigEndian.PutUint16(b[:], uint16(now>>32))
		binary.BigEndian.PutUint32(b[2:], uint32(now))
		t.OtherLen, t.OtherData = 6, hex.EncodeToString(b[:])
	}
	m.Extra = append(m.Extra, t)
	if s.tsigEr == dns.RcodeBadKey || s.tsigEr == dns.RcodeBadSig {
		// not signed (RFC 8945 §5.3.2), but with our time: BIND's client
		// checks the time before it looks at the error (miekg/dns's
		// TsigGenerate would zero it)
		return m.Pack()
	}
	b, mac, err := dns.TsigGenerate(m, s.k.secrets[s.key], s.mac, s.sent > 0)
	if err != nil {
		return nil, fmt.Errorf("signing the reply with key %s: %w", s.key, err)
	}
	s.mac = mac
	s.sent++
	return b, nil
}
