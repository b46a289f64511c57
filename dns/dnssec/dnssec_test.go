package dnssec

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return rr
}

func TestBeforeAfterCoverOnlyTheName(t *testing.T) {
	for _, name := range []string{"nope.example.test.", "a.example.test.", "*.example.test.", "b\\000.example.test.", "Zz.example.test.", "x.y.example.test.", "test."} {
		b, a := Before(name), After(name)
		if Compare(b, name) >= 0 || Compare(name, a) >= 0 {
			t.Errorf("%s: want %s < name < %s in canonical order", name, b, a)
		}
		if !Covers(b, a, name) {
			t.Errorf("NSEC %s -> %s does not cover %s", b, a, name)
		}
		if dns.CountLabel(b) != dns.CountLabel(name) || dns.CountLabel(a) != dns.CountLabel(name) {
			t.Errorf("%s: %s and %s are not siblings of the name", name, b, a)
		}
	}
	// existing neighbours stay uncovered
	b, a := Before("nope.example.test."), After("nope.example.test.")
	for _, other := range []string{"nopd.example.test.", "nopf.example.test.", "example.test.", "nope\\001.example.test."} {
		if Covers(b, a, other) {
			t.Errorf("the white lie for nope covers %s too", other)
		}
	}
}

func TestCompareCanonicalOrder(t *testing.T) {
	// RFC 4034 §6.1's example, in order
	names := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 1; i < len(names); i++ {
		if Compare(names[i-1], names[i]) >= 0 {
			t.Errorf("want %s < %s", names[i-1], names[i])
		}
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSignerCachesAndRefreshes(t *testing.T) {
	ks, err := Generate("example.test.", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	s := NewSigner(ks, SignerOptions{Validity: 10 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, Jitter: time.Hour, Backdate: time.Hour}, c.now)
	set := []dns.RR{mustRR(t, "www.example.test. 300 IN A 127.0.10.1"), mustRR(t, "www.example.test. 300 IN A 127.0.20.1")}
	sigs, until, err := s.Sign(set, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRRset(set, []*dns.RRSIG{sigs[0].(*dns.RRSIG)}, ks.Public(), "example.test.", c.t); err != nil {
		t.Fatalf("the signature does not verify: %v", err)
	}
	if want := c.t.Add(7 * 24 * time.Hour); until.After(want) || until.Before(want.Add(-time.Hour)) {
		t.Errorf("re-sign from %s, want within the hour before %s", until, want)
	}
	// the same set in another order (a rotation) is served from the cache
	rotated := []dns.RR{set[1], set[0]}
	for i := 0; i < 100; i++ {
		if _, _, err := s.Sign(rotated, ""); err != nil {
			t.Fatal(err)
		}
	}
	if made, hits := s.Stats(); made != 1 || hits != 100 {
		t.Fatalf("made %d signatures and %d cache hits for 101 requests of one RRset, want 1 and 100", made, hits)
	}
	c.t = until.Add(time.Second)
	if _, _, err := s.Sign(set, ""); err != nil {
		t.Fatal(err)
	}
	if made, _ := s.Stats(); made != 2 {
		t.Fatalf("a signature near its expiry was served again (%d made, want 2)", made)
	}
}

func TestKeysSignTheirRoles(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  KeyOptions
		keys int
	}{
		{"ksk+zsk ecdsa", KeyOptions{Algorithm: dns.ECDSAP256SHA256}, 2},
		{"csk ed25519", KeyOptions{Algorithm: dns.ED25519, CSK: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := Generate("example.test.", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(ks.List) != tc.keys {
				t.Fatalf("%d keys, want %d", len(ks.List), tc.keys)
			}
			s := NewSigner(ks, DefaultSignerOptions(), nil)
			now := time.Now()
			keySet := ks.DNSKEYs()
			sigs, _, err := s.Sign(keySet, "")
			if err != nil {
				t.Fatal(err)
			}
			var ds []*dns.DS
			for _, rr := range ks.DS(3600) {
				ds = append(ds, rr.(*dns.DS))
			}
			if _, _, err := VerifyKeys("example.test.", keySet, Sigs(sigs, "example.test.", dns.TypeDNSKEY), ds, now); err != nil {
				t.Fatalf("DNSKEY set against its DS: %v", err)
			}
			a := []dns.RR{mustRR(t, "example.test. 300 IN A 127.0.0.1")}
			asigs, _, err := s.Sign(a, "")
			if err != nil {
				t.Fatal(err)
			}
			v, err := VerifyRRset(a, Sigs(asigs, "example.test.", dns.TypeA), ks.Public(), "example.test.", now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.keys == 2 && v.Sig.Verify(ks.List[1].DNSKEY, a) != nil {
				t.Errorf("data signed by the KSK; want the ZSK")
			}
		})
	}
}

func TestWildcardSignatureVerifiesExpanded(t *testing.T) {
	ks, _ := Generate("example.test.", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	s := NewSigner(ks, DefaultSignerOptions(), nil)
	set := []dns.RR{mustRR(t, "x.apps.example.test. 3600 IN A 127.0.6.1")}
	sigs, _, err := s.Sign(set, "*.apps.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	sig := sigs[0].(*dns.RRSIG)
	if sig.Labels != 3 || sig.Hdr.Name != "x.apps.example.test." {
		t.Fatalf("RRSIG %s: want labels 3 and the query's owner", sig)
	}
	if _, err := VerifyRRset(set, []*dns.RRSIG{sig}, ks.Public(), "example.test.", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRRsetSaysWhy(t *testing.T) {
	ks, _ := Generate("example.test.", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	c := &clock{t: time.Now()}
	s := NewSigner(ks, SignerOptions{Validity: 48 * time.Hour, Refresh: time.Hour, Backdate: time.Hour}, c.now)
	set := []dns.RR{mustRR(t, "www.example.test. 300 IN A 127.0.10.1")}
	sigs, _, _ := s.Sign(set, "")
	sig := sigs[0].(*dns.RRSIG)
	other, _ := Generate("example.test.", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	tampered := []dns.RR{mustRR(t, "www.example.test. 300 IN A 127.0.66.6")}
	for _, tc := range []struct {
		name string
		rrs  []dns.RR
		sigs []*dns.RRSIG
		keys []*dns.DNSKEY
		at   time.Time
		code uint16
	}{
		{"no signature", set, nil, ks.Public(), c.t, dns.ExtendedErrorCodeRRSIGsMissing},
		{"unknown key", set, []*dns.RRSIG{sig}, other.Public(), c.t, dns.ExtendedErrorCodeDNSKEYMissing},
		{"expired", set, []*dns.RRSIG{sig}, ks.Public(), c.t.Add(72 * time.Hour), dns.ExtendedErrorCodeSignatureExpired},
		{"not yet valid", set, []*dns.RRSIG{sig}, ks.Public(), c.t.Add(-2 * time.Hour), dns.ExtendedErrorCodeSignatureNotYetValid},
		{"tampered", tampered, []*dns.RRSIG{sig}, ks.Public(), c.t, dns.ExtendedErrorCodeDNSBogus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyRRset(tc.rrs, tc.sigs, tc.keys, "example.test.", tc.at)
			b, ok := IsBogus(err)
			if !ok || b.Code != tc.code {
				t.Fatalf("error %v, want bogus with EDE %d", err, tc.code)
			}
		})
	}
}

// edKey is an Ed25519 key of example.test. made from a fixed seed.
func edKey(flags uint16, seed uint32) *Key {
	b := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint32(b, seed)
	priv := ed25519.NewKeyFromSeed(b)
	pub := priv.Public().(ed25519.PublicKey)
	rr := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: dns.ED25519, PublicKey: base64.StdEncoding.EncodeToString(pub)}
	return &Key{DNSKEY: rr, Signer: priv}
}

// Seeds of a KSK and a ZSK with one key tag, found by trying seeds in turn
// (a key tag is a 16-bit checksum: a zone's two random keys share one
// about once in 65536 zones, which made signed-answer tests fail now and
// then).
const collidingKSKSeed, collidingZSKSeed = 348, 467

// collidingKeys are a KSK and a ZSK of example.test. with one key tag.
func collidingKeys(t *testing.T) *Keys {
	t.Helper()
	ks := &Keys{Origin: "example.test.", List: []*Key{edKey(dns.ZONE|dns.SEP, collidingKSKSeed), edKey(dns.ZONE, collidingZSKSeed)}}
	if a, b := ks.List[0].DNSKEY.KeyTag(), ks.List[1].DNSKEY.KeyTag(); a != b {
		t.Fatalf("the KSK's key tag is %d, the ZSK's %d: want one tag", a, b)
	}
	return ks
}

// A signature is checked against every key with its key tag (RFC 4034
// Appendix B), not only the first, and no more than maxSignatureChecks
// of them.
func TestVerifyTriesEveryKeyWithTheTag(t *testing.T) {
	ks := collidingKeys(t)
	ksk, zsk := ks.List[0].DNSKEY, ks.List[1].DNSKEY
	now := time.Now()
	s := NewSigner(ks, DefaultSignerOptions(), func() time.Time { return now })
	a := []dns.RR{mustRR(t, "www.example.test. 300 IN A 127.0.10.1")}
	asigs, _, err := s.Sign(a, "")
	if err != nil {
		t.Fatal(err)
	}
	keySet := ks.DNSKEYs()
	ksigs, _, err := s.Sign(keySet, "")
	if err != nil {
		t.Fatal(err)
	}
	flood := []*dns.DNSKEY{}
	for range maxSignatureChecks {
		flood = append(flood, ksk)
	}
	for _, tc := range []struct {
		name string
		rrs  []dns.RR
		sigs []dns.RR
		keys []*dns.DNSKEY
		ok   bool
	}{
		{"ZSK's signature, the KSK listed first", a, asigs, []*dns.DNSKEY{ksk, zsk}, true},
		{"KSK's signature, the ZSK listed first", keySet, ksigs, []*dns.DNSKEY{zsk, ksk}, true},
		{"more keys with the tag than checks allowed", a, asigs, append(flood, zsk), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.rrs[0].Header()
			_, err := VerifyRRset(tc.rrs, Sigs(tc.sigs, h.Name, h.Rrtype), tc.keys, "example.test.", now)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if b, bogus := IsBogus(err); !tc.ok && (!bogus || !strings.Contains(b.Reason, "checks")) {
				t.Fatalf("error %v, want bogus: no signature verified in %d checks", err, maxSignatureChecks)
			}
		})
	}
}

func TestKeysSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	ks, created, err := LoadOrGenerate(dir, ".", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	again, created, err := LoadOrGenerate(dir, ".", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	if err != nil || created {
		t.Fatalf("second start: created %v (want the saved keys), %v", created, err)
	}
	if len(again.List) != 2 {
		t.Fatalf("%d keys loaded, want 2", len(again.List))
	}
	s := NewSigner(again, DefaultSignerOptions(), nil)
	set := []dns.RR{mustRR(t, ". 86400 IN NS a.root-servers.test.")}
	sigs, _, err := s.Sign(set, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRRset(set, Sigs(sigs, ".", dns.TypeNS), ks.Public(), ".", time.Now()); err != nil {
		t.Fatalf("a loaded key's signature does not verify with the saved public key: %v", err)
	}
}

// A zone's keys each have their own key tag (it names their files): a
// new key whose tag an earlier key has is made again, and keys that share
// one are not saved over each other.
func TestKeysHaveTheirOwnTags(t *testing.T) {
	seeds := []uint32{collidingKSKSeed, collidingZSKSeed, 1}
	made := 0
	ks, err := generate("example.test.", KeyOptions{Algorithm: dns.ED25519}, func(_ string, flags uint16, _ KeyOptions) (*Key, error) {
		made++
		return edKey(flags, seeds[made-1]), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := ks.List[0].DNSKEY.KeyTag(), ks.List[1].DNSKEY.KeyTag(); a == b || made != 3 {
		t.Errorf("key tags %d and %d after %d keys made; want the ZSK whose tag the KSK has made again", a, b, made)
	}
	dir := t.TempDir()
	if err := collidingKeys(t).Save(dir); err == nil {
		loaded, err := Load(dir, "example.test.", dns.ED25519)
		t.Fatalf("two keys with one tag saved (loaded again: %v, %v); want an error", loaded, err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("%d files written for keys that were not saved", len(files))
	}
}

func TestAnchorTextParses(t *testing.T) {
	ks, _ := Generate(".", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	ds, err := ParseAnchor([]byte(AnchorText(ks)))
	if err != nil {
		t.Fatal(err)
	}
	want := ks.DS(0)[0].(*dns.DS)
	if len(ds) != 1 || ds[0].KeyTag != want.KeyTag || !dnsEqualFold(ds[0].Digest, want.Digest) {
		t.Fatalf("parsed %v, want %v", ds, want)
	}
	zoneForm, err := ParseAnchor([]byte(ks.DNSKEYs()[0].String() + "\n"))
	if err != nil || len(zoneForm) != 1 || zoneForm[0].KeyTag != want.KeyTag {
		t.Fatalf("a DNSKEY line: %v, %v", zoneForm, err)
	}
}

func dnsEqualFold(a, b string) bool { return dns.CanonicalName(a+".") == dns.CanonicalName(b+".") }

func TestProofs(t *testing.T) {
	const ttl = 300
	nx := []*dns.NSEC{CoverNSEC("nope.example.test.", ttl), CoverNSEC("*.example.test.", ttl)}
	if err := ProveNXDomain(nx, "nope.example.test."); err != nil {
		t.Errorf("NXDOMAIN: %v", err)
	}
	if err := ProveNXDomain(nx, "deeper.nope.example.test."); err != nil {
		t.Errorf("NXDOMAIN below: %v", err)
	}
	if err := ProveNXDomain(nx[:1], "nope.example.test."); err == nil {
		t.Errorf("NXDOMAIN without the wildcard's denial passed")
	}
	if err := ProveNXDomain(nx, "www.example.test."); err == nil {
		t.Errorf("NXDOMAIN of a name the NSECs do not cover passed")
	}
	nodata := []*dns.NSEC{MatchNSEC("www.example.test.", []uint16{dns.TypeA, dns.TypeAAAA}, ttl)}
	if err := ProveNoData(nodata, "www.example.test.", dns.TypeMX); err != nil {
		t.Errorf("NODATA: %v", err)
	}
	if err := ProveNoData(nodata, "www.example.test.", dns.TypeA); err == nil {
		t.Errorf("NODATA for a type the NSEC lists passed")
	}
	cut := []*dns.NSEC{MatchNSEC("sub.example.test.", []uint16{dns.TypeNS}, ttl)}
	if err := ProveNoDS(cut, "sub.example.test."); err != nil {
		t.Errorf("insecure delegation: %v", err)
	}
	withDS := []*dns.NSEC{MatchNSEC("sub.example.test.", []uint16{dns.TypeNS, dns.TypeDS}, ttl)}
	if err := ProveNoDS(withDS, "sub.example.test."); err == nil {
		t.Errorf("a DS-less referral whose NSEC lists DS passed")
	}
	if err := ProveNoDS(nil, "sub.example.test."); err == nil {
		t.Errorf("a DS-less referral without NSEC passed")
	}
}
