package lb

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// net/http drops Content-Length when Transfer-Encoding is present, before
// the handler runs, so a handler cannot see that a request carried both
// (the request smuggling pattern RFC 9112 §6.1 requires a close for). A
// plain HTTP/1 frontend therefore reads its connections through a
// framing scanner: it follows the stream with the same framing net/http
// uses (request line, header fields, Content-Length or chunked body) and
// queues, per request, whether both fields were present. The handler
// takes one entry per request, in order. Over TLS the plaintext is inside
// *tls.Conn, which net/http needs unwrapped; those frontends are not
// scanned.

// framingListener wraps each accepted connection in a framedConn.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framedConn{Conn: c}, nil
}

type framingKey struct{}

// framingContext is the http.Server's ConnContext: it gives the handler
// the connection's scanner.
func framingContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framedConn); ok {
		return context.WithValue(ctx, framingKey{}, &fc.sc)
	}
	return ctx
}

// smuggled reports whether r came with both Content-Length and
// Transfer-Encoding. It must be called once per HTTP/1 request that
// reaches the handler.
func smuggled(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	sc, _ := r.Context().Value(framingKey{}).(*scanner)
	return sc != nil && sc.next()
}

// framedConn scans what is read from it.
type framedConn struct {
	net.Conn
	sc scanner
}

func (c *framedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.sc.scan(p[:n])
	}
	return n, err
}

// What the scanner is reading.
const (
	inHeader    = iota // request line and header fields
	inBody             // remain bytes of a Content-Length body or a chunk
	inChunkSize        // a chunk-size line
	inChunkEnd         // the CRLF after a chunk's data
	inTrailer          // trailer fields after the last chunk
	lost               // not HTTP/1 (h2c, a tunnel) or out of step: stop
)

// maxQueued bounds the verdicts waiting for their handler (pipelining).
const maxQueued = 16

type scanner struct {
	mu      sync.Mutex // scan runs on net/http's reading goroutines, next on the handler's
	state   int
	remain  int64
	line    [40]byte // the start of the current line, lower case
	lineLen int
	tail    [10]byte // the end of the current line, as read
	started bool     // the request line was read
	http10  bool
	skip    bool // OPTIONS *: answered by net/http, not by the handler
	hasCL   bool
	hasTE   bool
	cl      int64
	queue   []bool
}

// next pops the verdict of the oldest request not yet handled.
func (s *scanner) next() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return false
	}
	v := s.queue[0]
	s.queue = s.queue[1:]
	return v
}

func (s *scanner) scan(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 && s.state != lost {
		if s.state == inBody {
			k := int64(len(p))
			if k > s.remain {
				k = s.remain
			}
			p, s.remain = p[k:], s.remain-k
			if s.remain == 0 {
				if s.hasTE && !s.http10 {
					s.state = inChunkEnd
				} else {
					s.endMessage()
				}
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if s.lineLen < len(s.line) {
			for j, c := range chunk[:min(len(chunk), len(s.line)-s.lineLen)] {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				s.line[s.lineLen+j] = c
			}
		}
		s.lineLen += len(chunk)
		s.keepTail(chunk)
		if i < 0 {
			return
		}
		p = p[i+1:]
		n := min(s.lineLen, len(s.line))
		if n > 0 && s.line[n-1] == '\r' {
			n--
		}
		s.endLine(s.line[:n], s.lineLen)
		s.lineLen = 0
	}
}

// keepTail keeps the last bytes of the current line in s.tail.
func (s *scanner) keepTail(b []byte) {
	if len(b) >= len(s.tail) {
		copy(s.tail[:], b[len(b)-len(s.tail):])
		return
	}
	copy(s.tail[:], s.tail[len(b):])
	copy(s.tail[len(s.tail)-len(b):], b)
}

// endLine handles one complete line (its first bytes, lower case,
// without CRLF; full is its length).
func (s *scanner) endLine(l []byte, full int) {
	switch s.state {
	case inHeader:
		switch {
		case !s.started && len(l) == 0:
			// net/http skips empty lines before a request
		case !s.started:
			s.started = true
			s.http10 = bytes.HasSuffix(bytes.TrimSuffix(s.tail[len(s.tail)-min(full, len(s.tail)):], []byte("\r")), []byte(" HTTP/1.0"))
			s.skip = bytes.HasPrefix(l, []byte("options * "))
			if bytes.HasPrefix(l, []byte("pri * http/2")) {
				s.state = lost
			}
		case len(l) == 0:
			s.endHeader()
		case bytes.HasPrefix(l, []byte("content-length:")):
			if !s.hasCL {
				v, err := strconv.ParseInt(string(bytes.TrimSpace(l[len("content-length:"):])), 10, 64)
				if err != nil || v < 0 || full > len(s.line) {
					s.state = lost // net/http refuses it and closes
					return
				}
				s.cl = v
			}
			s.hasCL = true
		case bytes.HasPrefix(l, []byte("transfer-encoding:")):
			s.hasTE = true
		}
	case inChunkSize:
		ext := bytes.IndexByte(l, ';')
		if ext >= 0 {
			l = l[:ext]
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(l)), 16, 63)
		switch {
		case err != nil || (ext < 0 && full > len(s.line)):
			s.state = lost // net/http refuses the body and closes
		case v == 0:
			s.state = inTrailer
		default:
			s.state, s.remain = inBody, int64(v)
		}
	case inChunkEnd:
		if len(l) != 0 {
			s.state = lost
			return
		}
		s.state = inChunkSize
	case inTrailer:
		if len(l) == 0 {
			s.endMessage()
		}
	}
}

// endHeader queues the request's verdict and sets up its body.
func (s *scanner) endHeader() {
	if !s.skip && len(s.queue) < maxQueued {
		s.queue = append(s.queue, s.hasCL && s.hasTE)
	}
	switch {
	case s.hasTE && !s.http10: // net/http ignores Transfer-Encoding in HTTP/1.0
		s.state = inChunkSize
	case s.hasCL && s.cl > 0:
		s.state, s.remain = inBody, s.cl
	default:
		s.endMessage()
	}
}

// endMessage gets ready for the next request.
func (s *scanner) endMessage() {
	s.state, s.started, s.http10, s.skip, s.hasCL, s.hasTE, s.cl = inHeader, false, false, false, false, false, 0
}
