// Package sni reads the TLS ClientHello at the start of a TCP connection
// without terminating TLS: the server name (SNI), the ALPN protocols and
// the offered versions, so an L4 proxy can route by name and then splice the
// untouched bytes to a backend.
package sni

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// Hello is what the peeker learns from a ClientHello.
type Hello struct {
	// ServerName is the SNI host name, lowercased; empty when absent.
	ServerName string
	// ALPN protocols offered, in the client's order.
	ALPN []string
	// Versions offered: supported_versions when present, else the legacy
	// version field (0x0303 is TLS 1.2).
	Versions []uint16
	// Size is the number of bytes of TLS records the hello took.
	Size int
}

// Errors; Peek and Parse wrap them with detail, test with errors.Is.
var (
	ErrNotTLS         = errors.New("not a TLS handshake")
	ErrNotClientHello = errors.New("first handshake message is not a ClientHello")
	ErrTruncated      = errors.New("connection closed inside the ClientHello")
	ErrTooLarge       = errors.New("ClientHello larger than the limit")
	ErrMalformed      = errors.New("malformed ClientHello")
	// ErrIncomplete is returned by Parse when data holds only the start of
	// a ClientHello.
	ErrIncomplete = errors.New("incomplete ClientHello")
)

// Limits.
const (
	DefaultMaxSize = 32 << 10 // handshake bytes; real hellos are 0.2-2 KiB
	DefaultTimeout = 5 * time.Second
	maxRecord      = 1 << 14 // TLSPlaintext.length limit (RFC 8446 5.1)
	recordHeader   = 5
)

// Options bound Peek.
type Options struct {
	// MaxSize caps the ClientHello (handshake bytes); default 32 KiB.
	MaxSize int
	// Timeout bounds the wait for the whole ClientHello; default 5s. It is
	// set as a read deadline on the connection and cleared afterwards.
	Timeout time.Duration
}

// Peek reads the ClientHello from c and returns it with a connection that
// replays the bytes read, then continues with c. On error the returned
// connection still replays what was read, so a caller may forward it
// anyway (e.g. to a default pool for non-TLS traffic).
func Peek(c net.Conn, o Options) (Hello, *Conn, error) {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if err := c.SetReadDeadline(time.Now().Add(o.Timeout)); err != nil {
		return Hello{}, nil, err
	}
	defer c.SetReadDeadline(time.Time{})

	buf := make([]byte, 0, 2048)
	need := recordHeader
	for {
		for len(buf) < need {
			if cap(buf) < need {
				nb := make([]byte, len(buf), need+1024)
				copy(nb, buf)
				buf = nb
			}
			n, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil && len(buf) < need {
				wrapped := readErr(err, len(buf))
				return Hello{}, NewConn(c, buf), wrapped
			}
		}
		h, more, err := parse(buf, o.MaxSize)
		switch {
		case err == nil:
			return h, NewConn(c, buf), nil
		case errors.Is(err, ErrIncomplete):
			need = len(buf) + more
		default:
			return Hello{}, NewConn(c, buf), err
		}
	}
}

func readErr(err error, got int) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("timed out after %d bytes of ClientHello: %w", got, err)
	case errors.Is(err, io.EOF):
		if got == 0 {
			return fmt.Errorf("%w (no bytes sent)", ErrTruncated)
		}
		return fmt.Errorf("%w after %d bytes", ErrTruncated, got)
	default:
		return err
	}
}

// NewConn returns a Conn that replays prefix, then reads from c: for bytes
// another layer read ahead (the rest of a packet after a PROXY header).
func NewConn(c net.Conn, prefix []byte) *Conn { return &Conn{Conn: c, peeked: prefix} }

// Parse reads a ClientHello from the start of data (TLS records). When data
// is a valid prefix it returns ErrIncomplete.
func Parse(data []byte) (Hello, error) {
	h, _, err := parse(data, DefaultMaxSize)
	return h, err
}

