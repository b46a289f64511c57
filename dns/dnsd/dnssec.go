package dnsd

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/dnssec"
	"netsim/internal/cfgerr"
	"netsim/zones"
)

// DNSSECConfig is online signing (the dnssec: section of configs/dnsd.yaml).
type DNSSECConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Zones to sign, by origin; empty: every zone loaded.
	Zones []string `mapstructure:"zones"`
	// KeyDir keeps the keys in BIND's K<zone>.+<alg>+<tag>.key/.private
	// files, made at the first start; "" keeps them in memory (new keys
	// at every start).
	KeyDir    string `mapstructure:"key_dir"`
	Algorithm string `mapstructure:"algorithm"` // ecdsap256sha256 (13) or ed25519 (15)
	CSK       bool   `mapstructure:"csk"`       // one combined key per zone instead of KSK + ZSK
	// Validity of a signature; one with less than Refresh left is made
	// anew; expiries are spread over Jitter.
	Validity  time.Duration `mapstructure:"signature_validity"`
	Refresh   time.Duration `mapstructure:"refresh"`
	Jitter    time.Duration `mapstructure:"jitter"`
	DNSKEYTTL uint32        `mapstructure:"dnskey_ttl"`
	DSTTL     uint32        `mapstructure:"ds_ttl"`
	// Denial: nsec (minimally covering NSEC online, the NSEC chain in
	// transfers) or nsec3 (RFC 5155 with NSEC3Iterations and NSEC3Salt).
	Denial          string `mapstructure:"denial"`
	NSEC3Iterations int    `mapstructure:"nsec3_iterations"`
	NSEC3Salt       string `mapstructure:"nsec3_salt"`
	// RootKey: where the trust anchor of the root zone "." is written when
	// it is signed here ("" nowhere), in the form delv -a reads.
	RootKey string `mapstructure:"root_key"`
}

func defaultDNSSEC() DNSSECConfig {
	o := dnssec.DefaultSignerOptions()
	return DNSSECConfig{Algorithm: "ecdsap256sha256", Denial: "nsec", Validity: o.Validity, Refresh: o.Refresh, Jitter: o.Jitter, DNSKEYTTL: 3600, DSTTL: 3600}
}

// Validate checks the dnssec section.
func (c DNSSECConfig) Validate() error {
	var errs cfgerr.List
	if _, ok := dnssec.AlgorithmByName(c.Algorithm); !ok {
		errs.Add("dnssec.algorithm", c.Algorithm, "want ecdsap256sha256 (13) or ed25519 (15)")
	}
	if c.Validity < time.Hour {
		errs.Add("dnssec.signature_validity", c.Validity, "want at least 1h")
	}
	if c.Refresh <= 0 || c.Refresh >= c.Validity {
		errs.Add("dnssec.refresh", c.Refresh, "want more than 0 and less than signature_validity (%s)", c.Validity)
	}
	if c.Jitter < 0 || c.Jitter >= c.Validity-c.Refresh {
		errs.Add("dnssec.jitter", c.Jitter, "want 0 or more and less than signature_validity - refresh (%s)", c.Validity-c.Refresh)
	}
	switch strings.ToLower(c.Denial) {
	case "nsec", "nsec3", "":
	default:
		errs.Add("dnssec.denial", c.Denial, "want nsec or nsec3")
	}
	if _, err := dnssec.ParseNSEC3Params(c.NSEC3Iterations, c.NSEC3Salt); err != nil {
		if c.NSEC3Iterations < 0 || c.NSEC3Iterations > dnssec.MaxNSEC3Iterations {
			errs.Add("dnssec.nsec3_iterations", c.NSEC3Iterations, "want 0 (RFC 9276), at most %d", dnssec.MaxNSEC3Iterations)
		} else {
			errs.Add("dnssec.nsec3_salt", c.NSEC3Salt, "want hex digits of at most 255 bytes, best \"\" for none (RFC 9276)")
		}
	}
	return errs.Err()
}

// nsec3 is the NSEC3 parameters when denial is nsec3, else nil.
func (c DNSSECConfig) nsec3() *dnssec.NSEC3Params {
	if !strings.EqualFold(c.Denial, "nsec3") {
		return nil
	}
	p, _ := dnssec.ParseNSEC3Params(c.NSEC3Iterations, c.NSEC3Salt) // checked by Validate
	return &p
}

// signing holds the keys and signers of the signed zones; signers live as
// long as the daemon, so their caches of signatures outlive reloads.
type signing struct {
	cfg     DNSSECConfig
	log     *zap.Logger
	mu      sync.Mutex
	signers map[string]*dnssec.Signer
}

