package resolver

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/auth"
	"netsim/dns/dnssec"
	"netsim/dns/dnstest"
	"netsim/dns/server"
	"netsim/zones"
)

// signedWorld is the demo hierarchy, signed (but the zones in skip), in
// memory; tweak may break it before it serves (change a zone, a signer).
func signedWorld(t testing.TB, skip []string, tweak func(s *dnstest.Signed)) (*world, []*dns.DS, *dnstest.Signed) {
	t.Helper()
	s := dnstest.Sign(t, dnstest.Embedded(t), skip...)
	if tweak != nil {
		tweak(s)
	}
	w := memWorldZones(map[string][]*zones.Zone{
		"127.0.1.1": {s.Zones["."]},
		"127.0.2.1": {s.Zones["test."]},
		"127.0.3.1": {s.Zones["example.test."]},
		"127.0.3.2": {s.Zones["example.test."]},
		"127.0.4.1": {s.Zones["sub.example.test."]},
	})
	for _, f := range w.servers {
		f.h = server.NewHandler(f.addr.String(), auth.NewSet(f.h.Zones().Zones()).WithSigners(s.Signers), nil, server.NewMetrics(nil))
	}
	return w, s.Anchor(), s
}

func validating(t *testing.T, w *world, anchor []*dns.DS) *Resolver {
	t.Helper()
	return newMemResolver(t, w, "127.0.1.1", nil, WithTrustAnchor(anchor))
}

func ask(r *Resolver, name string, qtype uint16, do, ad, cd bool) *dns.Msg {
	q := query(name, qtype)
	if do {
		q.SetEdns0(1232, true)
	}
	q.AuthenticatedData, q.CheckingDisabled = ad, cd
	return r.Answer(context.Background(), q, loopback)
}

func edeOf(m *dns.Msg) (uint16, string, bool) {
	for _, rr := range m.Extra {
		if opt, ok := rr.(*dns.OPT); ok {
			for _, o := range opt.Option {
				if e, ok := o.(*dns.EDNS0_EDE); ok {
					return e.InfoCode, e.ExtraText, true
				}
			}
		}
	}
	return 0, "", false
}

func hasSig(m *dns.Msg) bool {
	for _, rr := range append(m.Answer, m.Ns...) {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			return true
		}
	}
	return false
}

func TestValidationSecure(t *testing.T) {
	w, anchor, _ := signedWorld(t, nil, nil)
	r := validating(t, w, anchor)
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"www.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"nope.example.test.", dns.TypeA, dns.RcodeNameError},
		{"www.example.test.", dns.TypeMX, dns.RcodeSuccess},
		{"lab.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"foo.apps.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"foo.apps.example.test.", dns.TypeMX, dns.RcodeSuccess},
		{"alias.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"www.sub.example.test.", dns.TypeA, dns.RcodeSuccess},
		{"example.test.", dns.TypeDNSKEY, dns.RcodeSuccess},
		{"example.test.", dns.TypeDS, dns.RcodeSuccess},
		{"ext.example.test.", dns.TypeA, dns.RcodeNameError},
	} {
		t.Run(tc.name+dns.TypeToString[tc.qtype], func(t *testing.T) {
			for _, round := range []string{"resolved", "cached"} {
				m := ask(r, tc.name, tc.qtype, true, false, false)
				if m.Rcode != tc.rcode || !m.AuthenticatedData {
					code, text, _ := edeOf(m)
					t.Fatalf("%s: %s ad=%v (EDE %d %s), want %s with ad", round, dns.RcodeToString[m.Rcode], m.AuthenticatedData, code, text, dns.RcodeToString[tc.rcode])
				}
				if !hasSig(m) {
					t.Fatalf("%s: a DO query got no RRSIG", round)
				}
			}
		})
	}
	t.Run("a wildcard answer carries its NSEC proof to the client", func(t *testing.T) {
		for _, round := range []string{"resolved", "cached"} {
			m := ask(r, "bar.apps.example.test.", dns.TypeA, true, false, false)
			var nsecs []*dns.NSEC
			for _, rr := range m.Ns {
				if n, ok := rr.(*dns.NSEC); ok {
					nsecs = append(nsecs, n)
				}
			}
			if err := dnssec.ProveWildcard(nsecs, "bar.apps.example.test."); err != nil || len(dnssec.Sigs(m.Ns, nsecs[0].Hdr.Name, dns.TypeNSEC)) == 0 {
				t.Fatalf("%s: %v (authority %v): a validator downstream (delv) cannot check it", round, err, m.Ns)
			}
		}
	})
	t.Run("AD only when asked, RRSIGs only with DO", func(t *testing.T) {
		if m := ask(r, "www.example.test.", dns.TypeA, false, false, false); m.AuthenticatedData || hasSig(m) {
			t.Errorf("plain query: ad=%v, signatures %v; want neither", m.AuthenticatedData, hasSig(m))
		}
		if m := ask(r, "www.example.test.", dns.TypeA, false, true, false); !m.AuthenticatedData || hasSig(m) {
			t.Errorf("AD query: ad=%v, signatures %v; want ad and no signatures", m.AuthenticatedData, hasSig(m))
		}
	})
	t.Run("validated state cached with the keys", func(t *testing.T) {
		before := w.total()
		for i := 0; i < 20; i++ {
			ask(r, "www.example.test.", dns.TypeA, true, false, false)
			ask(r, "nope.example.test.", dns.TypeA, true, false, false)
		}
		if n := w.total() - before; n != 0 {
			t.Fatalf("%d upstream queries for cached validated answers, want 0", n)
		}
	})
}

