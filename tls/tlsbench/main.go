// Command tlsbench is the TLS side of bench/lb-tls.sh:
//
//	tlsbench pki        -dir DIR                    # demo PKI, prints the file paths
//	tlsbench serve      -listen 127.0.0.1:18443 -cert C -key K
//	tlsbench handshakes -addr 127.0.0.1:18443 -ca CA -c 32 -d 10s
//
// serve terminates TLS with netsim/tls exactly as lbd's HTTPS frontend does
// (Store, ServerConfig with ticket rotation, handshake-first Listener) and
// answers every request with a short 200, so the figure is TLS termination
// and HTTP serving without a backend hop. handshakes opens connections with
// no session cache (every handshake full), ECDSA P-256 and X25519, sends one
// request and closes. It is a benchmark tool, not part of lbd.
package main

import (
	"bufio"
	"context"
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"netsim/internal/benchtool"
	nstls "netsim/tls"
)

func main() {
	fs := flag.NewFlagSet("tlsbench", flag.ExitOnError)
	dir := fs.String("dir", "var/pki", "PKI directory (pki)")
	listen := fs.String("listen", "127.0.0.1:18443", "listen address (serve)")
	cert := fs.String("cert", "", "certificate file (serve)")
	key := fs.String("key", "", "key file (serve)")
	addr := fs.String("addr", "127.0.0.1:18443", "server address (handshakes)")
	ca := fs.String("ca", "", "CA file (handshakes)")
	name := fs.String("name", "www.example.test", "server name (handshakes)")
	conc := fs.Int("c", 32, "concurrent clients (handshakes)")
	dur := fs.Duration("d", 10*time.Second, "duration (handshakes)")
	tls13 := fs.Bool("tls13", true, "TLS 1.3 (false: TLS 1.2)")
	verify := fs.Bool("verify", true, "handshakes: verify the server's certificate chain (false: the client still checks the handshake signature, but not the chain, which halves its own work)")
	benchtool.Main(fs, map[string]func(context.Context) error{
		"pki": func(context.Context) error {
			p, err := nstls.EnsureDemoPKI(*dir, nil)
			if err == nil {
				fmt.Println(p.CACert, p.Cert, p.Key)
			}
			return err
		},
		"serve":      func(ctx context.Context) error { return serve(ctx, *listen, *cert, *key) },
		"handshakes": func(context.Context) error { return handshakes(*addr, *ca, *name, *conc, *dur, *tls13, *verify) },
	})
}

func serve(ctx context.Context, listen, cert, key string) error {
	store, err := nstls.NewStore([]nstls.Pair{{Cert: cert, Key: key}}, nstls.StoreOptions{})
	if err != nil {
		return err
	}
	keys, err := nstls.NewTicketKeys(time.Hour, 4)
	if err != nil {
		return err
	}
	go keys.Run(ctx)
	cfg, err := nstls.ServerConfig(nstls.ServerOptions{Certs: store, Tickets: keys})
	if err != nil {
		return err
	}
	inner, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	ln := nstls.NewListener(inner, cfg, nstls.ListenerOptions{})
	body := []byte("ok\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "3")
			_, _ = w.Write(body)
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Println("ready", inner.Addr())
	// Serve, not ServeTLS: the listener already hands out *tls.Conn with the
	// handshake done; net/http recognises them (r.TLS, ALPN h2).
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func handshakes(addr, caFile, name string, conc int, d time.Duration, tls13, verify bool) error {
	roots := x509.NewCertPool()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		roots.AppendCertsFromPEM(pem)
	}
	cfg := &ctls.Config{ServerName: name, RootCAs: roots, CurvePreferences: []ctls.CurveID{ctls.X25519, ctls.CurveP256}, // P-256 too: TLS 1.2 servers check the ECDSA certificate's curve against it
		MaxVersion: ctls.VersionTLS13, NextProtos: []string{"http/1.1"}, InsecureSkipVerify: !verify}
	if !tls13 {
		cfg.MaxVersion = ctls.VersionTLS12
		cfg.CipherSuites = []uint16{ctls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	}
	req := []byte("GET / HTTP/1.1\r\nHost: " + name + "\r\nConnection: close\r\n\r\n")
	r := benchtool.Loop(conc, d, func() error {
		raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		_ = raw.(*net.TCPConn).SetLinger(0)
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		c := ctls.Client(raw, cfg) // no session cache: every handshake is full
		defer c.Close()
		if err := c.Handshake(); err != nil {
			return err
		}
		if _, err := c.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	if r.OK == 0 {
		return fmt.Errorf("no handshake succeeded: %v", r.First)
	}
	fmt.Println(r.Line("handshakes"))
	return nil
}