func newSigning(cfg DNSSECConfig, log *zap.Logger) *signing {
	if !cfg.Enabled {
		return nil
	}
	if p := cfg.nsec3(); p != nil && (p.Iterations > 0 || p.Salt != "") {
		log.Warn("NSEC3 with extra iterations or a salt: RFC 9276 asks for 0 and none; validators may treat the zones as insecure",
			zap.Uint16("dnssec.nsec3_iterations", p.Iterations), zap.String("dnssec.nsec3_salt", p.Salt))
	}
	return &signing{cfg: cfg, log: log, signers: map[string]*dnssec.Signer{}}
}

// prepare makes sure every zone to sign has keys and a signer, and
// returns the zones with their DNSKEY records and their children's DS
// records in place.
func (s *signing) prepare(zs []*zones.Zone) ([]*zones.Zone, error) {
	if s == nil {
		return zs, nil
	}
	alg, _ := dnssec.AlgorithmByName(s.cfg.Algorithm)
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := map[string]*dnssec.Keys{}
	for _, z := range zs {
		if !s.signs(z.Origin) {
			continue
		}
		sg := s.signers[z.Origin]
		if sg == nil {
			ks, created, err := dnssec.LoadOrGenerate(s.cfg.KeyDir, z.Origin, dnssec.KeyOptions{Algorithm: alg, CSK: s.cfg.CSK, TTL: s.cfg.DNSKEYTTL})
			if err != nil {
				return nil, fmt.Errorf("dnssec: keys of %s: %w", z.Origin, err)
			}
			if created {
				s.log.Info("dnssec keys made", zap.String("zone", z.Origin), zap.String("dir", s.cfg.KeyDir), zap.Strings("keys", keyTags(ks)))
			}
			sg = dnssec.NewSigner(ks, dnssec.SignerOptions{Validity: s.cfg.Validity, Refresh: s.cfg.Refresh, Jitter: s.cfg.Jitter, Backdate: time.Hour, NSEC3: s.cfg.nsec3()}, nil)
			s.signers[z.Origin] = sg
		}
		sg.NegTTL = z.NegSOA.Hdr.Ttl
		keys[z.Origin] = sg.Keys()
	}
	out, err := dnssec.Publish(zs, keys, s.cfg.DSTTL, time.Now())
	if err == nil {
		out, err = dnssec.PublishDenial(out, keys, s.cfg.nsec3(), time.Now())
	}
	if err != nil {
		return nil, err
	}
	if root := keys["."]; root != nil && s.cfg.RootKey != "" {
		if err := dnssec.WriteAnchor(s.cfg.RootKey, root); err != nil {
			return nil, fmt.Errorf("dnssec.root_key: %w", err)
		}
	}
	return out, nil
}

func keyTags(ks *dnssec.Keys) []string {
	var out []string
	for _, k := range ks.List {
		kind := "ZSK"
		if k.SEP() {
			kind = "KSK"
		}
		out = append(out, fmt.Sprintf("%s %d", kind, k.DNSKEY.KeyTag()))
	}
	return out
}

func (s *signing) signs(origin string) bool {
	return len(s.cfg.Zones) == 0 || slices.ContainsFunc(s.cfg.Zones, func(z string) bool { return dns.Fqdn(strings.ToLower(z)) == origin })
}

// current returns the signers (nil when nothing is signed).
func (s *signing) current() map[string]*dnssec.Signer {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.signers)
}

// rootAnchor is the DS of the root zone when it is signed here: the
// resolver's trust anchor unless its config names a file.
func (s *signing) rootAnchor() []*dns.DS {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sg := s.signers["."]
	if sg == nil {
		return nil
	}
	var out []*dns.DS
	for _, rr := range sg.Keys().DS(0) {
		out = append(out, rr.(*dns.DS))
	}
	return out
}

// transferRecords is what a transfer of z carries when z is signed here:
// the zone signed whole, its chain built once per zone version.
func (s *signing) transferRecords(z *zones.Zone) ([]dns.RR, bool, error) {
	if s == nil {
		return nil, false, nil
	}
	s.mu.Lock()
	sg := s.signers[z.Origin]
	s.mu.Unlock()
	if sg == nil {
		return nil, false, nil
	}
	sz, built, err := sg.SignZone(z)
	if err != nil {
		return nil, true, err
	}
	if built {
		s.log.Info("zone signed whole for transfers", zap.String("zone", z.Origin), zap.Uint32("serial", z.SOA.Serial),
			zap.Int("names", sz.Names), zap.Int("records", len(sz.RRs)), zap.Duration("took", sz.Took))
	}
	return sz.RRs, true, nil
}
