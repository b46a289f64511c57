package tls

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsurePKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	clock := func() time.Time { return now }
	names := []string{"*.example.test", "example.test", "localhost", "127.0.0.1"}

	p, err := EnsurePKI(PKIOptions{Dir: dir, Names: names, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if !p.CreatedCA || !p.IssuedLeaf || !filepath.IsAbs(p.CACert) {
		t.Fatalf("first run: %+v", p)
	}
	for _, f := range []struct {
		path string
		perm os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {p.CAKey, 0o600}, {p.Key, 0o600}, {p.ClientKey, 0o600}, {p.CACert, 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != f.perm {
			t.Errorf("%s mode %v, want %v", f.path, fi.Mode(), f.perm)
		}
	}
	caPEM, _ := os.ReadFile(p.CACert)
	leafPEM, _ := os.ReadFile(p.Cert)

	verify := func(t *testing.T, name string, usage x509.ExtKeyUsage, certFile string) error {
		t.Helper()
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caPEM) {
			t.Fatal("bad CA PEM")
		}
		c, err := LoadPair(certFile, strings.Replace(certFile, ".pem", "-key.pem", 1), now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.TLS.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	for _, n := range []string{"www.example.test", "example.test", "localhost", "127.0.0.1"} {
		if err := verify(t, n, x509.ExtKeyUsageServerAuth, p.Cert); err != nil {
			t.Errorf("server cert for %s: %v", n, err)
		}
	}
	if err := verify(t, "demo-client.example.test", x509.ExtKeyUsageClientAuth, p.ClientCert); err != nil {
		t.Errorf("client cert: %v", err)
	}

	// The CA is name-constrained: a leaf it signs for another domain does
	// not verify, so trusting it system-wide is safe.
	ca, err := ParseCA(caPEM, must(os.ReadFile(p.CAKey)))
	if err != nil {
		t.Fatal(err)
	}
	evilPEM, evilKey, err := ca.Issue(LeafOptions{Names: []string{"www.bank.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	evil, err := ParsePair(evilPEM, evilKey, now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := evil.TLS.Leaf.Verify(x509.VerifyOptions{DNSName: "www.bank.example", Roots: roots, CurrentTime: now}); err == nil {
		t.Fatal("demo CA can vouch for www.bank.example")
	}

	tests := []struct {
		name               string
		after              time.Duration
		names              []string
		wantCA, wantLeaf   bool
		wantSameCAFileData bool
	}{
		{name: "second run reuses everything", names: names, wantSameCAFileData: true},
		{name: "same names other order", names: []string{"localhost", "example.test", "127.0.0.1", "*.example.test"}, wantSameCAFileData: true},
		{name: "new name in the same domain: new leaf only", names: append(names[:len(names):len(names)], "api.example.test"), wantLeaf: true, wantSameCAFileData: true},
		{name: "new domain: new CA", names: []string{"*.other.test"}, wantCA: true, wantLeaf: true},
		{name: "leaf near expiry: new leaf", names: []string{"*.other.test"}, after: 380 * 24 * time.Hour, wantLeaf: true, wantSameCAFileData: true},
		{name: "CA near expiry: everything new", names: []string{"*.other.test"}, after: 5 * 365 * 24 * time.Hour, wantCA: true, wantLeaf: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = now.Add(tt.after)
			before, _ := os.ReadFile(p.CACert)
			beforeLeaf, _ := os.ReadFile(p.Cert)
			q, err := EnsurePKI(PKIOptions{Dir: dir, Names: tt.names, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			if q.CreatedCA != tt.wantCA || q.IssuedLeaf != tt.wantLeaf {
				t.Fatalf("created CA %v (want %v), issued leaf %v (want %v)", q.CreatedCA, tt.wantCA, q.IssuedLeaf, tt.wantLeaf)
			}
			after, _ := os.ReadFile(q.CACert)
			afterLeaf, _ := os.ReadFile(q.Cert)
			if bytes.Equal(before, after) != tt.wantSameCAFileData {
				t.Fatalf("CA file unchanged=%v, want %v", bytes.Equal(before, after), tt.wantSameCAFileData)
			}
			if bytes.Equal(beforeLeaf, afterLeaf) == tt.wantLeaf {
				t.Fatalf("leaf file unchanged=%v with issued=%v", bytes.Equal(beforeLeaf, afterLeaf), tt.wantLeaf)
			}
			if _, err := LoadPair(q.Cert, q.Key, now); err != nil {
				t.Fatal(err)
			}
		})
	}
	_ = leafPEM

	// A damaged key is replaced rather than trusted.
	if err := os.WriteFile(p.Key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := EnsurePKI(PKIOptions{Dir: dir, Names: []string{"*.other.test"}, Now: clock})
	if err != nil || !q.IssuedLeaf || q.CreatedCA {
		t.Fatalf("damaged key: %+v %v", q, err)
	}

	text := q.HowToTrust()
	for _, want := range []string{"--cacert " + q.CACert, "update-ca-certificates", "SSL_CERT_FILE=" + q.CACert, "other.test"} {
		if !strings.Contains(text, want) {
			t.Errorf("trust text lacks %q:\n%s", want, text)
		}
	}
	if _, err := EnsurePKI(PKIOptions{Dir: dir, Names: []string{" "}}); err == nil {
		t.Fatal("empty name accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func FuzzParsePair(f *testing.F) {
	ca, err := NewCA("fuzz", time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	c, k, err := ca.Issue(LeafOptions{Names: []string{"a.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c, k)
	f.Add(append(c, ca.CertPEM...), k)
	f.Add(c[:len(c)/2], k)
	f.Add(ca.CertPEM, k)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		got, err := ParsePair(certPEM, keyPEM, time.Now())
		if err != nil {
			return
		}
		if got.TLS == nil || got.TLS.Leaf == nil || got.NotAfter.IsZero() {
			t.Fatalf("accepted pair without a leaf: %+v", got)
		}
	})
}
