package labs

import (
	"context"
	"crypto/sha256"
	ctls "crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	nstls "netsim/tls"
)

// breakCert writes, where the HTTPS frontends' certificate store watches,
// a certificate for the same names signed by the demo CA that is valid for
// CertLife only. The store takes it while it is valid (it refuses expired
// files), then keeps serving it after it expires, as a server does whose
// certificate nobody renewed. The original files are kept for fix.
func breakCert(ctx context.Context, e *Env, b *Broken) error {
	certFile := filepath.Join(e.PKIDir, nstls.ServerCertFile)
	keyFile := filepath.Join(e.PKIDir, nstls.ServerKeyFile)
	served, err := e.servedCert(ctx)
	if err != nil {
		return err
	}
	origCert, certMode, err := readKeep(certFile)
	if err != nil {
		return err
	}
	origKey, keyMode, err := readKeep(keyFile)
	if err != nil {
		return err
	}
	leaf, err := firstCert(origCert)
	if err != nil {
		return fmt.Errorf("%s: %w", certFile, err)
	}
	if fp := fingerprint(leaf); fp != fingerprint(served) {
		return fmt.Errorf("%s (%s) serves another certificate than %s holds; expired-cert works on the demo PKI's server certificate", e.HTTPS, fingerprint(served)[:16], certFile)
	}
	caCert, err := os.ReadFile(filepath.Join(e.PKIDir, nstls.CACertFile))
	if err != nil {
		return err
	}
	caKey, err := os.ReadFile(filepath.Join(e.PKIDir, nstls.CAKeyFile))
	if err != nil {
		return err
	}
	ca, err := nstls.ParseCA(caCert, caKey)
	if err != nil {
		return fmt.Errorf("the demo CA in %s: %w", e.PKIDir, err)
	}
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	now := time.Now()
	notAfter := now.Add(e.CertLife).Truncate(time.Second)
	certPEM, keyPEM, err := ca.Issue(nstls.LeafOptions{Names: names, NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: notAfter})
	if err != nil {
		return err
	}
	newLeaf, err := firstCert(certPEM)
	if err != nil {
		return err
	}
	// the undo steps first: a failure half way still puts both back
	b.Undo = append(b.Undo, Step{File: &File{Path: certFile, Content: origCert, Mode: certMode}}, Step{File: &File{Path: keyFile, Content: origKey, Mode: keyMode}})
	b.Cert = fingerprint(leaf)
	if err := writeAtomic(keyFile, keyPEM, keyMode); err != nil {
		return err
	}
	if err := writeAtomic(certFile, certPEM, certMode); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "  %s: a certificate for %v valid until %s (originals kept for fix)\n", certFile, names, notAfter.UTC().Format(time.RFC3339))
	want := fingerprint(newLeaf)
	if err := e.waitFor(ctx, "the HTTPS frontend to serve the new certificate", func(ctx context.Context) (bool, string) {
		c, err := e.servedCert(ctx)
		if err != nil {
			return false, err.Error()
		}
		return fingerprint(c) == want, "serves " + fingerprint(c)[:16]
	}); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "  %s serves it; waiting for it to expire\n", e.HTTPS)
	t := time.NewTimer(time.Until(notAfter) + time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintf(e.Out, "  expired at %s; still served\n", notAfter.UTC().Format(time.RFC3339))
	return nil
}

func readKeep(path string) ([]byte, os.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (expired-cert needs the demo PKI netsim made; is PKIDir right?)", err)
	}
	b, err := os.ReadFile(path)
	return b, fi.Mode(), err
}

func firstCert(pemData []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, pemData = pem.Decode(pemData)
		if blk == nil {
			return nil, fmt.Errorf("no CERTIFICATE block")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// servedCert is the leaf the HTTPS frontend presents now (not verified:
// an expired one is what we may be looking for).
func (e *Env) servedCert(ctx context.Context) (*x509.Certificate, error) {
	d := ctls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &ctls.Config{InsecureSkipVerify: true, ServerName: "www.example.test"}}
	c, err := d.DialContext(ctx, "tcp", e.HTTPS)
	if err != nil {
		return nil, fmt.Errorf("TLS to %s: %w", e.HTTPS, err)
	}
	defer c.Close()
	certs := c.(*ctls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("TLS to %s: no certificate", e.HTTPS)
	}
	return certs[0], nil
}
