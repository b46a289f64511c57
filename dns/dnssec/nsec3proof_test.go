package dnssec

import (
	"testing"

	"github.com/miekg/dns"
)

// The NSEC3 proofs (RFC 5155 §8) accept the white lies the signer makes
// and refuse each proof with a piece missing or wrong.
func TestNSEC3Proofs(t *testing.T) {
	p := NSEC3Params{}
	const z = "example.test."
	apex := p.MatchNSEC3(z, z, []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeRRSIG}, 300)
	www := p.MatchNSEC3(z, "www.example.test.", []uint16{dns.TypeA, dns.TypeRRSIG}, 300)
	cut := p.MatchNSEC3(z, "sub.example.test.", []uint16{dns.TypeNS}, 300)
	nope := p.CoverNSEC3(z, "nope.example.test.", 300)
	wild := p.CoverNSEC3(z, "*.example.test.", 300)
	apps := p.MatchNSEC3(z, "apps.example.test.", nil, 300)
	appsWild := p.MatchNSEC3(z, "*.apps.example.test.", []uint16{dns.TypeA, dns.TypeRRSIG}, 300)
	foo := p.CoverNSEC3(z, "foo.apps.example.test.", 300)
	many := p.MatchNSEC3(z, z, nil, 300)
	many.Iterations = MaxNSEC3Iterations + 1
	d := func(ns ...*dns.NSEC3) Denial { return Denial{NSEC3: ns} }
	for _, tc := range []struct {
		name  string
		check func() error
		ok    bool
		code  uint16
	}{
		{"NXDOMAIN", func() error { return d(apex, nope, wild).NXDomain("nope.example.test.") }, true, 0},
		{"NXDOMAIN deep (next closer one below the apex)", func() error { return d(apex, nope, wild).NXDomain("a.b.nope.example.test.") }, true, 0},
		{"NXDOMAIN without the wildcard's cover", func() error { return d(apex, nope).NXDomain("nope.example.test.") }, false, dns.ExtendedErrorCodeNSECMissing},
		{"NXDOMAIN without the closest encloser", func() error { return d(nope, wild).NXDomain("nope.example.test.") }, false, dns.ExtendedErrorCodeNSECMissing},
		{"NXDOMAIN without the next closer's cover", func() error { return d(apex, wild).NXDomain("nope.example.test.") }, false, dns.ExtendedErrorCodeNSECMissing},
		{"NXDOMAIN for a name that exists (matched, not covered)", func() error { return d(apex, www, wild).NXDomain("www.example.test.") }, false, dns.ExtendedErrorCodeNSECMissing},
		{"NXDOMAIN with a delegation as closest encloser", func() error {
			return d(cut, p.CoverNSEC3(z, "x.sub.example.test.", 300), p.CoverNSEC3(z, "*.sub.example.test.", 300)).NXDomain("x.sub.example.test.")
		}, false, dns.ExtendedErrorCodeDNSBogus},
		{"NODATA", func() error { return d(www).NoData("www.example.test.", dns.TypeMX) }, true, 0},
		{"NODATA for a type the NSEC3 lists", func() error { return d(www).NoData("www.example.test.", dns.TypeA) }, false, dns.ExtendedErrorCodeDNSBogus},
		{"NODATA with only a cover", func() error { return d(apex, nope, wild).NoData("nope.example.test.", dns.TypeA) }, false, dns.ExtendedErrorCodeNSECMissing},
		{"NODATA at an empty non-terminal", func() error { return d(apps).NoData("apps.example.test.", dns.TypeA) }, true, 0},
		{"NODATA from the parent side of a cut", func() error { return d(cut).NoData("sub.example.test.", dns.TypeA) }, false, dns.ExtendedErrorCodeDNSBogus},
		{"no DS at an insecure cut", func() error { return d(cut).NoDS("sub.example.test.") }, true, 0},
		{"wildcard NODATA", func() error { return d(apps, foo, appsWild).NoData("foo.apps.example.test.", dns.TypeMX) }, true, 0},
		{"wildcard NODATA for a type the wildcard has", func() error { return d(apps, foo, appsWild).NoData("foo.apps.example.test.", dns.TypeA) }, false, dns.ExtendedErrorCodeNSECMissing},
		{"wildcard answer", func() error { return d(foo).Wildcard("foo.apps.example.test.", 3) }, true, 0},
		{"wildcard answer for a deeper name", func() error { return d(foo).Wildcard("a.foo.apps.example.test.", 3) }, true, 0},
		{"wildcard answer without the cover", func() error { return d(apex).Wildcard("foo.apps.example.test.", 3) }, false, dns.ExtendedErrorCodeNSECMissing},
		{"too many iterations", func() error { return d(many).NoData(z, dns.TypeA) }, false, dns.ExtendedErrorCodeUnsupportedNSEC3IterValue},
		{"NSEC still proves as before", func() error {
			return Denial{NSEC: []*dns.NSEC{CoverNSEC("nope.example.test.", 300), CoverNSEC("*.example.test.", 300)}}.NXDomain("nope.example.test.")
		}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			b, ok := IsBogus(err)
			if !ok || b.Code != tc.code {
				t.Fatalf("error %v, want bogus with EDE %d", err, tc.code)
			}
		})
	}
}

func TestHashStepWraps(t *testing.T) {
	zero := b32.EncodeToString(make([]byte, 20))
	ones := b32.EncodeToString([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	if got := hashStep(zero, -1); got != ones {
		t.Errorf("0 - 1 = %s, want %s", got, ones)
	}
	if got := hashStep(ones, 1); got != zero {
		t.Errorf("max + 1 = %s, want %s", got, zero)
	}
	h := NSEC3Params{}.Hash("www.example.test.")
	if !(hashStep(h, -1) < h && h < hashStep(h, 1)) {
		t.Errorf("%s ± 1 out of order", h)
	}
}
