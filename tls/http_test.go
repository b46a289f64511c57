package tls

import (
	"context"
	ctls "crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// The documented wiring: http.Server.Serve on NewListener serves HTTP/2
// and HTTP/1.1 over TLS with r.TLS set.
func TestHTTPServeOnListener(t *testing.T) {
	f := newFixture(t)
	store := f.siteStore()
	cfg, _ := ServerConfig(ServerOptions{Certs: store})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil {
				http.Error(w, "no TLS state", 500)
				return
			}
			io.WriteString(w, r.Proto+" "+r.TLS.ServerName)
		})}
	ln := NewListener(inner, cfg, ListenerOptions{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	for _, tt := range []struct {
		h2   bool
		want string
	}{{true, "HTTP/2.0 www.example.test"}, {false, "HTTP/1.1 www.example.test"}} {
		tr := &http.Transport{TLSClientConfig: &ctls.Config{RootCAs: f.roots()}, ForceAttemptHTTP2: tt.h2,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, inner.Addr().String())
			}}
		if !tt.h2 {
			tr.TLSNextProto = map[string]func(string, *ctls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := c.Get("https://www.example.test/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if string(b) != tt.want {
			t.Fatalf("got %q, want %q", b, tt.want)
		}
	}
}
