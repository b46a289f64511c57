package lb

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
)

// The fast engine's parser of HTTP/1.1 message heads (RFC 9112 §2-§6):
// the request line or status line and the header fields are read into
// one reused buffer, and the fields are kept as slices of it in order,
// classified once, so that forwarding needs no map and no string.

// What a header field is to the proxy.
const (
	fPass     = iota // forwarded as it came
	fHop             // hop-by-hop (RFC 9110 §7.6.1): never forwarded
	fLength          // Content-Length
	fTE              // Transfer-Encoding
	fConn            // Connection
	fUpgrade         // Upgrade
	fHost            // Host
	fXFF             // X-Forwarded-For: the client's chain, extended
	fXForward        // X-Forwarded-Host / -Proto: replaced by this hop's
	fExpect          // Expect: lbd answers 100-continue itself
	fCookie          // Cookie: the sticky cookie is taken out
	fNamed           // named in Connection: hop-by-hop for this message
	fLB              // X-LB-Backend, Strict-Transport-Security from a backend: lbd's own
)

// maxHeadBytes bounds a message head (net/http's MaxHeaderBytes of lbd).
const maxHeadBytes = 64 << 10

type field struct {
	name, value []byte
	kind        uint8
}

// head is one parsed request or response head.
type head struct {
	buf    []byte
	fields []field
	// request line
	method, target []byte
	minor          int // HTTP/1.minor
	// status line
	status int
	reason []byte
	// framing and connection handling
	length    int64 // Content-Length; -1 when absent
	chunked   bool
	hasTE     bool
	close     bool // Connection: close
	keepAlive bool // Connection: keep-alive
	upgrade   bool // Connection: upgrade with an Upgrade field
	expect    bool // Expect: 100-continue
	host      []byte
	hosts     int
}

// errHead is a malformed head: the status to answer and why.
type errHead struct {
	status int
	msg    string
}

func (e *errHead) Error() string { return e.msg }

var errHeadTooBig = &errHead{http.StatusRequestHeaderFieldsTooLarge, "the message head is larger than 64 KiB"}

func (h *head) reset() {
	buf, fields := h.buf[:0], h.fields[:0]
	*h = head{buf: buf, fields: fields, length: -1}
}

