package ecs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func opt(family uint16, source, scope uint8, addr string) *dns.EDNS0_SUBNET {
	o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, SourceScope: scope}
	if addr != "" {
		o.Address = net.ParseIP(addr)
	}
	return o
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      *dns.EDNS0_SUBNET
		want    string // prefix, when no error
		optOut  bool
		wantErr error
	}{
		{"v4 /24", opt(1, 24, 0, "81.2.69.0"), "81.2.69.0/24", false, nil},
		{"v4 /32", opt(1, 32, 0, "81.2.69.142"), "81.2.69.142/32", false, nil},
		{"v4 /0 opt-out", opt(1, 0, 0, "0.0.0.0"), "0.0.0.0/0", true, nil},
		{"v4 /0 nil address", opt(1, 0, 0, ""), "0.0.0.0/0", true, nil},
		{"family 0 /0 (dig)", opt(0, 0, 0, "0.0.0.0"), "0.0.0.0/0", true, nil},
		{"v6 /56", opt(2, 56, 0, "2001:218:0:ab00::"), "2001:218:0:ab00::/56", false, nil},
		{"v6 /128", opt(2, 128, 0, "2001:218::1"), "2001:218::1/128", false, nil},
		{"v6 /0", opt(2, 0, 0, "::"), "::/0", true, nil},
		{"v4 bits beyond source", opt(1, 24, 0, "81.2.69.142"), "", false, ErrAddressBits},
		{"v4 one bit beyond /31", opt(1, 31, 0, "81.2.69.143"), "", false, ErrAddressBits},
		{"v4 /0 with address", opt(1, 0, 0, "81.2.69.142"), "", false, ErrAddressBits},
		{"v6 bits beyond source", opt(2, 48, 0, "2001:218:0:1::"), "", false, ErrAddressBits},
		{"v4 source /33", opt(1, 33, 0, "81.2.69.142"), "", false, ErrSourcePrefix},
		{"v6 source /129", opt(2, 129, 0, "2001:218::"), "", false, ErrSourcePrefix},
		{"scope set in query", opt(1, 24, 24, "81.2.69.0"), "", false, ErrScopeInQuery},
		{"family 3", opt(3, 24, 0, "81.2.69.0"), "", false, ErrFamily},
		{"family 0 with source", opt(0, 24, 0, "81.2.69.0"), "", false, ErrFamily},
		{"family 1 with v6 address", opt(1, 24, 0, "2001:218::"), "", false, ErrFamily},
		{"family 2 with 4-byte address", &dns.EDNS0_SUBNET{Family: 2, SourceNetmask: 24, Address: net.IP{81, 2, 69, 0}}, "", false, ErrAddressLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := checkParse(t, "Parse", func() (Subnet, error) { return Parse(tt.in) }, tt.want, tt.wantErr)
			if ok && s.OptOut() != tt.optOut {
				t.Errorf("OptOut = %v, want %v", s.OptOut(), tt.optOut)
			}
		})
	}
}

// checkParse runs parse and checks its error or its prefix; ok says that
// it parsed as wanted.
func checkParse(t *testing.T, name string, parse func() (Subnet, error), want string, wantErr error) (Subnet, bool) {
	t.Helper()
	s, err := parse()
	switch {
	case wantErr != nil:
		if !errors.Is(err, wantErr) {
			t.Fatalf("%s error = %v, want %v", name, err, wantErr)
		}
		return s, false
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	case s.Prefix.String() != want:
		t.Errorf("%s prefix = %s, want %s", name, s.Prefix, want)
	}
	return s, true
}

