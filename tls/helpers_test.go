package tls

import (
	"context"
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"time"

	"netsim/internal/testutil"
)

// Test fixtures are made by the code under test (CA.Issue) in t.TempDir();
// nothing is checked in.

type fixture struct {
	t   *testing.T
	dir string
	ca  *CA
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca, err := NewCA("test CA", time.Now().Add(-time.Hour), 24*time.Hour*365)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), ca: ca}
	if err := os.WriteFile(f.path("ca.pem"), ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

// issue writes name.pem and name-key.pem and returns the Pair.
func (f *fixture) issue(name string, o LeafOptions) Pair {
	f.t.Helper()
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(30 * 24 * time.Hour)
	}
	certPEM, keyPEM, err := f.ca.Issue(o)
	if err != nil {
		f.t.Fatal(err)
	}
	p := Pair{Cert: f.path(name + ".pem"), Key: f.path(name + "-key.pem")}
	f.write(p.Cert, certPEM)
	f.write(p.Key, keyPEM)
	return p
}

// siteStore is a store holding one certificate, for www.example.test.
func (f *fixture) siteStore() *Store {
	f.t.Helper()
	store, err := NewStore([]Pair{f.issue("site", LeafOptions{Names: []string{"www.example.test"}})}, StoreOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return store
}

// serveSite serves p from a new store (with o) behind an echo server, and
// connects to it once as a client of www.example.test; it returns the
// store, the server's address, the client's config and the connection.
func (f *fixture) serveSite(t *testing.T, p Pair, o StoreOptions) (*Store, string, *ctls.Config, *ctls.Conn) {
	t.Helper()
	store, err := NewStore([]Pair{p}, o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := ServerConfig(ServerOptions{Certs: store})
	srv := startServer(t, cfg, ListenerOptions{})
	cc := &ctls.Config{ServerName: "www.example.test", RootCAs: f.roots()}
	c, err := dial(t, srv.addr, cc)
	if err != nil {
		t.Fatal(err)
	}
	return store, srv.addr, cc, c
}

func (f *fixture) write(file string, data []byte) {
	f.t.Helper()
	if err := writeFile(file, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.ca.Cert)
	return p
}

// server runs an echo server behind NewListener and returns its address.
type server struct {
	addr string
	ln   *Listener
}

func startServer(t *testing.T, cfg *ctls.Config, o ListenerOptions) *server {
	t.Helper()
	inner := testutil.Listen(t)
	s := &server{addr: inner.Addr().String(), ln: NewListener(inner, cfg, o)}
	testutil.Serve(t, s.ln, func(c net.Conn) { _, _ = io.Copy(c, c) }) // echo
	return s
}

// dial handshakes, does one echo round trip (which also reads TLS 1.3
// session tickets) and returns the connection.
func dial(t *testing.T, addr string, cfg *ctls.Config) (*ctls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := ctls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if err := echo(c, "ping"); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func echo(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