// read reads a head from br: the first line and the fields up to the
// empty line. Empty lines before a request line are skipped (RFC 9112
// §2.2).
func (h *head) read(br *bufio.Reader, request bool) error {
	h.reset()
	for {
		line, err := h.readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 && request && len(h.fields) == 0 && h.method == nil {
			h.buf = h.buf[:0]
			continue
		}
		if h.method == nil && h.status == 0 {
			if request {
				err = h.requestLine(line)
			} else {
				err = h.statusLine(line)
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if err := h.addField(line); err != nil {
			return err
		}
	}
	return h.frame()
}

// readLine appends the next line to h.buf and returns it without CRLF.
func (h *head) readLine(br *bufio.Reader) ([]byte, error) {
	from := len(h.buf)
	for {
		part, err := br.ReadSlice('\n')
		if len(h.buf)+len(part) > maxHeadBytes {
			return nil, errHeadTooBig
		}
		h.buf = append(h.buf, part...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line := h.buf[from : len(h.buf)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func badHead(msg string) error { return &errHead{http.StatusBadRequest, msg} }

func (h *head) requestLine(l []byte) error {
	sp := bytes.IndexByte(l, ' ')
	if sp <= 0 {
		return badHead("malformed request line")
	}
	h.method = l[:sp]
	rest := l[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return badHead("malformed request line")
	}
	h.target, rest = rest[:sp], rest[sp+1:]
	for _, c := range h.method {
		if !isToken(c) {
			return badHead("invalid method")
		}
	}
	for _, c := range h.target {
		if c <= ' ' || c == 0x7f {
			return badHead("invalid request target")
		}
	}
	switch string(rest) {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
	default:
		if bytes.HasPrefix(rest, []byte("HTTP/")) {
			return &errHead{http.StatusHTTPVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served on this connection"}
		}
		return badHead("malformed HTTP version")
	}
	return nil
}

func (h *head) statusLine(l []byte) error {
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || l[8] != ' ' {
		return errors.New("malformed status line from the backend")
	}
	h.minor = int(l[7] - '0')
	code := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return errors.New("malformed status code from the backend")
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return errors.New("malformed status code from the backend")
	}
	h.status = code
	if len(l) > 13 {
		h.reason = l[13:]
	}
	h.method = nil
	return nil
}

func (h *head) addField(l []byte) error {
	if l[0] == ' ' || l[0] == '\t' {
		return badHead("obsolete line folding in a header field")
	}
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return badHead("malformed header field")
	}
	name := l[:colon]
	for _, c := range name {
		if !isToken(c) {
			return badHead("invalid header field name (whitespace before the colon?)")
		}
	}
	v := l[colon+1:]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return badHead("invalid header field value")
		}
	}
	f := field{name: name, value: v, kind: classify(name)}
	switch f.kind {
	case fLength:
		n, ok := parseLength(v)
		if !ok || (h.length >= 0 && n != h.length) {
			return badHead("invalid or differing Content-Length")
		}
		h.length = n
	case fTE:
		h.hasTE = true
		if !bytes.EqualFold(v, []byte("chunked")) || h.chunked {
			return &errHead{http.StatusNotImplemented, "unsupported transfer encoding (only chunked)"}
		}
		h.chunked = true
	case fConn:
		h.connection(v)
	case fHost:
		h.host = v
		h.hosts++
	case fExpect:
		h.expect = bytes.EqualFold(v, []byte("100-continue"))
	}
	h.fields = append(h.fields, f)
	return nil
}

// connection reads the tokens of a Connection field.
func (h *head) connection(v []byte) {
	for len(v) > 0 {
		var tok []byte
		tok, v = nextToken(v)
		switch {
		case bytes.EqualFold(tok, []byte("close")):
			h.close = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
			h.keepAlive = true
		case bytes.EqualFold(tok, []byte("upgrade")):
			h.upgrade = true
		}
	}
}

// frame finishes the head: fields named in Connection become hop-by-hop,
// and an upgrade needs its Upgrade field.
func (h *head) frame() error {
	named := false
	for _, f := range h.fields {
		if f.kind == fConn {
			named = true
		}
	}
	hasUpgrade := false
	for i := range h.fields {
		f := &h.fields[i]
		if f.kind == fUpgrade {
			hasUpgrade = true
		}
		if named && (f.kind == fPass || f.kind == fCookie || f.kind == fLB) && h.namedInConnection(f.name) {
			f.kind = fNamed
		}
	}
	h.upgrade = h.upgrade && hasUpgrade
	return nil
}

// nextToken splits the first comma-separated token, trimmed, off a
// field's value.
func nextToken(v []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return bytes.TrimSpace(v[:i]), v[i+1:]
	}
	return bytes.TrimSpace(v), nil
}

func (h *head) namedInConnection(name []byte) bool {
	for _, f := range h.fields {
		if f.kind != fConn {
			continue
		}
		v := f.value
		for len(v) > 0 {
			var tok []byte
			tok, v = nextToken(v)
			if bytes.EqualFold(tok, name) {
				return true
			}
		}
	}
	return false
}

// get is the first value of the field called name, nil when absent.
func (h *head) get(name string) []byte {
	for _, f := range h.fields {
		if len(f.name) == len(name) && equalFoldString(f.name, name) {
			return f.value
		}
	}
	return nil
}

func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fieldKinds are the header fields the proxy treats specially; any other
// is passed on as it came.
var fieldKinds = [...]struct {
	name string // lower case
	kind uint8
}{
	{"te", fHop}, {"host", fHost}, {"cookie", fCookie}, {"expect", fExpect},
	{"upgrade", fUpgrade}, {"trailer", fHop}, {"connection", fConn}, {"keep-alive", fHop},
	{"x-lb-backend", fLB}, {"content-length", fLength}, {"x-forwarded-for", fXFF},
	{"proxy-connection", fHop}, {"x-forwarded-host", fXForward}, {"transfer-encoding", fTE},
	{"x-forwarded-proto", fXForward}, {"proxy-authenticate", fHop}, {"proxy-authorization", fHop},
	{"strict-transport-security", fLB},
}

// classify tells what a field is to the proxy by its name (a length
// compare first, so most names cost a few integer compares).
func classify(name []byte) uint8 {
	for i := range fieldKinds {
		if f := &fieldKinds[i]; len(f.name) == len(name) && equalFoldString(name, f.name) {
			return f.kind
		}
	}
	return fPass
}

// equalFoldString compares ASCII b with lower-case s, ignoring case.
func equalFoldString(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] && !('A' <= s[i] && s[i] <= 'Z' && c == s[i]+'a'-'A') {
			return false
		}
	}
	return true
}

// isToken: RFC 9110 §5.6.2 tchar.
func isToken(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