func TestParseWire(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"v4 /24 three octets", []byte{0, 1, 24, 0, 81, 2, 69}, "81.2.69.0/24", nil},
		{"v4 /25 four octets", []byte{0, 1, 25, 0, 81, 2, 69, 128}, "81.2.69.128/25", nil},
		{"v4 /0 no octets", []byte{0, 1, 0, 0}, "0.0.0.0/0", nil},
		{"v6 /56 seven octets", []byte{0, 2, 56, 0, 0x20, 0x01, 0x02, 0x18, 0, 0, 0xab}, "2001:218:0:ab00::/56", nil},
		{"family 0", []byte{0, 0, 0, 0}, "0.0.0.0/0", nil},
		{"v4 /24 with four octets", []byte{0, 1, 24, 0, 81, 2, 69, 0}, "", ErrAddressLength},
		{"v4 /24 with two octets", []byte{0, 1, 24, 0, 81, 2}, "", ErrAddressLength},
		{"v4 /23 last bit set", []byte{0, 1, 23, 0, 81, 2, 69}, "", ErrAddressBits},
		{"v4 /33", []byte{0, 1, 33, 0, 81, 2, 69, 142, 0}, "", ErrSourcePrefix},
		{"scope in query", []byte{0, 1, 24, 16, 81, 2, 69}, "", ErrScopeInQuery},
		{"family 7", []byte{0, 7, 24, 0, 81, 2, 69}, "", ErrFamily},
		{"short", []byte{0, 1, 24}, "", ErrAddressLength},
		{"empty", nil, "", ErrAddressLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParse(t, "ParseWire", func() (Subnet, error) { return ParseWire(tt.in) }, tt.want, tt.wantErr)
		})
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		network string
		want    uint8
	}{
		// The answer's network decides the scope, whatever the source.
		{"source /32, db /31 (MaxMind 81.2.69.142/31)", "81.2.69.142/32", "81.2.69.142/31", 31},
		{"source /24, db /16: cacheable for the /16", "81.2.69.0/24", "81.2.0.0/16", 16},
		{"source /24, db /27: longer than source (RFC 7871 7.2.1)", "81.2.69.160/24", "81.2.69.160/27", 27},
		{"source /56, db /32", "2001:218::/56", "2001:218::/32", 32},
		{"opt-out gives 0", "0.0.0.0/0", "81.2.0.0/16", 0},
		{"invalid network gives 0", "81.2.69.0/24", "", 0},
		{"answer for everyone", "81.2.69.0/24", "0.0.0.0/0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := netip.MustParsePrefix(tt.subnet)
			fam := uint16(FamilyIPv4)
			if p.Addr().Is6() {
				fam = FamilyIPv6
			}
			var n netip.Prefix
			if tt.network != "" {
				n = netip.MustParsePrefix(tt.network)
			}
			if got := Scope(Subnet{Family: fam, Prefix: p}, n); got != tt.want {
				t.Errorf("Scope = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestReplyEchoesQuery(t *testing.T) {
	q := opt(1, 24, 0, "81.2.69.0")
	r := Reply(q, 16)
	if r.Family != 1 || r.SourceNetmask != 24 || r.SourceScope != 16 || !r.Address.Equal(q.Address) {
		t.Fatalf("reply = %v, want family 1 source 24 scope 16 address %v", r, q.Address)
	}
	if q.SourceScope != 0 {
		t.Fatalf("Reply modified the query option")
	}
	// Found by FuzzParse: an option built in code with no address and
	// SOURCE 0 is valid, and its reply must still pack.
	for _, fam := range []uint16{1, 2} {
		m := new(dns.Msg)
		m.SetQuestion("x.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, Reply(&dns.EDNS0_SUBNET{Family: fam}, 0))
		if _, err := m.Pack(); err != nil {
			t.Fatalf("family %d /0 reply without address does not pack: %v", fam, err)
		}
	}
	// The reply must survive a wire round trip with the same fields.
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	o := m.IsEdns0()
	o.Option = append(o.Option, r)
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var back dns.Msg
	if err := back.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	got := Find(&back)
	if got == nil || got.SourceScope != 16 || got.SourceNetmask != 24 || got.Address.String() != "81.2.69.0" {
		t.Fatalf("round trip = %v", got)
	}
}

func TestUpstream(t *testing.T) {
	tests := []struct {
		name     string
		policy   Policy
		client   string
		opt      *dns.EDNS0_SUBNET
		want     string // family/source/address
		wantErr  error
		wantNone bool
	}{
		{"v4 default /24", Policy{}, "127.0.10.5", nil, "1/24/127.0.10.0", nil, false},
		{"v6 default /56", Policy{}, "2001:218:1:2:3::9", nil, "2/56/2001:218:1::", nil, false},
		{"v4-mapped sent as v4", Policy{}, "::ffff:127.0.20.5", nil, "1/24/127.0.20.0", nil, false},
		{"configured /16", Policy{V4Bits: 16}, "81.2.69.142", nil, "1/16/81.2.0.0", nil, false},
		{"client /32 shortened to /24", Policy{}, "127.0.0.1", opt(1, 32, 0, "81.2.69.142"), "1/24/81.2.69.0", nil, false},
		{"client /20 kept (shorter)", Policy{}, "127.0.0.1", opt(1, 20, 0, "81.2.64.0"), "1/20/81.2.64.0", nil, false},
		{"client opt-out passed on", Policy{}, "127.0.10.5", opt(1, 0, 0, "0.0.0.0"), "1/0/0.0.0.0", nil, false}, // no address bytes on the wire; miekg needs the family's zero address to pack it
		{"client malformed", Policy{}, "127.0.10.5", opt(1, 24, 0, "81.2.69.142"), "", ErrAddressBits, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.policy.Upstream(netip.MustParseAddr(tt.client), tt.opt)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			addr := ""
			if o.Address != nil {
				addr = o.Address.String()
			}
			if s := fmtOpt(o.Family, o.SourceNetmask, addr); s != tt.want {
				t.Errorf("upstream = %s, want %s", s, tt.want)
			}
			if o.SourceScope != 0 {
				t.Errorf("scope = %d, want 0 in a query", o.SourceScope)
			}
			if _, err := Parse(o); err != nil {
				t.Errorf("Upstream produced an option Parse rejects: %v", err)
			}
		})
	}
}

func fmtOpt(f uint16, src uint8, addr string) string {
	return fmt.Sprintf("%d/%d/%s", f, src, addr)
}

func TestCachePrefix(t *testing.T) {
	sent := opt(1, 24, 0, "127.0.10.0")
	tests := []struct {
		name    string
		reply   *dns.EDNS0_SUBNET
		want    string
		wantErr bool
	}{
		{"no option: everyone", nil, "0.0.0.0/0", false},
		{"scope 24", opt(1, 24, 24, "127.0.10.0"), "127.0.10.0/24", false},
		{"scope 16 widens", opt(1, 24, 16, "127.0.10.0"), "127.0.0.0/16", false},
		{"scope 31 capped at source", opt(1, 24, 31, "127.0.10.0"), "127.0.10.0/24", false},
		{"scope 0", opt(1, 24, 0, "127.0.10.0"), "0.0.0.0/0", false},
		{"address changed: discard", opt(1, 24, 24, "127.0.20.0"), "", true},
		{"source changed: discard", opt(1, 16, 16, "127.0.0.0"), "", true},
		{"family changed: discard", opt(2, 24, 24, "::"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CachePrefix(sent, tt.reply)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("CachePrefix = %v, want error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.want {
				t.Errorf("CachePrefix = %s, want %s", p, tt.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tt := range []struct {
		p   Policy
		bad bool
	}{{Policy{}, false}, {Policy{V4Bits: 24, V6Bits: 56}, false}, {Policy{V4Bits: 33}, true}, {Policy{V6Bits: -1}, true}} {
		err := tt.p.Validate("resolver.ecs")
		if (err != nil) != tt.bad {
			t.Errorf("Validate(%+v) = %v, want error %v", tt.p, err, tt.bad)
		}
	}
}

// FuzzParseWire: any bytes either fail with an error or yield a subnet that
// round-trips through Option and Parse unchanged.
func FuzzParseWire(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 24, 0, 81, 2, 69}, {0, 1, 0, 0}, {0, 2, 56, 0, 0x20, 0x01, 0x02, 0x18, 0, 0, 0xab},
		{0, 1, 24, 0, 81, 2, 69, 0}, {0, 1, 23, 0, 81, 2, 69}, {0, 1, 33, 0, 1, 2, 3, 4, 5},
		{0, 1, 24, 16, 81, 2, 69}, {0, 7, 0, 0}, {0, 0, 0, 0}, {},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseWire(b)
		if err != nil {
			return
		}
		if s.Family == 0 {
			return
		}
		o := Option(s.Prefix)
		s2, err := Parse(o)
		if err != nil {
			t.Fatalf("Parse(Option(%s)) = %v", s.Prefix, err)
		}
		if s2.Prefix != s.Prefix {
			t.Fatalf("round trip %s -> %s", s.Prefix, s2.Prefix)
		}
		// The unpacked miekg/dns form must agree with ParseWire.
		var e dns.EDNS0_SUBNET
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}}
		opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: b})
		m := new(dns.Msg)
		m.SetQuestion("x.", dns.TypeA)
		m.Extra = append(m.Extra, opt)
		wire, err := m.Pack()
		if err != nil {
			return
		}
		var back dns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatalf("miekg/dns refused an option ParseWire accepted: %v", err)
		}
		got := Find(&back)
		if got == nil {
			t.Fatal("option lost in round trip")
		}
		e = *got
		s3, err := Parse(&e)
		if err != nil {
			t.Fatalf("Parse of unpacked option: %v", err)
		}
		if s3.Prefix != s.Prefix {
			t.Fatalf("unpacked %s, ParseWire %s", s3.Prefix, s.Prefix)
		}
	})
}