// parse returns the hello, or ErrIncomplete with the number of further
// bytes needed at least.
func parse(data []byte, maxSize int) (Hello, int, error) {
	var hs []byte // reassembled handshake bytes
	off := 0
	for {
		if len(data)-off < recordHeader {
			return Hello{}, recordHeader - (len(data) - off), ErrIncomplete
		}
		hdr := data[off : off+recordHeader]
		if hdr[0] != 0x16 {
			return Hello{}, 0, fmt.Errorf("%w: record type %d", ErrNotTLS, hdr[0])
		}
		if hdr[1] != 3 || hdr[2] > 4 {
			return Hello{}, 0, fmt.Errorf("%w: record version %d.%d", ErrNotTLS, hdr[1], hdr[2])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > maxRecord {
			return Hello{}, 0, fmt.Errorf("%w: record length %d", ErrMalformed, n)
		}
		if len(hs)+n > maxSize+4 {
			return Hello{}, 0, fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
		}
		if len(data)-off-recordHeader < n {
			return Hello{}, recordHeader + n - (len(data) - off), ErrIncomplete
		}
		hs = append(hs, data[off+recordHeader:off+recordHeader+n]...)
		off += recordHeader + n
		if hs[0] != 1 {
			return Hello{}, 0, fmt.Errorf("%w: handshake type %d", ErrNotClientHello, hs[0])
		}
		if len(hs) < 4 {
			continue
		}
		msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if msgLen > maxSize {
			return Hello{}, 0, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, msgLen, maxSize)
		}
		if len(hs) < 4+msgLen {
			continue // the message continues in the next record
		}
		if len(hs) > 4+msgLen {
			// Another handshake message after the ClientHello in the same
			// flight is not allowed before the server's reply.
			return Hello{}, 0, fmt.Errorf("%w: %d trailing bytes after the message", ErrMalformed, len(hs)-4-msgLen)
		}
		h, err := parseHello(hs[4:])
		if err != nil {
			return Hello{}, 0, err
		}
		h.Size = off
		return h, 0, nil
	}
}

