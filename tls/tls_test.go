package tls

import (
	ctls "crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

func TestSNISelection(t *testing.T) {
	f := newFixture(t)
	pairs := []Pair{
		f.issue("exact", LeafOptions{Names: []string{"a.example.test"}}),
		f.issue("wild", LeafOptions{Names: []string{"*.example.test"}}),
		f.issue("dual-ec", LeafOptions{Names: []string{"dual.test"}}),
		f.issue("dual-rsa", LeafOptions{Names: []string{"dual.test"}, KeyType: RSA2048}),
		f.issue("ip", LeafOptions{Names: []string{"127.0.0.1"}}),
	}
	def := f.issue("default", LeafOptions{Names: []string{"default.test"}})
	def.Default = true
	pairs = append(pairs, def)
	store, err := NewStore(pairs, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ServerConfig(ServerOptions{Certs: store})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, cfg, ListenerOptions{})

	tests := []struct {
		name, sni string
		rsaOnly   bool
		want      string // first SAN of the served leaf
		wantKey   string
	}{
		{name: "exact", sni: "a.example.test", want: "a.example.test"},
		{name: "exact beats wildcard, any case", sni: "A.Example.TEST", want: "a.example.test"},
		{name: "wildcard", sni: "www.example.test", want: "*.example.test"},
		{name: "wildcard is one label", sni: "x.www.example.test", want: "default.test"},
		{name: "wildcard does not cover apex", sni: "example.test", want: "default.test"},
		{name: "unknown name gets default", sni: "unknown.org", want: "default.test"},
		{name: "no SNI: by local IP", sni: "", want: "127.0.0.1"},
		{name: "dual: ECDSA preferred", sni: "dual.test", want: "dual.test", wantKey: "ECDSA P-256"},
		{name: "dual: RSA-only client", sni: "dual.test", rsaOnly: true, want: "dual.test", wantKey: "RSA 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &ctls.Config{ServerName: tt.sni, InsecureSkipVerify: true}
			if tt.rsaOnly {
				cc.MaxVersion = ctls.VersionTLS12
				cc.CipherSuites = []uint16{ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
			}
			c, err := dial(t, srv.addr, cc)
			if err != nil {
				t.Fatal(err)
			}
			leaf := c.ConnectionState().PeerCertificates[0]
			got := ""
			if len(leaf.DNSNames) > 0 {
				got = leaf.DNSNames[0]
			} else {
				got = leaf.IPAddresses[0].String()
			}
			if got != tt.want {
				t.Fatalf("served %q, want %q", got, tt.want)
			}
			if tt.wantKey != "" && keyType(leaf.PublicKey) != tt.wantKey {
				t.Fatalf("key %s, want %s", keyType(leaf.PublicKey), tt.wantKey)
			}
		})
	}
	// Lookup agrees with the handshakes and says when it fell back.
	if c, ok := store.Lookup("www.example.test"); !ok || c.DNSNames[0] != "*.example.test" {
		t.Fatalf("Lookup wildcard: %v %v", c.DNSNames, ok)
	}
	if c, ok := store.Lookup("nope.org"); ok || c.DNSNames[0] != "default.test" {
		t.Fatalf("Lookup default: %v %v", c.DNSNames, ok)
	}
	infos := store.Certificates()
	if len(infos) != 6 {
		t.Fatalf("%d certificates listed", len(infos))
	}
	defaults := 0
	for _, in := range infos {
		if in.Default {
			defaults++
			if in.Names[0] != "default.test" {
				t.Fatalf("default is %v", in.Names)
			}
		}
		if !strings.Contains(in.Issuer, "test CA") || in.ExpiresIn <= 0 {
			t.Fatalf("info %+v", in)
		}
	}
	if defaults != 1 {
		t.Fatalf("%d defaults", defaults)
	}
}

func TestStoreConfigErrors(t *testing.T) {
	f := newFixture(t)
	good := f.issue("good", LeafOptions{Names: []string{"a.test"}})
	two := []Pair{good, good}
	two[0].Default, two[1].Default = true, true
	for _, tt := range []struct {
		name  string
		pairs []Pair
		want  string
	}{
		{"none", nil, "no certificates"},
		{"missing key", []Pair{{Cert: good.Cert}}, "both cert and key"},
		{"two defaults", two, "2 certificates are marked default"},
		{"missing file", []Pair{good, {Cert: f.path("nope.pem"), Key: good.Key}}, f.path("nope.pem")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStore(tt.pairs, StoreOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func serial(t *testing.T, c *ctls.Conn) string {
	t.Helper()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

func TestReloadWhileConnectionOpen(t *testing.T) {
	for _, mode := range []string{"on demand", "watch"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			p := f.issue("site", LeafOptions{Names: []string{"www.example.test"}})
			store, addr, cc, old := f.serveSite(t, p, StoreOptions{})
			oldSerial := serial(t, old)

			p2 := f.issue("site", LeafOptions{Names: []string{"www.example.test"}}) // same files, new cert
			if p2 != p {
				t.Fatal("fixture changed paths")
			}
			if mode == "on demand" {
				if err := store.Reload(); err != nil {
					t.Fatal(err)
				}
			} else {
				ctx, cancel := contextWithCancel()
				defer cancel()
				go store.Watch(ctx, 10*time.Millisecond)
				testutil.WaitFor(t, "watch to reload", 10*time.Second, func() bool {
					c, _ := store.Lookup("www.example.test")
					return c.Serial != oldSerial
				})
			}
			fresh, err := dial(t, addr, cc)
			if err != nil {
				t.Fatal(err)
			}
			if serial(t, fresh) == oldSerial {
				t.Fatal("new connection still got the old certificate")
			}
			// The connection opened before the reload keeps working.
			if err := echo(old, "still here"); err != nil {
				t.Fatalf("old connection broken by reload: %v", err)
			}
		})
	}
}

func TestBadFileRefused(t *testing.T) {
	f := newFixture(t)
	other := f.issue("other", LeafOptions{Names: []string{"other.test"}})
	otherKey, _ := os.ReadFile(other.Key)
	otherCert, _ := os.ReadFile(other.Cert)
	tests := []struct {
		name     string
		mutate   func(p Pair)
		wantFile func(p Pair) string
		wantErr  error
	}{
		{name: "key does not match", mutate: func(p Pair) { f.write(p.Key, otherKey) },
			wantFile: func(p Pair) string { return p.Key }, wantErr: ErrKeyMismatch},
		{name: "cert replaced, key not yet", mutate: func(p Pair) { f.write(p.Cert, otherCert) },
			wantFile: func(p Pair) string { return p.Key }, wantErr: ErrKeyMismatch},
		{name: "expired", mutate: func(p Pair) {
			f.issue("site", LeafOptions{Names: []string{"www.example.test"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		}, wantFile: func(p Pair) string { return p.Cert }, wantErr: ErrExpired},
		{name: "not yet valid", mutate: func(p Pair) {
			f.issue("site", LeafOptions{Names: []string{"www.example.test"}, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
		}, wantFile: func(p Pair) string { return p.Cert }, wantErr: ErrNotYetValid},
		{name: "unreadable", mutate: func(p Pair) { os.Remove(p.Cert) },
			wantFile: func(p Pair) string { return p.Cert }, wantErr: os.ErrNotExist},
		{name: "garbage", mutate: func(p Pair) { f.write(p.Cert, []byte("not a certificate\n")) },
			wantFile: func(p Pair) string { return p.Cert }, wantErr: ErrNoCert},
		{name: "truncated PEM", mutate: func(p Pair) {
			b, _ := os.ReadFile(p.Cert)
			f.write(p.Cert, b[:len(b)/2])
		}, wantFile: func(p Pair) string { return p.Cert }, wantErr: ErrNoCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.issue("site", LeafOptions{Names: []string{"www.example.test"}})
			reg := prometheus.NewRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			store, addr, cc, before := f.serveSite(t, p, StoreOptions{Metrics: m})
			tt.mutate(p)
			err = store.Reload()
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != tt.wantFile(p) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Reload: %v; want a FileError on %s wrapping %v", err, tt.wantFile(p), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantFile(p)) {
				t.Fatalf("message %q does not name the file", err)
			}
			after, err := dial(t, addr, cc)
			if err != nil {
				t.Fatalf("old certificate no longer served: %v", err)
			}
			if serial(t, after) != serial(t, before) {
				t.Fatal("served certificate changed after a refused reload")
			}
			if got := testutil.Value(t, m.reloads.WithLabelValues("error")); got != 1 {
				t.Fatalf("reload errors %v", got)
			}
		})
	}
}

func TestProtocolPolicy(t *testing.T) {
	f := newFixture(t)
	store := f.siteStore()
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	cfg, _ := ServerConfig(ServerOptions{Certs: store, Metrics: m})
	srv := startServer(t, cfg, ListenerOptions{Metrics: m})
	base := func() *ctls.Config { return &ctls.Config{ServerName: "www.example.test", RootCAs: f.roots()} }
	tests := []struct {
		name       string
		cfg        func(c *ctls.Config)
		wantErr    bool
		reason     string
		wantALPN   string
		wantVer    uint16
		wantSuites []uint16
	}{
		{name: "TLS 1.0 refused", cfg: func(c *ctls.Config) { c.MinVersion, c.MaxVersion = ctls.VersionTLS10, ctls.VersionTLS10 }, wantErr: true, reason: ReasonProtocolVersion},
		{name: "TLS 1.1 refused", cfg: func(c *ctls.Config) { c.MinVersion, c.MaxVersion = ctls.VersionTLS11, ctls.VersionTLS11 }, wantErr: true, reason: ReasonProtocolVersion},
		{name: "TLS 1.2", cfg: func(c *ctls.Config) { c.MaxVersion = ctls.VersionTLS12 }, wantVer: ctls.VersionTLS12},
		{name: "TLS 1.3", cfg: func(c *ctls.Config) {}, wantVer: ctls.VersionTLS13},
		{name: "CBC suite refused", cfg: func(c *ctls.Config) {
			c.MaxVersion = ctls.VersionTLS12
			c.CipherSuites = []uint16{ctls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		}, wantErr: true, reason: ReasonNoSharedCipher},
		{name: "P-384 only refused", cfg: func(c *ctls.Config) { c.CurvePreferences = []ctls.CurveID{ctls.CurveP384} }, wantErr: true, reason: ReasonNoSharedCipher},
		{name: "ALPN h2", cfg: func(c *ctls.Config) { c.NextProtos = []string{"h2", "http/1.1"} }, wantALPN: "h2"},
		{name: "ALPN http/1.1", cfg: func(c *ctls.Config) { c.NextProtos = []string{"http/1.1"} }, wantALPN: "http/1.1"},
		{name: "ALPN none offered", cfg: func(c *ctls.Config) {}, wantALPN: ""},
		{name: "ALPN no overlap", cfg: func(c *ctls.Config) { c.NextProtos = []string{"spdy/3"} }, wantErr: true, reason: ReasonNoALPN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := base()
			tt.cfg(cc)
			var before float64
			if tt.reason != "" {
				before = testutil.Value(t, m.errors.WithLabelValues(tt.reason))
			}
			c, err := dial(t, srv.addr, cc)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("handshake succeeded with %s", ctls.VersionName(c.ConnectionState().Version))
				}
				testutil.WaitFor(t, "error counted as "+tt.reason, 10*time.Second, func() bool {
					return testutil.Value(t, m.errors.WithLabelValues(tt.reason)) == before+1
				})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cs := c.ConnectionState()
			if tt.wantVer != 0 && cs.Version != tt.wantVer {
				t.Fatalf("version %s", ctls.VersionName(cs.Version))
			}
			if cs.NegotiatedProtocol != tt.wantALPN {
				t.Fatalf("ALPN %q, want %q", cs.NegotiatedProtocol, tt.wantALPN)
			}
		})
	}
	if got := testutil.Value(t, m.handshakes.WithLabelValues("TLS 1.2", "false")); got < 1 {
		t.Fatalf("TLS 1.2 handshakes counted %v", got)
	}
	if n := testutil.MetricValue(t, reg, "lbd_tls_handshake_duration_seconds"); n < 1 {
		t.Fatalf("duration histogram has %v observations", n)
	}
}

func TestResumption(t *testing.T) {
	f := newFixture(t)
	store := f.siteStore()
	keys, err := NewTicketKeys(time.Hour, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := ServerConfig(ServerOptions{Certs: store, Tickets: keys})
	// http.Server.ServeTLS clones the config: rotation must still apply.
	srv := startServer(t, cfg.Clone(), ListenerOptions{})
	for _, ver := range []uint16{ctls.VersionTLS12, ctls.VersionTLS13} {
		t.Run(ctls.VersionName(ver), func(t *testing.T) {
			cc := &ctls.Config{ServerName: "www.example.test", RootCAs: f.roots(), MaxVersion: ver,
				ClientSessionCache: ctls.NewLRUClientSessionCache(8)}
			resumed := func() bool {
				c, err := dial(t, srv.addr, cc)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				return c.ConnectionState().DidResume
			}
			if resumed() {
				t.Fatal("first connection resumed")
			}
			if !resumed() {
				t.Fatal("second connection did not resume")
			}
			if err := keys.Rotate(); err != nil { // old key still decrypts
				t.Fatal(err)
			}
			if !resumed() {
				t.Fatal("did not resume after one rotation (keep=2)")
			}
			_ = keys.Rotate()
			_ = keys.Rotate() // the key of the last ticket is gone
			if resumed() {
				t.Fatal("resumed with a ticket whose key was rotated out")
			}
		})
	}
	if keys.Len() != 2 {
		t.Fatalf("%d keys kept, want 2", keys.Len())
	}
}

func TestMutualTLS(t *testing.T) {
	f := newFixture(t)
	store := f.siteStore()
	client := f.issue("client", LeafOptions{Names: []string{"client.test"}, Client: true})
	serverAsClient := f.issue("srvleaf", LeafOptions{Names: []string{"x.test"}})
	stranger, _ := NewCA("stranger", time.Now().Add(-time.Hour), time.Hour*48)
	sc, sk, _ := stranger.Issue(LeafOptions{Names: []string{"evil.test"}, Client: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	strangerPair, _ := ctls.X509KeyPair(sc, sk)
	m, _ := NewMetrics(nil)
	for _, mode := range []string{ClientAuthRequire, ClientAuthOptional} {
		cfg, err := ServerConfig(ServerOptions{Certs: store, ClientCAFile: f.path("ca.pem"), ClientAuth: mode})
		if err != nil {
			t.Fatal(err)
		}
		srv := startServer(t, cfg, ListenerOptions{Metrics: m})
		load := func(p Pair) []ctls.Certificate {
			c, err := LoadPair(p.Cert, p.Key, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return []ctls.Certificate{*c.TLS}
		}
		for _, tt := range []struct {
			name   string
			certs  []ctls.Certificate
			ok     bool
			reason string
		}{
			{"no client cert", nil, mode == ClientAuthOptional, ReasonClientCertAbsent},
			{"client cert from the CA", load(client), true, ""},
			{"server-auth cert as client", load(serverAsClient), false, ReasonClientCertBad},
			{"cert from another CA", []ctls.Certificate{strangerPair}, false, ReasonClientCertBad},
		} {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				before := 0.0
				if tt.reason != "" {
					before = testutil.Value(t, m.errors.WithLabelValues(tt.reason))
				}
				cc := &ctls.Config{ServerName: "www.example.test", RootCAs: f.roots(), MaxVersion: ctls.VersionTLS12,
					// Send the certificate even when its issuer is not in the
					// server's list (crypto/tls would otherwise send none).
					GetClientCertificate: func(*ctls.CertificateRequestInfo) (*ctls.Certificate, error) {
						if len(tt.certs) == 0 {
							return &ctls.Certificate{}, nil
						}
						return &tt.certs[0], nil
					}}
				_, err := dial(t, srv.addr, cc)
				if (err == nil) != tt.ok {
					t.Fatalf("err %v, want ok=%v", err, tt.ok)
				}
				if !tt.ok {
					testutil.WaitFor(t, tt.reason, 10*time.Second, func() bool { return testutil.Value(t, m.errors.WithLabelValues(tt.reason)) == before+1 })
				}
			})
		}
	}
	if _, err := ServerConfig(ServerOptions{Certs: store, ClientAuth: "require"}); err == nil {
		t.Fatal("client_auth without a CA accepted")
	}
	if _, err := ServerConfig(ServerOptions{Certs: store, ClientCAFile: f.path("missing.pem")}); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing CA file: %v", err)
	}
}

func TestHandshakeBadInput(t *testing.T) {
	f := newFixture(t)
	store := f.siteStore()
	m, _ := NewMetrics(nil)
	cfg, _ := ServerConfig(ServerOptions{Certs: store})
	srv := startServer(t, cfg, ListenerOptions{Metrics: m, HandshakeTimeout: time.Second, MaxHandshakes: 64})
	for _, tt := range []struct {
		name, send, reason string
	}{
		{"stalled", "", ReasonTimeout},
		{"half a record", "\x16\x03\x01\x02\x00\x01", ReasonTimeout},
		{"plain HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ReasonNotTLS},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.Value(t, m.errors.WithLabelValues(tt.reason))
			conns := make([]net.Conn, 0, 100)
			for range 100 { // more than MaxHandshakes: the limit must not starve a good client
				c, err := net.Dial("tcp", srv.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, _ = c.Write([]byte(tt.send))
				conns = append(conns, c)
			}
			if _, err := dial(t, srv.addr, &ctls.Config{ServerName: "www.example.test", RootCAs: f.roots()}); err != nil {
				t.Fatalf("good client not served while bad ones wait: %v", err)
			}
			testutil.WaitFor(t, "all counted", 10*time.Second, func() bool { return testutil.Value(t, m.errors.WithLabelValues(tt.reason)) == before+100 })
			_ = conns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conns[0].Read(make([]byte, 512)); err == nil {
				// an alert may arrive first; the connection must then close
				if _, err := conns[0].Read(make([]byte, 512)); err == nil {
					t.Fatal("bad connection left open")
				}
			}
		})
	}
}

func TestClientConfig(t *testing.T) {
	f := newFixture(t)
	store, _ := NewStore([]Pair{f.issue("backend", LeafOptions{Names: []string{"backend.internal", "127.0.0.1"}})}, StoreOptions{})
	cfg, _ := ServerConfig(ServerOptions{Certs: store})
	srv := startServer(t, cfg, ListenerOptions{})
	other, _ := NewCA("other", time.Now().Add(-time.Hour), 48*time.Hour)
	f.write(f.path("other-ca.pem"), other.CertPEM)
	for _, tt := range []struct {
		name string
		o    ClientOptions
		ok   bool
	}{
		{"verified by CA and name", ClientOptions{CAFile: f.path("ca.pem"), ServerName: "backend.internal"}, true},
		{"verified by IP", ClientOptions{CAFile: f.path("ca.pem"), ServerName: "127.0.0.1"}, true},
		{"wrong name", ClientOptions{CAFile: f.path("ca.pem"), ServerName: "other.internal"}, false},
		{"wrong CA", ClientOptions{CAFile: f.path("other-ca.pem"), ServerName: "backend.internal"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := ClientConfig(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if cc.MinVersion != ctls.VersionTLS12 || cc.ClientSessionCache == nil {
				t.Fatalf("client config %+v", cc)
			}
			_, err = dial(t, srv.addr, cc)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := ClientConfig(ClientOptions{CAFile: f.path("nope.pem")}); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Fatalf("missing CA: %v", err)
	}
}

func TestExpiryMetric(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	p := f.issue("site", LeafOptions{Names: []string{"www.example.test"}, NotAfter: now.Add(10 * 24 * time.Hour)})
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	if _, err := NewStore([]Pair{p}, StoreOptions{Metrics: m, Now: func() time.Time { return clock }}); err != nil {
		t.Fatal(err)
	}
	// NotAfter is truncated to the second in the certificate.
	clock = now.Truncate(time.Second)
	got := testutil.MetricValue(t, reg, "lbd_tls_certificate_expiry_seconds", "file", p.Cert, "name", "www.example.test")
	if got != 864000 {
		t.Fatalf("expiry %v, want 864000", got)
	}
	clock = clock.Add(11 * 24 * time.Hour)
	if got := testutil.MetricValue(t, reg, "lbd_tls_certificate_expiry_seconds"); got != -86400 {
		t.Fatalf("expired: %v, want -86400", got)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("registering twice did not fail")
	}
}

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{ctls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ReasonNotTLS},
		{os.ErrDeadlineExceeded, ReasonTimeout},
		{errors.New("tls: client offered only unsupported versions: [302 301]"), ReasonProtocolVersion},
		{errors.New("tls: no cipher suite supported by both client and server"), ReasonNoSharedCipher},
		{errors.New("tls: no key exchanges supported by both client and server"), ReasonNoSharedCipher},
		{errors.New("tls: client requested unsupported application protocols ([spdy/3])"), ReasonNoALPN},
		{errors.New("tls: client didn't provide a certificate"), ReasonClientCertAbsent},
		{errors.New("remote error: tls: bad certificate"), ReasonRemoteAlert},
		{errors.New("something new"), ReasonOther},
	} {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
