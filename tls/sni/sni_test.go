package sni

import (
	"bytes"
	"context"
	ctls "crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// captureHello returns the bytes crypto/tls sends as its ClientHello for
// cfg, and what a crypto/tls server saw in it (the reference parser).
func captureHello(t testing.TB, cfg *ctls.Config) ([]byte, *ctls.ClientHelloInfo) {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	go func() {
		_ = ctls.Client(cli, cfg).Handshake() // fails when srv closes
	}()
	var rec bytes.Buffer
	var info *ctls.ClientHelloInfo
	sconn := ctls.Server(&recorder{Conn: srv, w: &rec}, &ctls.Config{
		GetConfigForClient: func(h *ctls.ClientHelloInfo) (*ctls.Config, error) {
			info = h
			return nil, errors.New("captured")
		},
	})
	_ = sconn.Handshake()
	srv.Close()
	if info == nil {
		t.Fatal("no ClientHello captured")
	}
	return rec.Bytes(), info
}

type recorder struct {
	net.Conn
	w *bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.w.Write(p[:n])
	return n, err
}

var helloConfigs = []struct {
	name string
	cfg  *ctls.Config
}{
	{"tls13 sni alpn", &ctls.Config{ServerName: "www.example.test", NextProtos: []string{"h2", "http/1.1"}}},
	{"tls12 only", &ctls.Config{ServerName: "a.example.test", MaxVersion: ctls.VersionTLS12}},
	{"no sni", &ctls.Config{InsecureSkipVerify: true}},
	{"uppercase sni", &ctls.Config{ServerName: "API.Example.TEST"}},
	{"tls10 only", &ctls.Config{ServerName: "old.example.test", MinVersion: ctls.VersionTLS10, MaxVersion: ctls.VersionTLS10}},
	{"long name", &ctls.Config{ServerName: "a-very-long-label-that-goes-on-and-on-for-a-while-0123456789abc.example.test"}},
}

func TestParseRealHellos(t *testing.T) {
	for _, tt := range helloConfigs {
		t.Run(tt.name, func(t *testing.T) {
			raw, ref := captureHello(t, tt.cfg)
			h, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(h.ServerName, ref.ServerName) || h.ServerName != strings.ToLower(h.ServerName) {
				t.Fatalf("ServerName %q, crypto/tls saw %q", h.ServerName, ref.ServerName)
			}
			if !slices.Equal(h.ALPN, ref.SupportedProtos) {
				t.Fatalf("ALPN %v, crypto/tls saw %v", h.ALPN, ref.SupportedProtos)
			}
			if !slices.Equal(h.Versions, ref.SupportedVersions) {
				t.Fatalf("versions %x, crypto/tls saw %x", h.Versions, ref.SupportedVersions)
			}
			if h.Size != len(raw) {
				t.Fatalf("size %d of %d", h.Size, len(raw))
			}
			// Every proper prefix is incomplete, never an error or a hello.
			for i := range len(raw) {
				if _, err := Parse(raw[:i]); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("prefix of %d bytes: %v", i, err)
				}
			}
		})
	}
}

