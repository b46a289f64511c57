package l4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// PROXY protocol (haproxy.org/download/2.9/doc/proxy-protocol.txt): a
// header a proxy sends before the client's bytes so the backend learns the
// real client address.

// ProxyVersion selects what a pool sends to its backends.
type ProxyVersion string

// PROXY protocol versions.
const (
	ProxyNone ProxyVersion = ""
	ProxyV1   ProxyVersion = "v1"
	ProxyV2   ProxyVersion = "v2"
)

var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	v1MaxLen  = 107 // the spec's bound, CRLF included
	v2MaxBody = 1024
)

// ErrProxyHeader wraps every malformed PROXY header.
var ErrProxyHeader = errors.New("bad PROXY protocol header")

// AppendProxyHeader appends a header for a connection from src to dst.
// Addresses of different families, or invalid ones, give "UNKNOWN" (v1) or
// a LOCAL command (v2), as the spec asks.
func AppendProxyHeader(b []byte, v ProxyVersion, src, dst netip.AddrPort) []byte {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	known := src.IsValid() && dst.IsValid() && src.Addr().Is4() == dst.Addr().Is4()
	switch v {
	case ProxyV1:
		if !known {
			return append(b, "PROXY UNKNOWN\r\n"...)
		}
		fam := "TCP4"
		if src.Addr().Is6() {
			fam = "TCP6"
		}
		b = append(b, "PROXY "...)
		b = append(b, fam...)
		b = append(b, ' ')
		b = src.Addr().AppendTo(b)
		b = append(b, ' ')
		b = dst.Addr().AppendTo(b)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(src.Port()), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(dst.Port()), 10)
		return append(b, '\r', '\n')
	case ProxyV2:
		b = append(b, v2sig...)
		if !known {
			return append(b, 0x20, 0x00, 0, 0) // v2 LOCAL, UNSPEC, no addresses
		}
		if src.Addr().Is4() {
			b = append(b, 0x21, 0x11, 0, 12)
			s, d := src.Addr().As4(), dst.Addr().As4()
			b = append(b, s[:]...)
			b = append(b, d[:]...)
		} else {
			b = append(b, 0x21, 0x21, 0, 36)
			s, d := src.Addr().As16(), dst.Addr().As16()
			b = append(b, s[:]...)
			b = append(b, d[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, src.Port())
		return binary.BigEndian.AppendUint16(b, dst.Port())
	}
	return b
}

// ProxyHeader is a parsed header. Local is true for v2 LOCAL and v1
// UNKNOWN: the connection's own addresses apply.
type ProxyHeader struct {
	Version ProxyVersion
	Local   bool
	Src     netip.AddrPort
	Dst     netip.AddrPort
}

// ReadProxyHeader reads a v1 or v2 header from r, which must start with
// one. It never waits for a byte the header does not need (a client whose
// protocol lets the server speak first sends nothing after it): six bytes
// tell the versions apart, v2 is length-prefixed, and v1 is read up to its
// CRLF within the spec's 107 bytes; what a read returned past the CRLF
// comes back as rest.
func ReadProxyHeader(r io.Reader) (ProxyHeader, []byte, error) {
	var first [16]byte
	if _, err := io.ReadFull(r, first[:6]); err != nil {
		return ProxyHeader{}, nil, fmt.Errorf("%w: reading: %v", ErrProxyHeader, err)
	}
	if bytes.Equal(first[:6], v2sig[:6]) {
		// "PROXY UNKNOWN\r\n" is 15 bytes, a v2 header at least 16.
		if _, err := io.ReadFull(r, first[6:]); err != nil {
			return ProxyHeader{}, nil, fmt.Errorf("%w: reading v2: %v", ErrProxyHeader, err)
		}
		if !bytes.Equal(first[:12], v2sig) {
			return ProxyHeader{}, nil, fmt.Errorf("%w: neither v1 nor v2 signature", ErrProxyHeader)
		}
		n := int(binary.BigEndian.Uint16(first[14:16]))
		if n > v2MaxBody {
			return ProxyHeader{}, nil, fmt.Errorf("%w: v2 length %d over %d", ErrProxyHeader, n, v2MaxBody)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return ProxyHeader{}, nil, fmt.Errorf("%w: reading v2 addresses: %v", ErrProxyHeader, err)
		}
		h, err := parseV2(first[12], first[13], body)
		return h, nil, err
	}
	if !bytes.Equal(first[:6], []byte("PROXY ")) {
		return ProxyHeader{}, nil, fmt.Errorf("%w: neither v1 nor v2 signature", ErrProxyHeader)
	}
	buf := append(make([]byte, 0, v1MaxLen), first[:6]...)
	for {
		if i := bytes.Index(buf, []byte("\r\n")); i >= 0 {
			h, err := parseV1(buf[:i])
			var rest []byte
			if err == nil && i+2 < len(buf) {
				rest = append([]byte(nil), buf[i+2:]...)
			}
			return h, rest, err
		}
		if len(buf) >= v1MaxLen {
			return ProxyHeader{}, nil, fmt.Errorf("%w: v1 line longer than %d bytes", ErrProxyHeader, v1MaxLen)
		}
		n, err := r.Read(buf[len(buf):v1MaxLen])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return ProxyHeader{}, nil, fmt.Errorf("%w: reading v1: %v", ErrProxyHeader, err)
		}
	}
}