// reader is a bounds-checked cursor over a byte slice.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	r.b = nil
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) int {
	b := r.bytes(1, what)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16(what string) int {
	b := r.bytes(2, what)
	if b == nil {
		return 0
	}
	return int(b[0])<<8 | int(b[1])
}

// vec8/vec16 read a length-prefixed vector as a sub-reader.
func (r *reader) vec8(what string) *reader { return &reader{b: r.bytes(r.u8(what), what), err: r.err} }
func (r *reader) vec16(what string) *reader {
	return &reader{b: r.bytes(r.u16(what), what), err: r.err}
}

const (
	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
)

func parseHello(msg []byte) (Hello, error) {
	var h Hello
	r := &reader{b: msg}
	legacy := r.u16("version")
	r.bytes(32, "random")
	if sid := r.vec8("session id"); len(sid.b) > 32 {
		r.fail("session id longer than 32 bytes")
	}
	suites := r.vec16("cipher suites")
	if r.err == nil && (len(suites.b) < 2 || len(suites.b)%2 != 0) {
		r.fail("cipher suite list length")
	}
	if comp := r.vec8("compression methods"); r.err == nil && len(comp.b) < 1 {
		r.fail("no compression methods")
	}
	if r.err != nil {
		return h, r.err
	}
	if legacy>>8 != 3 {
		return h, fmt.Errorf("%w: client version %#04x", ErrNotTLS, legacy)
	}
	h.Versions = []uint16{uint16(legacy)}
	if len(r.b) == 0 {
		return h, nil // no extensions (SSL 3.0-era clients)
	}
	exts := r.vec16("extensions")
	if r.err != nil {
		return h, r.err
	}
	if len(r.b) != 0 {
		return h, fmt.Errorf("%w: %d bytes after the extensions", ErrMalformed, len(r.b))
	}
	seen := map[int]bool{}
	for len(exts.b) > 0 && exts.err == nil {
		typ := exts.u16("extension type")
		data := exts.vec16("extension data")
		if exts.err != nil {
			return h, exts.err
		}
		if seen[typ] {
			return h, fmt.Errorf("%w: extension %d twice", ErrMalformed, typ)
		}
		seen[typ] = true
		var err error
		switch typ {
		case extServerName:
			h.ServerName, err = parseServerName(data)
		case extALPN:
			h.ALPN, err = parseALPN(data)
		case extSupportedVersions:
			h.Versions, err = parseVersions(data)
		}
		if err != nil {
			return h, err
		}
	}
	return h, exts.err
}

func parseServerName(r *reader) (string, error) {
	list := r.vec16("server name list")
	if r.err != nil || len(r.b) != 0 || len(list.b) == 0 {
		return "", fmt.Errorf("%w: server_name extension", ErrMalformed)
	}
	name := ""
	for len(list.b) > 0 {
		typ := list.u8("server name type")
		v := list.vec16("server name")
		if list.err != nil || v.err != nil {
			return "", fmt.Errorf("%w: server_name entry", ErrMalformed)
		}
		if typ != 0 {
			continue // unknown name types are skipped (RFC 6066 3)
		}
		if name != "" {
			return "", fmt.Errorf("%w: two host names", ErrMalformed)
		}
		n, err := hostName(v.b)
		if err != nil {
			return "", err
		}
		name = n
	}
	return name, nil
}

// hostName checks an SNI host name: ASCII letters, digits, hyphens,
// underscores and dots, labels of 1-63 bytes, at most 253 bytes, no
// trailing dot (RFC 6066 3).
func hostName(b []byte) (string, error) {
	if len(b) == 0 || len(b) > 253 {
		return "", fmt.Errorf("%w: host name length %d", ErrMalformed, len(b))
	}
	label := 0
	for i, c := range b {
		switch {
		case c == '.':
			if label == 0 {
				return "", fmt.Errorf("%w: empty label in host name at byte %d", ErrMalformed, i)
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "", fmt.Errorf("%w: byte %#02x in host name", ErrMalformed, c)
		}
		label++
		if label > 63 {
			return "", fmt.Errorf("%w: host name label over 63 bytes", ErrMalformed)
		}
	}
	if label == 0 {
		return "", fmt.Errorf("%w: host name ends with a dot", ErrMalformed)
	}
	return strings.ToLower(string(b)), nil
}

func parseALPN(r *reader) ([]string, error) {
	list := r.vec16("ALPN list")
	if r.err != nil || len(r.b) != 0 || len(list.b) == 0 {
		return nil, fmt.Errorf("%w: ALPN extension", ErrMalformed)
	}
	var out []string
	for len(list.b) > 0 {
		p := list.vec8("ALPN protocol")
		if list.err != nil || p.err != nil || len(p.b) == 0 {
			return nil, fmt.Errorf("%w: ALPN protocol", ErrMalformed)
		}
		out = append(out, string(p.b))
	}
	return out, nil
}

func parseVersions(r *reader) ([]uint16, error) {
	list := r.vec8("supported versions")
	if r.err != nil || len(r.b) != 0 || len(list.b) < 2 || len(list.b)%2 != 0 {
		return nil, fmt.Errorf("%w: supported_versions extension", ErrMalformed)
	}
	out := make([]uint16, 0, len(list.b)/2)
	for len(list.b) > 0 {
		out = append(out, uint16(list.u16("version")))
	}
	return out, nil
}

// Conn replays the peeked bytes, then reads from the connection. Its
// WriteTo hands the rest of the stream to io.Copy on the inner connection,
// so io.Copy(backendTCP, conn) still uses splice(2) after the prefix. A
// proxy that wants its own loop can take Peeked() and the embedded Conn.
type Conn struct {
	net.Conn
	peeked []byte
}

// Peeked returns the bytes read so far and not yet replayed.
func (c *Conn) Peeked() []byte { return c.peeked }

// Read replays the peeked bytes first.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.peeked) > 0 {
		n := copy(p, c.peeked)
		c.peeked = c.peeked[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// WriteTo writes the peeked bytes to w, then copies the connection to w
// with io.Copy, which lets a *net.TCPConn source and destination splice.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(c.peeked) > 0 {
		n, err := w.Write(c.peeked)
		total += int64(n)
		c.peeked = c.peeked[n:]
		if err != nil {
			return total, err
		}
	}
	n, err := io.Copy(w, c.Conn)
	return total + n, err
}

// CloseWrite half-closes the underlying connection when it supports it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