// fragment splits a one-record hello into records of at most n bytes.
func fragment(raw []byte, n int) []byte {
	body := raw[5:]
	var out []byte
	for len(body) > 0 {
		k := min(n, len(body))
		out = append(out, 0x16, raw[1], raw[2], byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return out
}

func TestParseCases(t *testing.T) {
	raw, _ := captureHello(t, helloConfigs[0].cfg)
	hello := func(mut func(b []byte) []byte) []byte { return mut(slices.Clone(raw)) }
	tests := []struct {
		name    string
		data    []byte
		want    error
		wantSNI string
	}{
		{"fragmented in 7-byte records", fragment(raw, 7), nil, "www.example.test"},
		{"fragmented in 1-byte records", fragment(raw, 1), nil, "www.example.test"},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrNotTLS, ""},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.2\r\n"), ErrNotTLS, ""},
		{"alert record", []byte{0x15, 3, 1, 0, 2, 2, 40}, ErrNotTLS, ""},
		{"zero-length record", []byte{0x16, 3, 1, 0, 0}, ErrMalformed, ""},
		{"oversized record", []byte{0x16, 3, 1, 0x40, 0x01}, ErrMalformed, ""},
		{"server hello", []byte{0x16, 3, 3, 0, 4, 2, 0, 0, 0}, ErrNotClientHello, ""},
		{"huge announced message", []byte{0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, ErrTooLarge, ""},
		{"empty hello body", []byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0}, ErrMalformed, ""},
		{"truncated", raw[:len(raw)-1], ErrIncomplete, ""},
		{"record claims more than message", hello(func(b []byte) []byte {
			b = append(b, 0)
			n := len(b) - 5
			b[3], b[4] = byte(n>>8), byte(n)
			return b
		}), ErrMalformed, ""},
		{"message length short by one", hello(func(b []byte) []byte {
			n := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
			n--
			b[6], b[7], b[8] = byte(n>>16), byte(n>>8), byte(n)
			return b
		}), ErrMalformed, ""},
		{"sni with NUL byte", hello(func(b []byte) []byte {
			i := bytes.Index(b, []byte("www.example.test"))
			b[i+3] = 0
			return b
		}), ErrMalformed, ""},
		{"sni with trailing dot", hello(func(b []byte) []byte {
			i := bytes.Index(b, []byte("www.example.test"))
			b[i+len("www.example.test")-1] = '.'
			return b
		}), ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Parse(tt.data)
			if tt.want == nil {
				if err != nil || h.ServerName != tt.wantSNI {
					t.Fatalf("got %q, %v; want %q", h.ServerName, err, tt.wantSNI)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// slowConn hands out its data in small pieces.
type slowConn struct {
	net.Conn
	r io.Reader
}

func (s *slowConn) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 3)]) }

func TestPeek(t *testing.T) {
	raw, _ := captureHello(t, helloConfigs[0].cfg)
	trailer := []byte("rest of the stream")
	tests := []struct {
		name    string
		send    []byte
		close   bool // close the client side after sending
		opts    Options
		want    error
		wantSNI string
	}{
		{name: "hello then more", send: append(slices.Clone(raw), trailer...), wantSNI: "www.example.test"},
		{name: "fragmented", send: append(fragment(raw, 50), trailer...), wantSNI: "www.example.test"},
		{name: "eof inside hello", send: raw[:100], close: true, want: ErrTruncated},
		{name: "eof before anything", close: true, want: ErrTruncated},
		{name: "stall inside hello", send: raw[:100], opts: Options{Timeout: 100 * time.Millisecond}, want: errTimeout},
		{name: "too large for limit", send: raw, opts: Options{MaxSize: 64}, want: ErrTooLarge},
		{name: "not tls", send: []byte("GET / HTTP/1.0\r\n\r\n"), close: true, want: ErrNotTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cli, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if _, err := cli.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.close {
				cli.(*net.TCPConn).CloseWrite()
			}
			h, conn, err := Peek(srv, tt.opts)
			if tt.want != nil {
				if tt.want == errTimeout {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Fatalf("err %v, want a timeout", err)
					}
				} else if !errors.Is(err, tt.want) {
					t.Fatalf("err %v, want %v", err, tt.want)
				}
				if conn == nil || !bytes.HasPrefix(tt.send, conn.Peeked()) {
					t.Fatal("the bytes read are not kept for replay")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerName != tt.wantSNI {
				t.Fatalf("SNI %q", h.ServerName)
			}
			// The deadline is cleared and the stream replays intact,
			// through WriteTo into a TCP connection (the splice path).
			cli.(*net.TCPConn).CloseWrite()
			sink, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			got := make(chan []byte, 1)
			go func() {
				c, err := sink.Accept()
				if err != nil {
					got <- nil
					return
				}
				b, _ := io.ReadAll(c)
				c.Close()
				got <- b
			}()
			out, err := net.Dial("tcp", sink.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, conn); err != nil {
				t.Fatal(err)
			}
			out.Close()
			if b := <-got; !bytes.Equal(b, tt.send) {
				t.Fatalf("replayed %d bytes, sent %d", len(b), len(tt.send))
			}
		})
	}
}

var errTimeout = errors.New("timeout")

func TestPeekByteByByte(t *testing.T) {
	raw, _ := captureHello(t, helloConfigs[1].cfg)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		for _, c := range raw {
			if _, err := a.Write([]byte{c}); err != nil {
				return
			}
		}
	}()
	h, conn, err := Peek(&slowConn{Conn: b, r: b}, Options{Timeout: 10 * time.Second})
	if err != nil || h.ServerName != "a.example.test" {
		t.Fatalf("%q %v", h.ServerName, err)
	}
	if !bytes.Equal(conn.Peeked(), raw) {
		t.Fatal("peeked bytes differ")
	}
}

// The proxy's use: peek, then a real TLS server on the replayed conn
// completes the handshake as if nothing had been read.
func TestPeekThenTerminate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		h, pc, err := Peek(c, Options{})
		if err != nil {
			done <- err
			return
		}
		if h.ServerName != "x.example.test" {
			done <- errors.New("sni " + h.ServerName)
			return
		}
		cert := selfSigned(t)
		s := ctls.Server(pc, &ctls.Config{Certificates: []ctls.Certificate{cert}})
		done <- s.HandshakeContext(context.Background())
	}()
	c, err := ctls.Dial("tcp", ln.Addr().String(), &ctls.Config{ServerName: "x.example.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range helloConfigs {
		raw, _ := captureHello(f, tt.cfg)
		f.Add(raw)
		f.Add(fragment(raw, 13))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff})
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Parse(data)
		if err != nil {
			if h.ServerName != "" {
				t.Fatal("name returned with an error")
			}
			return
		}
		if h.Size > len(data) || h.Size < 5 {
			t.Fatalf("size %d of %d", h.Size, len(data))
		}
		if len(h.ServerName) > 253 || h.ServerName != lower(h.ServerName) {
			t.Fatalf("bad name %q", h.ServerName)
		}
		// Any prefix is incomplete; the parse is stable under extension.
		if _, err := Parse(data[:h.Size-1]); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix: %v", err)
		}
		h2, err := Parse(append(slices.Clone(data[:h.Size]), 0x17, 3, 3, 0, 1, 0))
		if err != nil || h2.ServerName != h.ServerName {
			t.Fatalf("trailing record changed the parse: %v", err)
		}
	})
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

// TestNewConnReplaysPrefix: bytes read ahead by another layer come first,
// by Read and by WriteTo, then the connection's own.
func TestNewConnReplaysPrefix(t *testing.T) {
	for _, how := range []string{"Read", "WriteTo"} {
		t.Run(how, func(t *testing.T) {
			a, b := net.Pipe()
			go func() {
				_, _ = a.Write([]byte("world"))
				_ = a.Close()
			}()
			c := NewConn(b, []byte("hello "))
			var got []byte
			var err error
			if how == "Read" {
				got, err = io.ReadAll(c)
			} else {
				var sb strings.Builder
				_, err = c.WriteTo(&sb)
				got = []byte(sb.String())
			}
			if err != nil || string(got) != "hello world" {
				t.Fatalf("got %q, %v; want \"hello world\"", got, err)
			}
			if len(c.Peeked()) != 0 {
				t.Fatalf("Peeked() = %q after the replay, want nothing", c.Peeked())
			}
		})
	}
}
