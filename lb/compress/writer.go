package compress

import (
	"net/http"
	"strconv"
	"strings"
)

// Writer compresses one response on its way to an http.ResponseWriter.
// It decides when the head is written (WriteHeader, or the first Write):
// the response is encoded when the client accepts a coding offered, the
// request asked for no range, and the response is of a configured type,
// not already encoded, not a range (206, Content-Range), not marked
// no-transform, has a body (not 1xx, 204, 304) and is not known to be
// smaller than min_size. Then Content-Length and Accept-Ranges go,
// Content-Encoding is set, a strong ETag becomes weak (the bytes differ
// from the identity representation's), and Vary gets Accept-Encoding
// (also when this client took identity: the answer depends on the field).
// The body streams through the encoder; Close ends the encoding.
type Writer struct {
	w       http.ResponseWriter
	c       *Compressor
	coding  string // negotiated; Identity: none
	head    bool   // a HEAD request: headers as for GET, no body
	ranged  bool   // the request has a Range field
	decided bool
	enc     encoder // nil: the body passes as it is
	encName string
}

// Wrap returns a Writer over w for a request with this method,
// Accept-Encoding and Range presence. The caller must Close it after
// the response is written.
func (c *Compressor) Wrap(w http.ResponseWriter, method, acceptEncoding string, ranged bool) *Writer {
	return &Writer{w: w, c: c, coding: c.Negotiate(acceptEncoding), head: method == http.MethodHead, ranged: ranged}
}

// Header is the underlying writer's header map.
func (cw *Writer) Header() http.Header { return cw.w.Header() }

// Unwrap lets http.ResponseController reach the underlying writer (a
// WebSocket hijack after 101).
func (cw *Writer) Unwrap() http.ResponseWriter { return cw.w }

// Coding is the coding chosen for the body (Identity before the head is
// written, or when the body passes as it is).
func (cw *Writer) Coding() string { return cw.encName }

// WriteHeader decides, rewrites the head, and writes it.
func (cw *Writer) WriteHeader(status int) {
	if status < 200 {
		cw.w.WriteHeader(status) // informational: the real head follows
		return
	}
	if cw.decided {
		return
	}
	cw.decided = true
	h := cw.w.Header()
	if cw.eligible(status, h) {
		addVary(h, "Accept-Encoding")
		if cw.coding != Identity {
			cw.encode(h)
		}
	}
	cw.w.WriteHeader(status)
}

// eligible reports whether the response's encoding depends on
// Accept-Encoding: whether it would be compressed for a client that
// accepts a coding offered.
func (cw *Writer) eligible(status int, h http.Header) bool {
	switch status {
	case http.StatusNoContent, http.StatusPartialContent, http.StatusNotModified:
		return false
	}
	if cw.ranged || h.Get("Content-Range") != "" {
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	if hasToken(h.Values("Cache-Control"), "no-transform") {
		return false
	}
	if !cw.c.compressible(h.Get("Content-Type")) {
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && n < cw.c.cfg.MinSize {
			return false
		}
	}
	return true
}

// encode rewrites h for cw.coding and starts the encoder.
func (cw *Writer) encode(h http.Header) {
	h.Del("Content-Length")
	h.Del("Accept-Ranges")
	h.Set("Content-Encoding", cw.coding)
	if et := h.Get("Etag"); strings.HasPrefix(et, `"`) {
		h.Set("Etag", "W/"+et)
	}
	cw.encName = cw.coding
	if cw.head {
		return
	}
	enc, err := cw.c.encs.get(cw.coding, cw.w)
	if err != nil { // cannot happen: New checked the codings
		h.Del("Content-Encoding")
		cw.encName = Identity
		return
	}
	cw.enc = enc
}

// Write writes body bytes, through the encoder when there is one.
func (cw *Writer) Write(p []byte) (int, error) {
	if !cw.decided {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.enc != nil {
		return cw.enc.Write(p)
	}
	return cw.w.Write(p)
}

// Flush sends what the encoder holds and flushes the underlying writer
// (a streamed response: events, long polls).
func (cw *Writer) Flush() {
	if cw.enc != nil {
		_ = cw.enc.Flush()
	}
	if f, ok := cw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Close finishes the encoding (the coding's trailer) and returns the
// encoder to its pool. It writes nothing when no body was encoded.
func (cw *Writer) Close() error {
	if cw.enc == nil {
		return nil
	}
	err := cw.enc.Close()
	cw.c.encs.put(cw.encName, cw.enc)
	cw.enc = nil
	return err
}

// addVary adds name to the Vary field unless it is listed already or
// the field is "*".
func addVary(h http.Header, name string) {
	vs := h.Values("Vary")
	if hasToken(vs, name) || hasToken(vs, "*") {
		return
	}
	if len(vs) == 0 {
		h.Set("Vary", name)
		return
	}
	h.Set("Vary", strings.Join(vs, ", ")+", "+name)
}

// hasToken reports whether a comma-separated list field (its values)
// holds tok (case-insensitive; parameters after "=" ignored).
func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item, _, _ = strings.Cut(item, "=")
			if strings.EqualFold(strings.TrimSpace(item), tok) {
				return true
			}
		}
	}
	return false
}