// FuzzParse: options built from arbitrary fields never panic, and accepted
// ones are canonical (masked) and echo into a packable reply.
func FuzzParse(f *testing.F) {
	f.Add(uint16(1), uint8(24), uint8(0), []byte{81, 2, 69, 0})
	f.Add(uint16(2), uint8(56), uint8(0), []byte{0x20, 1, 2, 0x18, 0, 0, 0xab, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint16(1), uint8(24), uint8(0), []byte{81, 2, 69, 142})
	f.Add(uint16(0), uint8(0), uint8(0), []byte{})
	f.Add(uint16(1), uint8(40), uint8(3), []byte{1})
	f.Fuzz(func(t *testing.T, family uint16, source, scope uint8, addr []byte) {
		o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, SourceScope: scope, Address: net.IP(addr)}
		s, err := Parse(o)
		if err != nil {
			return
		}
		if s.Prefix != s.Prefix.Masked() {
			t.Fatalf("accepted unmasked prefix %s", s.Prefix)
		}
		r := Reply(o, Scope(s, s.Prefix))
		m := new(dns.Msg)
		m.SetQuestion("x.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, r)
		if _, err := m.Pack(); err != nil && family != 0 {
			t.Fatalf("reply for accepted option does not pack: %v", err)
		}
	})
}
