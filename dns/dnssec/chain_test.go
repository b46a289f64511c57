package dnssec

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/zones"
)

// signedDemo is the embedded example.test. with its keys published.
func signedDemo(t testing.TB, p *NSEC3Params) (*zones.Zone, *Signer) {
	t.Helper()
	zs, err := zones.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(zs, func(z *zones.Zone) bool { return z.Origin == "example.test." })
	ks, err := Generate("example.test.", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*Keys{"example.test.": ks}
	pub, err := Publish(zs[i:i+1], keys, 3600, time.Now())
	if err == nil {
		pub, err = PublishDenial(pub, keys, p, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	return pub[0], NewSigner(ks, SignerOptions{Validity: 10 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, Backdate: time.Hour, NSEC3: p}, nil)
}

// checkSigned checks a zone signed whole as a zone verifier does: every
// RRset but a delegation's NS and glue signed by the zone's keys, and a
// complete denial chain over the names of z (NSEC in canonical order, or
// NSEC3 in hash order, empty non-terminals included), each link listing
// exactly the types at its name.
func checkSigned(t *testing.T, sz *SignedZone, z *zones.Zone, ks *Keys, p *NSEC3Params) {
	t.Helper()
	now := time.Now()
	type set struct{ name, typ string }
	sets := map[set][]dns.RR{}
	sigs := map[set][]*dns.RRSIG{}
	typesAt := map[string][]uint16{}
	for _, rr := range sz.RRs {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if s, ok := rr.(*dns.RRSIG); ok {
			k := set{name, dns.TypeToString[s.TypeCovered]}
			sigs[k] = append(sigs[k], s)
			typesAt[name] = append(typesAt[name], dns.TypeRRSIG)
			continue
		}
		k := set{name, dns.TypeToString[h.Rrtype]}
		sets[k] = append(sets[k], rr)
		typesAt[name] = append(typesAt[name], h.Rrtype)
	}
	for k, rrs := range sets {
		unsigned := z.Occluded(k.name) || k.typ == "NS" && k.name != z.Origin
		if unsigned {
			if len(sigs[k]) > 0 {
				t.Errorf("%s %s is not authoritative data, yet signed", k.name, k.typ)
			}
			continue
		}
		if _, err := VerifyRRset(rrs, sigs[k], ks.Public(), z.Origin, now); err != nil {
			t.Errorf("%s %s: %v", k.name, k.typ, err)
		}
	}
	// the chain
	var want []string // names that must have a link, in chain order
	for _, name := range z.Names() {
		n := z.Node(name)
		if z.Occluded(name) || n.Empty() && p == nil {
			continue
		}
		if p != nil {
			name = strings.ToLower(p.Hash(name)) + "." + z.Origin
		}
		want = append(want, name)
	}
	if p != nil {
		slices.Sort(want)
	}
	var got []string
	for _, rr := range sz.RRs {
		switch n := rr.(type) {
		case *dns.NSEC:
			got = append(got, n.Hdr.Name)
		case *dns.NSEC3:
			got = append(got, n.Hdr.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("chain links at\n%v\nwant\n%v", got, want)
	}
	for i, rr := range sz.RRs {
		switch n := rr.(type) {
		case *dns.NSEC:
			j := slices.Index(want, n.Hdr.Name)
			if next := want[(j+1)%len(want)]; n.NextDomain != next {
				t.Errorf("NSEC %s -> %s, want -> %s", n.Hdr.Name, n.NextDomain, next)
			}
			have := slices.Clone(typesAt[n.Hdr.Name])
			if nd := z.Node(n.Hdr.Name); nd.Cut { // glue at a cut is not the zone's
				have = slices.DeleteFunc(have, func(t uint16) bool { return t == dns.TypeA || t == dns.TypeAAAA })
			}
			slices.Sort(have)
			if have = slices.Compact(have); !slices.Equal(n.TypeBitMap, have) {
				t.Errorf("NSEC %s lists %v, the name holds %v", n.Hdr.Name, n.TypeBitMap, have)
			}
		case *dns.NSEC3:
			j := slices.Index(want, n.Hdr.Name)
			next := want[(j+1)%len(want)]
			if !strings.EqualFold(n.NextDomain+"."+z.Origin, next) {
				t.Errorf("NSEC3 %s -> %s, want -> %s", n.Hdr.Name, n.NextDomain, next)
			}
			if n.Iterations != p.Iterations || !strings.EqualFold(n.Salt, p.Salt) || n.Hash != dns.SHA1 || n.Flags != 0 {
				t.Errorf("NSEC3 %s: hash %d flags %d iterations %d salt %q, want 1 0 %d %q", n.Hdr.Name, n.Hash, n.Flags, n.Iterations, n.Salt, p.Iterations, p.Salt)
			}
		default:
			continue
		}
		if len(sigs[set{dns.CanonicalName(rr.Header().Name), dns.TypeToString[rr.Header().Rrtype]}]) == 0 {
			t.Errorf("record %d, %s, is not signed", i, rr)
		}
	}
}

func TestSignZoneNSECChain(t *testing.T) {
	z, s := signedDemo(t, nil)
	sz, built, err := s.SignZone(z)
	if err != nil || !built {
		t.Fatalf("built %v, err %v", built, err)
	}
	checkSigned(t, sz, z, s.Keys(), nil)
	// the names a validator needs
	for _, want := range []string{
		"example.test.\t300\tIN\tNSEC\t_http._tcp.example.test. A NS SOA MX TXT RRSIG NSEC DNSKEY CAA",
		"sub.example.test.\t300\tIN\tNSEC\tweb.example.test. NS RRSIG NSEC", // no DS: glue ns1.sub skipped
		"*.apps.example.test.\t300\tIN\tNSEC\tx.deep.apps.example.test. A TXT RRSIG NSEC",
		"www.example.test.\t300\tIN\tNSEC\texample.test. A AAAA RRSIG NSEC", // the last link: back to the apex
	} {
		if !slices.ContainsFunc(sz.RRs, func(rr dns.RR) bool { return rr.String() == want }) {
			t.Errorf("no record %q", want)
		}
	}
}

func TestSignZoneNSEC3Chain(t *testing.T) {
	for _, p := range []NSEC3Params{{}, {Iterations: 5, Salt: "CAFE"}} {
		t.Run(fmt.Sprintf("iterations %d salt %q", p.Iterations, p.Salt), func(t *testing.T) {
			z, s := signedDemo(t, &p)
			sz, _, err := s.SignZone(z)
			if err != nil {
				t.Fatal(err)
			}
			checkSigned(t, sz, z, s.Keys(), &p)
			if got := z.RRset(z.Origin, dns.TypeNSEC3PARAM); len(got) != 1 || got[0].(*dns.NSEC3PARAM).Salt != p.Salt {
				t.Fatalf("NSEC3PARAM at the apex: %v", got)
			}
			for _, rr := range sz.RRs {
				if _, ok := rr.(*dns.NSEC); ok {
					t.Fatalf("an NSEC3 zone holds an NSEC: %s", rr)
				}
			}
		})
	}
}

func TestSignZoneOncePerVersion(t *testing.T) {
	z, s := signedDemo(t, nil)
	c := &clock{t: time.Now()}
	s.now = c.now
	first, built, err := s.SignZone(z)
	if err != nil || !built {
		t.Fatalf("built %v, err %v", built, err)
	}
	made, _ := s.Stats()
	again, built, err := s.SignZone(z)
	if err != nil || built || again != first {
		t.Fatalf("the same version was signed again (built %v, err %v)", built, err)
	}
	if m, _ := s.Stats(); m != made {
		t.Fatalf("%d signatures made for a second transfer of the same version, want none", m-made)
	}
	// a new version: a new chain (its unchanged RRsets keep their signatures)
	nz, err := z.Apply(zones.Edit{Op: zones.Add, Name: "new.example.test.", Type: dns.TypeA, RRs: []dns.RR{mustRR(t, "new.example.test. 300 IN A 127.0.0.9")}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	next, built, err := s.SignZone(nz)
	if err != nil || !built {
		t.Fatalf("a new version: built %v, err %v", built, err)
	}
	checkSigned(t, next, nz, s.Keys(), nil)
	if m, _ := s.Stats(); m-made > 6 { // new A, its NSEC, the NSEC before it, the SOA, the apex NSEC...
		t.Errorf("%d signatures made for a one-record change, want the few it touches", m-made)
	}
	// past the refresh time of its first signature: signed again
	c.t = next.Refresh.Add(time.Second)
	if _, built, _ := s.SignZone(nz); !built {
		t.Fatal("a chain due for refresh was served from the cache")
	}
}

func TestParseNSEC3Params(t *testing.T) {
	for _, tc := range []struct {
		iter int
		salt string
		want string // error text, "" none
	}{
		{0, "", ""}, {0, "-", ""}, {10, "aabb", ""},
		{51, "", "51 iterations"}, {-1, "", "-1 iterations"}, {0, "xyz", `salt "xyz"`}, {0, strings.Repeat("ab", 256), "256 bytes"},
	} {
		_, err := ParseNSEC3Params(tc.iter, tc.salt)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d %q: error %v, want %q", tc.iter, tc.salt, err, tc.want)
		}
	}
}

// BenchmarkSignZone10k: a zone of 10,000 names signed whole with a cold
// signature cache (what the first transfer of a version costs).
func BenchmarkSignZone10k(b *testing.B) {
	for _, denial := range []string{"nsec", "nsec3"} {
		b.Run(denial, func(b *testing.B) {
			var p *NSEC3Params
			if denial == "nsec3" {
				p = &NSEC3Params{}
			}
			var text strings.Builder
			text.WriteString("$ORIGIN big.test.\n@ 3600 IN SOA ns hostmaster 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.1\n")
			for i := range 10000 {
				fmt.Fprintf(&text, "h%d 300 IN A 127.1.%d.%d\n", i, i/250, i%250+1)
			}
			z, err := zones.Parse(strings.NewReader(text.String()), "big.test.", "bench", false)
			if err != nil {
				b.Fatal(err)
			}
			ks, _ := Generate("big.test.", KeyOptions{Algorithm: dns.ECDSAP256SHA256})
			keys := map[string]*Keys{"big.test.": ks}
			pub, _ := Publish([]*zones.Zone{z}, keys, 3600, time.Now())
			pub, _ = PublishDenial(pub, keys, p, time.Now())
			opt := SignerOptions{Validity: 10 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, NSEC3: p}
			b.Run("cold", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sz, _, err := NewSigner(ks, opt, nil).SignZone(pub[0])
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(len(sz.RRs)), "records")
				}
			})
			// the next version after a one-name change: the unchanged
			// RRsets' signatures come from the cache
			b.Run("one change", func(b *testing.B) {
				s := NewSigner(ks, opt, nil)
				if _, _, err := s.SignZone(pub[0]); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					name := fmt.Sprintf("new%d.big.test.", i)
					nz, err := pub[0].Apply(zones.Edit{Op: zones.Add, Name: name, Type: dns.TypeA, RRs: []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{127, 0, 0, 1}}}}, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := s.SignZone(nz); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
