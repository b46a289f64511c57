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
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	nstls "netsim/tls"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlsbench pki|serve|handshakes [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
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
	_ = fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "pki":
		var p nstls.PKI
		p, err = nstls.EnsureDemoPKI(*dir, nil)
		if err == nil {
			fmt.Println(p.CACert, p.Cert, p.Key)
		}
	case "serve":
		err = serve(ctx, *listen, *cert, *key)
	case "handshakes":
		err = handshakes(*addr, *ca, *name, *conc, *dur, *tls13)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsbench:", err)
		os.Exit(1)
	}
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

func handshakes(addr, caFile, name string, conc int, d time.Duration, tls13 bool) error {
	roots := x509.NewCertPool()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		roots.AppendCertsFromPEM(pem)
	}
	cfg := &ctls.Config{ServerName: name, RootCAs: roots, CurvePreferences: []ctls.CurveID{ctls.X25519, ctls.CurveP256}, // P-256 too: TLS 1.2 servers check the ECDSA certificate's curve against it
		MaxVersion: ctls.VersionTLS13, NextProtos: []string{"http/1.1"}}
	if !tls13 {
		cfg.MaxVersion = ctls.VersionTLS12
		cfg.CipherSuites = []uint16{ctls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	req := []byte("GET / HTTP/1.1\r\nHost: " + name + "\r\nConnection: close\r\n\r\n")
	for range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
				c := ctls.Client(raw, cfg) // no session cache: every handshake is full
				err = c.Handshake()
				if err == nil {
					_, err = c.Write(req)
				}
				if err == nil {
					var resp *http.Response
					resp, err = http.ReadResponse(bufio.NewReader(c), nil)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
				_ = raw.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		})
	}
	wg.Wait()
	if ok.Load() == 0 {
		return fmt.Errorf("no handshake succeeded: %v", firstErr.Load())
	}
	fmt.Printf("handshakes %d failed %d per_second %.0f\n", ok.Load(), failed.Load(), float64(ok.Load())/d.Seconds())
	return nil
}
