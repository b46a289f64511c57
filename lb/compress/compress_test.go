package compress

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	all := []string{Brotli, Zstd, Gzip}
	cases := []struct {
		name, ae string
		offered  []string
		want     string
	}{
		{"absent", "", all, Identity},
		{"gzip only", "gzip", all, Gzip},
		{"x-gzip alias", "x-gzip", all, Gzip},
		{"tie goes to server order", "gzip, br, zstd", all, Brotli},
		{"tie without br", "gzip, zstd", all, Zstd},
		{"q prefers gzip", "br;q=0.5, gzip", all, Gzip},
		{"q with spaces and case", "BR ; Q=0.9 , GZIP;q=0.8", all, Brotli},
		{"q=0 excludes", "br;q=0, gzip", all, Gzip},
		{"all excluded", "br;q=0, gzip;q=0, zstd;q=0", all, Identity},
		{"star", "*", all, Brotli},
		{"star with exclusion", "*, br;q=0", all, Zstd},
		{"star q=0 and gzip", "*;q=0, gzip", all, Gzip},
		{"unknown only", "deflate, compress", all, Identity},
		{"identity preferred", "gzip;q=0.5, identity", all, Identity},
		{"identity tie goes to coding", "identity, gzip", all, Gzip},
		{"offered limits", "br, gzip", []string{Gzip}, Gzip},
		{"offered order", "br, gzip", []string{Gzip, Brotli}, Gzip},
		{"bad q skipped", "br;q=2, gzip", all, Gzip},
		{"bad q text skipped", "br;q=x, gzip;q=0.1", all, Gzip},
		{"three decimals", "br;q=0.001, gzip;q=0.002", all, Gzip},
		{"too many decimals skipped", "br;q=0.0001, gzip;q=0.002", all, Gzip},
		{"q=1.000", "br;q=1.000", all, Brotli},
		{"empty items", ",, ,gzip,", all, Gzip},
		{"chrome", "gzip, deflate, br, zstd", all, Brotli},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Negotiate(tc.ae, tc.offered); got != tc.want {
				t.Errorf("Negotiate(%q, %v) = %q, want %q", tc.ae, tc.offered, got, tc.want)
			}
		})
	}
}