func TestValidationInsecureDelegation(t *testing.T) {
	w, anchor, _ := signedWorld(t, []string{"sub.example.test."}, nil)
	r := validating(t, w, anchor)
	m := ask(r, "www.sub.example.test.", dns.TypeA, true, false, false)
	if m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || len(m.Answer) == 0 {
		t.Fatalf("an unsigned child below a proved DS-less delegation: %s ad=%v %v; want the answer, insecure", dns.RcodeToString[m.Rcode], m.AuthenticatedData, m.Answer)
	}
	if m := ask(r, "www.example.test.", dns.TypeA, true, false, false); !m.AuthenticatedData {
		t.Fatalf("the signed parent is no longer secure")
	}
}

func TestValidationBogus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(t *testing.T, s *dnstest.Signed)
		hook  func(w *world)
		qname string
		code  uint16
	}{
		{"bad DS in the parent", func(t *testing.T, s *dnstest.Signed) {
			z := s.Zones["test."]
			bad := dns.Copy(z.RRset("example.test.", dns.TypeDS)[0]).(*dns.DS)
			bad.Digest = strings.Repeat("AB", 32)
			nz, err := z.Apply(zones.Edit{Op: zones.Replace, Name: "example.test.", Type: dns.TypeDS, RRs: []dns.RR{bad}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			s.Zones["test."] = nz
		}, nil, "www.example.test.", dns.ExtendedErrorCodeDNSKEYMissing},
		{"missing DNSKEY", func(t *testing.T, s *dnstest.Signed) {
			z := s.Zones["example.test."]
			nz, err := z.Apply(zones.Edit{Op: zones.Remove, Name: "example.test.", Type: dns.TypeDNSKEY}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			s.Zones["example.test."] = nz
		}, nil, "www.example.test.", dns.ExtendedErrorCodeDNSKEYMissing},
		{"expired signatures", func(t *testing.T, s *dnstest.Signed) {
			s.Signers["example.test."].SetClockOffset(-30 * 24 * time.Hour)
		}, nil, "www.example.test.", dns.ExtendedErrorCodeSignatureExpired},
		{"forged address", nil, func(w *world) {
			w.servers["127.0.3.1"].setHook(forge(w.servers["127.0.3.1"]))
			w.servers["127.0.3.2"].setHook(forge(w.servers["127.0.3.2"]))
		}, "www.example.test.", dns.ExtendedErrorCodeDNSBogus},
		{"NXDOMAIN without proof", nil, func(w *world) {
			w.servers["127.0.3.1"].setHook(stripNSEC(w.servers["127.0.3.1"]))
			w.servers["127.0.3.2"].setHook(stripNSEC(w.servers["127.0.3.2"]))
		}, "nope.example.test.", dns.ExtendedErrorCodeNSECMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tweak func(*dnstest.Signed)
			if tc.tweak != nil {
				tweak = func(s *dnstest.Signed) { tc.tweak(t, s) }
			}
			w, anchor, _ := signedWorld(t, nil, tweak)
			if tc.hook != nil {
				tc.hook(w)
			}
			r := validating(t, w, anchor)
			m := ask(r, tc.qname, dns.TypeA, true, false, false)
			code, text, ok := edeOf(m)
			if m.Rcode != dns.RcodeServerFailure || !ok || code != tc.code {
				t.Fatalf("%s ad=%v EDE %d %q; want SERVFAIL with EDE %d", dns.RcodeToString[m.Rcode], m.AuthenticatedData, code, text, tc.code)
			}
			// dig +cd: the data, unvalidated, and nothing of it cached
			cd := ask(r, tc.qname, dns.TypeA, true, false, true)
			if cd.Rcode == dns.RcodeServerFailure || cd.AuthenticatedData {
				t.Fatalf("with CD: %s ad=%v; want the data without ad", dns.RcodeToString[cd.Rcode], cd.AuthenticatedData)
			}
			if _, hit := r.cache.Get(cacheKey(tc.qname, dns.TypeA)); hit {
				t.Fatalf("bogus data answered with CD was cached")
			}
		})
	}
}

// forge answers from the zones with www's address changed, its
// signature kept: what an on-path attacker would send.
func forge(f *fake) hook {
	return func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
		m := serveDirect(f, req)
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				a.A = netip.MustParseAddr("127.0.66.6").AsSlice()
			}
		}
		return m, false
	}
}

