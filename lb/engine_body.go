package lb

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// Message bodies on the fast engine: copied from one buffered stream to
// the other without an intermediate buffer (the reader's buffered bytes
// are written straight into the writer), and the writer is flushed only
// when the reader has nothing more buffered, so a head and a body that
// arrived together leave together.

// srcError is a failure reading a body from where it came from; dstError
// one writing it to where it goes. A proxy must tell them apart: a
// client's bad body is the client's fault, a backend's is the backend's.
type srcError struct{ err error }

func (e *srcError) Error() string { return e.err.Error() }
func (e *srcError) Unwrap() error { return e.err }

type dstError struct{ err error }

func (e *dstError) Error() string { return e.err.Error() }
func (e *dstError) Unwrap() error { return e.err }

var errBadChunk = errors.New("malformed chunked encoding")

// bodyCopy moves one body. limit > 0 bounds its length (max_body_bytes):
// past it, copying stops with *http.MaxBytesError. flush: flush dst when
// src has nothing buffered (a response; a request is flushed at its end).
type bodyCopy struct {
	dst   *bufio.Writer
	src   *bufio.Reader
	limit int64
	flush bool
	n     int64 // body bytes moved
}

// exact copies n bytes.
func (bc *bodyCopy) exact(n int64) error {
	for n > 0 {
		k, err := bc.some(n)
		n -= int64(k)
		if err != nil {
			var se *srcError
			if errors.As(err, &se) && errors.Is(se.err, io.EOF) {
				err = &srcError{io.ErrUnexpectedEOF}
			}
			return err
		}
	}
	return nil
}

// some copies what src has buffered (reading once when it has nothing),
// at most max bytes.
func (bc *bodyCopy) some(max int64) (int, error) {
	if bc.src.Buffered() == 0 {
		if bc.flush {
			if err := bc.dst.Flush(); err != nil {
				return 0, &dstError{err}
			}
		}
		if _, err := bc.src.Peek(1); err != nil {
			return 0, &srcError{err}
		}
	}
	k := bc.src.Buffered()
	if int64(k) > max {
		k = int(max)
	}
	if bc.limit > 0 && bc.n+int64(k) > bc.limit {
		return 0, &http.MaxBytesError{Limit: bc.limit}
	}
	p, _ := bc.src.Peek(k)
	if _, err := bc.dst.Write(p); err != nil {
		return 0, &dstError{err}
	}
	_, _ = bc.src.Discard(k)
	bc.n += int64(k)
	return k, nil
}

// untilEOF copies until src ends, as chunks when chunked.
func (bc *bodyCopy) untilEOF(chunked bool) error {
	for {
		if chunked && bc.src.Buffered() > 0 {
			if err := writeChunkSize(bc.dst, int64(bc.src.Buffered())); err != nil {
				return err
			}
		}
		k, err := bc.some(1 << 62)
		if chunked && k > 0 {
			if _, werr := bc.dst.WriteString("\r\n"); werr != nil {
				return &dstError{werr}
			}
		}
		if err != nil {
			var se *srcError
			if errors.As(err, &se) && errors.Is(se.err, io.EOF) {
				if chunked {
					if _, werr := bc.dst.WriteString("0\r\n\r\n"); werr != nil {
						return &dstError{werr}
					}
				}
				return nil
			}
			return err
		}
	}
}

// chunked reads a chunked body (RFC 9112 §7.1) and writes its data, as
// chunks again when rechunk (trailer fields are read and dropped), or
// plain (to an HTTP/1.0 client, whose response ends at close).
func (bc *bodyCopy) chunked(rechunk bool) error {
	for {
		size, err := bc.chunkSize()
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if rechunk {
			if err := writeChunkSize(bc.dst, size); err != nil {
				return err
			}
		}
		if err := bc.exact(size); err != nil {
			return err
		}
		crlf, err := bc.src.ReadSlice('\n')
		if err != nil || string(crlf) != "\r\n" {
			return &srcError{errBadChunk}
		}
		if rechunk {
			if _, err := bc.dst.WriteString("\r\n"); err != nil {
				return &dstError{err}
			}
		}
	}
	for { // trailer section
		l, err := bc.src.ReadSlice('\n')
		if err != nil {
			return &srcError{errBadChunk}
		}
		if string(l) == "\r\n" {
			break
		}
	}
	if rechunk {
		if _, err := bc.dst.WriteString("0\r\n\r\n"); err != nil {
			return &dstError{err}
		}
	}
	return nil
}

// chunkSize reads a chunk-size line: hex digits, optional extensions.
func (bc *bodyCopy) chunkSize() (int64, error) {
	l, err := bc.src.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			err = errBadChunk
		}
		return 0, &srcError{err}
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return 0, &srcError{errBadChunk}
	}
	l = l[:len(l)-2]
	for i, c := range l {
		if c == ';' || c == ' ' || c == '\t' {
			l = l[:i]
			break
		}
	}
	if len(l) == 0 || len(l) > 15 {
		return 0, &srcError{errBadChunk}
	}
	var n int64
	for _, c := range l {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, &srcError{errBadChunk}
		}
		n = n<<4 | int64(d)
	}
	if bc.limit > 0 && bc.n+n > bc.limit {
		return 0, &http.MaxBytesError{Limit: bc.limit}
	}
	return n, nil
}

func writeChunkSize(w *bufio.Writer, n int64) error {
	var b [20]byte
	out := strconv.AppendInt(b[:0], n, 16)
	out = append(out, '\r', '\n')
	if _, err := w.Write(out); err != nil {
		return &dstError{err}
	}
	return nil
}