func parseV1(line []byte) (ProxyHeader, error) {
	f := strings.Split(string(line), " ")
	bad := func(why string) (ProxyHeader, error) {
		return ProxyHeader{}, fmt.Errorf("%w: v1 %s in %q", ErrProxyHeader, why, line)
	}
	if len(f) >= 2 && f[0] == "PROXY" && f[1] == "UNKNOWN" {
		return ProxyHeader{Version: ProxyV1, Local: true}, nil
	}
	if len(f) != 6 || f[0] != "PROXY" {
		return bad("needs 6 fields")
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	if err1 != nil || err2 != nil || src.Zone() != "" || dst.Zone() != "" {
		return bad("address")
	}
	switch {
	case f[1] == "TCP4" && src.Is4() && dst.Is4():
	case f[1] == "TCP6" && src.Is6() && dst.Is6():
	default:
		return bad("family")
	}
	sp, err1 := parsePort(f[4])
	dp, err2 := parsePort(f[5])
	if err1 != nil || err2 != nil {
		return bad("port")
	}
	return ProxyHeader{Version: ProxyV1, Src: netip.AddrPortFrom(src.Unmap(), sp), Dst: netip.AddrPortFrom(dst.Unmap(), dp)}, nil
}

// parsePort is strict decimal 0-65535 without sign or leading zeros.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') || s[0] == '+' || s[0] == '-' {
		return 0, errors.New("port")
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

func parseV2(verCmd, fam byte, body []byte) (ProxyHeader, error) {
	if verCmd>>4 != 2 {
		return ProxyHeader{}, fmt.Errorf("%w: v2 version %d", ErrProxyHeader, verCmd>>4)
	}
	switch verCmd & 0xf {
	case 0: // LOCAL: health checks from the proxy itself
		return ProxyHeader{Version: ProxyV2, Local: true}, nil
	case 1: // PROXY
	default:
		return ProxyHeader{}, fmt.Errorf("%w: v2 command %d", ErrProxyHeader, verCmd&0xf)
	}
	h := ProxyHeader{Version: ProxyV2}
	switch fam {
	case 0x11, 0x12: // TCP4, UDP4
		if len(body) < 12 {
			return ProxyHeader{}, fmt.Errorf("%w: v2 IPv4 block of %d bytes", ErrProxyHeader, len(body))
		}
		s, d := netip.AddrFrom4([4]byte(body[0:4])), netip.AddrFrom4([4]byte(body[4:8]))
		h.Src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[10:12]))
	case 0x21, 0x22: // TCP6, UDP6
		if len(body) < 36 {
			return ProxyHeader{}, fmt.Errorf("%w: v2 IPv6 block of %d bytes", ErrProxyHeader, len(body))
		}
		s, d := netip.AddrFrom16([16]byte(body[0:16])).Unmap(), netip.AddrFrom16([16]byte(body[16:32])).Unmap()
		h.Src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[34:36]))
	case 0x00: // UNSPEC: keep the connection's addresses
		h.Local = true
	default: // AF_UNIX and others: not meaningful for a TCP frontend
		h.Local = true
	}
	return h, nil // TLVs after the addresses are skipped
}

// addrPort converts a net.Addr of a TCP connection.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
