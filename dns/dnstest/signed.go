package dnstest

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/zones"
)

// Signed is a set of zones made ready for DNSSEC as dnsd makes them:
// keys per zone (ECDSA P-256, KSK + ZSK), DNSKEY records published,
// children's DS placed in their parents, a signer per zone.
type Signed struct {
	Zones   map[string]*zones.Zone // by origin, published
	Keys    map[string]*dnssec.Keys
	Signers map[string]*dnssec.Signer
}

// Sign makes zs ready for DNSSEC. skip names origins left unsigned (an
// insecure child: its parent holds no DS for it).
func Sign(t testing.TB, zs map[string]*zones.Zone, skip ...string) *Signed {
	t.Helper()
	return SignWith(t, zs, dnssec.DefaultSignerOptions(), skip...)
}

// SignWith is Sign with signer options (opt.NSEC3: denial by NSEC3, its
// NSEC3PARAM published).
func SignWith(t testing.TB, zs map[string]*zones.Zone, opt dnssec.SignerOptions, skip ...string) *Signed {
	t.Helper()
	s := &Signed{Zones: map[string]*zones.Zone{}, Keys: map[string]*dnssec.Keys{}, Signers: map[string]*dnssec.Signer{}}
	var list []*zones.Zone
	for origin, z := range zs {
		list = append(list, z)
		unsigned := false
		for _, o := range skip {
			unsigned = unsigned || o == origin
		}
		if unsigned {
			continue
		}
		ks, err := dnssec.Generate(origin, dnssec.KeyOptions{Algorithm: dns.ECDSAP256SHA256})
		if err != nil {
			t.Fatal(err)
		}
		s.Keys[origin], s.Signers[origin] = ks, dnssec.NewSigner(ks, opt, nil)
	}
	pub, err := dnssec.Publish(list, s.Keys, 3600, time.Now())
	if err == nil {
		pub, err = dnssec.PublishDenial(pub, s.Keys, opt.NSEC3, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range pub {
		s.Zones[z.Origin] = z
	}
	return s
}

// Anchor is the DS of the root's keys: a resolver's trust anchor.
func (s *Signed) Anchor() []*dns.DS {
	var out []*dns.DS
	for _, rr := range s.Keys["."].DS(0) {
		out = append(out, rr.(*dns.DS))
	}
	return out
}