func TestNormalizeAcceptEncoding(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"gzip, deflate, br", "br,deflate,gzip"},
		{"br,gzip,deflate", "br,deflate,gzip"},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
		{"gzip;q=0.5, br", "br,gzip;q=0.5"},
		{"gzip;q=0.05, br;q=0.125", "br;q=0.125,gzip;q=0.05"},
		{"gzip;q=0, br", "br"},
		{"*", "br,deflate,gzip,zstd"},
		{"*;q=0", "identity;q=0"},
		{"identity", ""},
		{"identity;q=0, gzip", "gzip,identity;q=0"},
		{"foo, bar", ""},
	}
	for _, tc := range cases {
		if got := NormalizeAcceptEncoding(tc.in); got != tc.want {
			t.Errorf("NormalizeAcceptEncoding(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown coding", Config{Encodings: []string{"deflate"}}, `compress.encodings[0]: "deflate": a coding lbd makes`},
		{"level high", Config{Level: 10}, "compress.level: 10: 1 (fastest) to 9"},
		{"level low", Config{Level: -1}, "compress.level: -1"},
		{"min size", Config{MinSize: -5}, "compress.min_size: -5"},
		{"type", Config{Types: []string{"json"}}, `compress.types[0]: "json"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config(); got.Level != DefaultLevel || got.MinSize != DefaultMinSize || len(got.Encodings) != 3 {
		t.Errorf("defaults not filled: %+v", got)
	}
}

var text = []byte(strings.Repeat(`{"id": 42, "name": "order", "items": ["a", "b", "c"]}`+"\n", 200))

// respond writes a response through a Writer and returns the recorder.
func respond(t *testing.T, c *Compressor, method, ae string, ranged bool, status int, h http.Header, body []byte) (*httptest.ResponseRecorder, *Writer) {
	t.Helper()
	rec := httptest.NewRecorder()
	cw := c.Wrap(rec, method, ae, ranged)
	for k, vs := range h {
		cw.Header()[k] = vs
	}
	cw.WriteHeader(status)
	if method != http.MethodHead && status != 204 && status != 304 {
		for chunk := range slicesChunk(body, 1000) {
			if _, err := cw.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return rec, cw
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func jsonHeader(n int) http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Content-Length": {strconv.Itoa(n)},
		"Etag": {`"v1"`}, "Accept-Ranges": {"bytes"}}
}

func TestWriterDecides(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	with := func(mod func(http.Header)) http.Header {
		h := jsonHeader(len(text))
		mod(h)
		return h
	}
	cases := []struct {
		name     string
		method   string
		ae       string
		ranged   bool
		status   int
		h        http.Header
		coding   string
		wantVary bool
	}{
		{"json br", "GET", "br, gzip", false, 200, jsonHeader(len(text)), Brotli, true},
		{"json gzip", "GET", "gzip", false, 200, jsonHeader(len(text)), Gzip, true},
		{"json zstd", "GET", "zstd", false, 200, jsonHeader(len(text)), Zstd, true},
		{"no accept-encoding: identity but Vary", "GET", "", false, 200, jsonHeader(len(text)), Identity, true},
		{"html", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Type", "text/html") }), Gzip, true},
		{"suffix type", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Type", "application/problem+json") }), Gzip, true},
		{"png", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Type", "image/png") }), Identity, false},
		{"no type", "GET", "gzip", false, 200, with(func(h http.Header) { h.Del("Content-Type") }), Identity, false},
		{"small", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Length", "100") }), Identity, false},
		{"unknown length", "GET", "gzip", false, 200, with(func(h http.Header) { h.Del("Content-Length") }), Gzip, true},
		{"already encoded", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Encoding", "gzip") }), Identity, false},
		{"identity encoding field", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Encoding", "identity") }), Gzip, true},
		{"range request", "GET", "gzip", true, 200, jsonHeader(len(text)), Identity, false},
		{"206", "GET", "gzip", false, 206, with(func(h http.Header) { h.Set("Content-Range", "bytes 0-9/100") }), Identity, false},
		{"content-range on 200", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Content-Range", "bytes 0-9/100") }), Identity, false},
		{"no-transform", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Cache-Control", "public, no-transform") }), Identity, false},
		{"304", "GET", "gzip", false, 304, jsonHeader(len(text)), Identity, false},
		{"204", "GET", "gzip", false, 204, jsonHeader(len(text)), Identity, false},
		{"404 json", "GET", "gzip", false, 404, jsonHeader(len(text)), Gzip, true},
		{"HEAD like GET", "HEAD", "br", false, 200, jsonHeader(len(text)), Brotli, true},
		{"vary kept", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Vary", "Origin") }), Gzip, true},
		{"vary star", "GET", "gzip", false, 200, with(func(h http.Header) { h.Set("Vary", "*") }), Gzip, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, cw := respond(t, c, tc.method, tc.ae, tc.ranged, tc.status, tc.h, text)
			h := rec.Result().Header
			if cw.Coding() != tc.coding || h.Get("Content-Encoding") != tc.coding && !(tc.coding == Identity && h.Get("Content-Encoding") == tc.h.Get("Content-Encoding")) {
				t.Fatalf("coding %q, Content-Encoding %q; want %q", cw.Coding(), h.Get("Content-Encoding"), tc.coding)
			}
			if got := hasToken(h.Values("Vary"), "Accept-Encoding"); got != tc.wantVary {
				t.Errorf("Vary %q: Accept-Encoding listed %v, want %v", h.Values("Vary"), got, tc.wantVary)
			}
			if tc.h.Get("Vary") == "Origin" && !hasToken(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %q lost Origin", h.Values("Vary"))
			}
			if tc.coding == Identity {
				if tc.method != http.MethodHead && tc.status != 204 && tc.status != 304 && !bytes.Equal(rec.Body.Bytes(), text) {
					t.Errorf("identity body changed: %d bytes, want %d", rec.Body.Len(), len(text))
				}
				if h.Get("Etag") != tc.h.Get("Etag") {
					t.Errorf("ETag %q changed on an identity response", h.Get("Etag"))
				}
				return
			}
			if h.Get("Content-Length") != "" || h.Get("Accept-Ranges") != "" {
				t.Errorf("Content-Length %q / Accept-Ranges %q kept on an encoded response", h.Get("Content-Length"), h.Get("Accept-Ranges"))
			}
			if h.Get("Etag") != `W/"v1"` {
				t.Errorf("ETag %q, want the weak W/\"v1\"", h.Get("Etag"))
			}
			if tc.method == http.MethodHead {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD got a body of %d bytes", rec.Body.Len())
				}
				return
			}
			if rec.Body.Len() >= len(text)/2 {
				t.Errorf("encoded body is %d bytes for %d of JSON: not compressed", rec.Body.Len(), len(text))
			}
			decodeEqual(t, tc.coding, rec.Body.Bytes(), text)
		})
	}
}

func decodeEqual(t *testing.T, coding string, enc, want []byte) {
	t.Helper()
	r, err := NewReader(coding, bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s round trip: got %d bytes, want %d", coding, len(got), len(want))
	}
}

// TestRoundTripReuse encodes many responses per coding and level, so
// pooled encoders are reused, and decodes each.
func TestRoundTripReuse(t *testing.T) {
	for _, level := range []int{1, 5, 9} {
		c, err := New(Config{Level: level})
		if err != nil {
			t.Fatal(err)
		}
		for _, coding := range []string{Brotli, Zstd, Gzip} {
			for i := range 4 {
				body := bytes.Repeat([]byte("lbd "+strconv.Itoa(i)+" "), 500+i*300)
				rec, _ := respond(t, c, "GET", coding, false, 200, jsonHeader(len(body)), body)
				decodeEqual(t, coding, rec.Body.Bytes(), body)
			}
		}
	}
}

// TestStreaming: a flush sends what was written so far, decodable before
// the response ends (no whole-body buffering).
func TestStreaming(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, coding := range []string{Brotli, Zstd, Gzip} {
		t.Run(coding, func(t *testing.T) {
			rec := httptest.NewRecorder()
			cw := c.Wrap(rec, "GET", coding, false)
			cw.Header().Set("Content-Type", "text/event-stream")
			first := []byte(strings.Repeat("data: first\n", 20))
			if _, err := cw.Write(first); err != nil {
				t.Fatal(err)
			}
			cw.Flush()
			if !rec.Flushed {
				t.Fatal("Flush did not reach the underlying writer")
			}
			r, err := NewReader(coding, bytes.NewReader(rec.Body.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(first))
			if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, first) {
				t.Fatalf("after Flush, decoded %q (%v); want the first event", got, err)
			}
			if err := cw.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func BenchmarkGzipWriter(b *testing.B) {
	c, err := New(Config{Encodings: []string{Gzip}, Level: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	h := jsonHeader(len(text))
	for b.Loop() {
		rec := httptest.NewRecorder()
		cw := c.Wrap(rec, "GET", "gzip", false)
		for k, v := range h {
			cw.Header()[k] = v
		}
		_, _ = cw.Write(text)
		_ = cw.Close()
	}
}