// stripNSEC answers from the zones, without the NSEC records.
func stripNSEC(f *fake) hook {
	return func(req *dns.Msg, tcp bool) (*dns.Msg, bool) {
		m := serveDirect(f, req)
		var keep []dns.RR
		for _, rr := range m.Ns {
			if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeNSEC {
				continue
			}
			keep = append(keep, rr)
		}
		m.Ns = keep
		return m, false
	}
}

func serveDirect(f *fake, req *dns.Msg) *dns.Msg {
	pkt, _ := req.Pack()
	out := f.h.ServePacket(context.Background(), pkt, netip.MustParseAddr("127.0.0.1"), server.UDP, make([]byte, 0, 65535))
	m := new(dns.Msg)
	_ = m.Unpack(out)
	return m
}

func TestValidatedTTLClampedBySignatureExpiry(t *testing.T) {
	w, anchor, _ := signedWorld(t, nil, clampSigner(90*time.Second))
	r := validating(t, w, anchor)
	m := ask(r, "www.example.test.", dns.TypeA, true, false, false)
	if !m.AuthenticatedData || len(m.Answer) == 0 {
		t.Fatalf("%s ad=%v", dns.RcodeToString[m.Rcode], m.AuthenticatedData)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl > 90 {
			t.Fatalf("%s: TTL %d outlives its signature (90 s left)", rr, rr.Header().Ttl)
		}
	}
}

// clampSigner gives example.test. a signer whose clock is behind: its
// signatures expire left from now.
func clampSigner(left time.Duration) func(s *dnstest.Signed) {
	return func(s *dnstest.Signed) {
		sg := dnssec.NewSigner(s.Keys["example.test."], dnssec.SignerOptions{Validity: time.Hour, Refresh: time.Minute, Backdate: time.Hour}, nil)
		sg.SetClockOffset(-(time.Hour - left))
		s.Signers["example.test."] = sg
	}
}

// dnsd trace shows the chain: each zone's keys (checked against the DS
// above) and the signature over the answer.
func TestTraceShowsTheChain(t *testing.T) {
	w, anchor, _ := signedWorld(t, nil, nil)
	r := validating(t, w, anchor)
	res, err := r.Trace(context.Background(), "www.example.test", dns.TypeA)
	if err != nil || res.Rcode != "NOERROR" {
		t.Fatalf("%v %+v", err, res)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"dnssec: .: DNSKEY (", "trust anchor", "dnssec: test.: DNSKEY (", "dnssec: example.test.: DNSKEY (", "dnssec: www.example.test. A: RRSIG by key", "dnssec: www.example.test. A from example.test.: secure"} {
		if !strings.Contains(notes, want) {
			t.Errorf("trace notes lack %q:\n%s", want, notes)
		}
	}
}
