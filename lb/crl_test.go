package lb

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// The demo server certificate names a CRL distribution point on the admin
// listener, and the admin listener serves a CRL there signed by the demo CA.
func TestDemoCRLPublished(t *testing.T) {
	h, _ := demoHarness(t)
	pki := h.srv.DemoPKI()
	certPEM, err := os.ReadFile(pki.Cert)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.CRLDistributionPoints) != 1 {
		t.Fatalf("CRL distribution points %v, want one", leaf.CRLDistributionPoints)
	}
	caPEM, _ := os.ReadFile(pki.CACert)
	blk, _ = pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://%s%s", h.srv.AdminAddr(), demoCRLPath))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET %s: %d %s", demoCRLPath, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("CRL not signed by the demo CA: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 0 || !crl.NextUpdate.After(time.Now()) {
		t.Fatalf("CRL: %d revoked, next update %v", len(crl.RevokedCertificateEntries), crl.NextUpdate)
	}
}
