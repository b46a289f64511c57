package l4

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestProxyHeaderRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name     string
		src, dst string
		v1       string
		local    bool
	}{
		{"ipv4", "192.0.2.1:56324", "198.51.100.7:443", "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n", false},
		{"ipv6", "[2001:db8::1]:1", "[2001:db8::2]:65535", "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", false},
		{"mapped v4 is v4", "[::ffff:192.0.2.1]:5", "192.0.2.2:6", "PROXY TCP4 192.0.2.1 192.0.2.2 5 6\r\n", false},
		{"mixed families", "192.0.2.1:5", "[2001:db8::2]:6", "PROXY UNKNOWN\r\n", true},
		{"mixed after unmapping (fuzz)", "[2001:db8::1]:5", "[::ffff:192.0.2.2]:6", "PROXY UNKNOWN\r\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
			if got := string(AppendProxyHeader(nil, ProxyV1, src, dst)); got != tt.v1 {
				t.Fatalf("v1 %q, want %q", got, tt.v1)
			}
			for _, v := range []ProxyVersion{ProxyV1, ProxyV2} {
				wire := append(AppendProxyHeader(nil, v, src, dst), "payload"...)
				h, rest, err := ReadProxyHeader(bytes.NewReader(wire))
				if err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				if h.Local != tt.local || h.Version != v {
					t.Fatalf("%s: %+v", v, h)
				}
				if !tt.local && (h.Src != netip.AddrPortFrom(src.Addr().Unmap(), src.Port()) || h.Dst != dst) {
					t.Fatalf("%s: %+v", v, h)
				}
				// v2 never over-reads; v1 hands back what it read past CRLF.
				if v == ProxyV2 && rest != nil {
					t.Fatalf("v2 returned rest %q", rest)
				}
			}
		})
	}
}

func TestProxyHeaderBad(t *testing.T) {
	v2 := func(verCmd, fam byte, body ...byte) string {
		return string(append(append([]byte(nil), v2sig...), append([]byte{verCmd, fam, byte(len(body) >> 8), byte(len(body))}, body...)...))
	}
	for _, tt := range []struct {
		name, in string
	}{
		{"empty", ""},
		{"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"v1 no crlf", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2" + strings.Repeat(" ", 100)},
		{"v1 bad family", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n"},
		{"v1 port range", "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"},
		{"v1 leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"},
		{"v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"},
		{"v1 truncated", "PROXY TCP4 1.2.3.4 5.6."},
		{"v2 bad version", v2(0x11, 0x11, make([]byte, 12)...)},
		{"v2 bad command", v2(0x22, 0x11, make([]byte, 12)...)},
		{"v2 short ipv4", v2(0x21, 0x11, make([]byte, 11)...)},
		{"v2 short ipv6", v2(0x21, 0x21, make([]byte, 35)...)},
		{"v2 truncated body", v2(0x21, 0x11, make([]byte, 12)...)[:20]},
		{"v2 huge", string(append(append([]byte(nil), v2sig...), 0x21, 0x11, 0xff, 0xff))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadProxyHeader(strings.NewReader(tt.in))
			if !errors.Is(err, ErrProxyHeader) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")
	for _, v := range []ProxyVersion{ProxyV1, ProxyV2} {
		f.Add(AppendProxyHeader(nil, v, src, dst))
		f.Add(AppendProxyHeader(nil, v, src6, dst6))
		f.Add(AppendProxyHeader(nil, v, src, dst6))
	}
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nrest"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, rest, err := ReadProxyHeader(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(rest) > len(in) {
			t.Fatal("rest longer than input")
		}
		if !h.Local && h.Src.Addr().Is4() == h.Dst.Addr().Is4() {
			// What parses re-encodes to a header that parses the same
			// (mixed families, e.g. a v4-mapped address in a TCP6 block,
			// re-encode as UNKNOWN/LOCAL by design).
			again, _, err := ReadProxyHeader(bytes.NewReader(AppendProxyHeader(nil, h.Version, h.Src, h.Dst)))
			if err != nil || again.Src != h.Src || again.Dst != h.Dst {
				t.Fatalf("round trip of %+v: %+v %v", h, again, err)
			}
		}
	})
}

// stallReader hands out data a piece at a time, then reports errStall as
// a connection with nothing more to read would block.
type stallReader struct {
	data  []byte
	piece int
}

var errStall = errors.New("read past the data: a real connection would block here")

func (s *stallReader) Read(b []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, errStall
	}
	n := copy(b[:min(len(b), s.piece)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestProxyHeaderNoOverRead: the shortest v1 header ("PROXY UNKNOWN\r\n",
// 15 bytes) and every other header are read without asking for a byte past
// them, whatever the segmenting (issue 9, defect 7).
func TestProxyHeaderNoOverRead(t *testing.T) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2")
	for _, in := range [][]byte{
		[]byte("PROXY UNKNOWN\r\n"),
		AppendProxyHeader(nil, ProxyV1, src, dst),
		AppendProxyHeader(nil, ProxyV2, src, dst),
		AppendProxyHeader(nil, ProxyV2, src, netip.MustParseAddrPort("[2001:db8::1]:2")), // LOCAL, 16 bytes
	} {
		for _, piece := range []int{1, 7, len(in)} {
			h, rest, err := ReadProxyHeader(&stallReader{data: in, piece: piece})
			if err != nil {
				t.Fatalf("%q in pieces of %d: %v", in, piece, err)
			}
			if len(rest) != 0 || h.Version == "" {
				t.Fatalf("%q in pieces of %d: %+v rest %q", in, piece, h, rest)
			}
		}
	}
}
