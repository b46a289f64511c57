// Package tls holds the load balancer's certificates: loading PEM pairs,
// choosing one by SNI, reloading them without dropping connections, the
// server and client *tls.Config the balancer uses, handshake metrics, and a
// local CA for demos.
package tls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	ctls "crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Certificate is a loaded key pair with what the store and the admin API
// need to know about it.
type Certificate struct {
	TLS      *ctls.Certificate // Leaf is set
	CertFile string
	KeyFile  string
	// DNSNames and IPs from the leaf's SAN (DNS names lowercased).
	DNSNames  []string
	IPs       []string
	Subject   string
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	Serial    string
	KeyType   string // "ECDSA P-256", "RSA 2048", "Ed25519"
	// ChainLen counts the certificates in the file (leaf + intermediates).
	ChainLen int
}

// Info is the JSON view of a certificate for the admin API.
type Info struct {
	Names     []string  `json:"names"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// ExpiresIn is whole seconds left (negative when expired).
	ExpiresIn int64  `json:"expires_in_seconds"`
	Serial    string `json:"serial"`
	KeyType   string `json:"key_type"`
	ChainLen  int    `json:"chain_length"`
	CertFile  string `json:"cert_file,omitempty"`
	KeyFile   string `json:"key_file,omitempty"`
	Default   bool   `json:"default"`
}

// Info describes c at time now.
func (c *Certificate) Info(now time.Time) Info {
	names := append(append([]string{}, c.DNSNames...), c.IPs...)
	return Info{
		Names: names, Subject: c.Subject, Issuer: c.Issuer,
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		ExpiresIn: int64(c.NotAfter.Sub(now) / time.Second),
		Serial:    c.Serial, KeyType: c.KeyType, ChainLen: c.ChainLen,
		CertFile: c.CertFile, KeyFile: c.KeyFile,
	}
}

// FileError is a certificate refused because of one file: it names the
// file and says why.
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string { return e.File + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Reasons a certificate is refused; test with errors.Is.
var (
	ErrExpired     = errors.New("certificate has expired")
	ErrNotYetValid = errors.New("certificate is not valid yet")
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	ErrNoCert      = errors.New("no CERTIFICATE block in PEM data")
	ErrNoKey       = errors.New("no PRIVATE KEY block in PEM data")
)

// LoadPair reads a PEM certificate chain and its key and checks them at
// time now: the key must match the leaf, and the leaf must be valid now.
// Errors are *FileError naming the file at fault.
func LoadPair(certFile, keyFile string, now time.Time) (*Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FileError{certFile, err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FileError{keyFile, err}
	}
	c, err := ParsePair(certPEM, keyPEM, now)
	if err != nil {
		file := certFile
		if errors.Is(err, ErrNoKey) || errors.Is(err, ErrKeyMismatch) || strings.Contains(err.Error(), "private key") {
			file = keyFile
		}
		if errors.Is(err, ErrKeyMismatch) {
			err = fmt.Errorf("%w %s", err, certFile)
		}
		return nil, &FileError{file, err}
	}
	c.CertFile, c.KeyFile = certFile, keyFile
	return c, nil
}

// ParsePair is LoadPair on PEM bytes.
func ParsePair(certPEM, keyPEM []byte, now time.Time) (*Certificate, error) {
	pair, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	leaf := pair.Leaf
	switch {
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("%w: valid from %s", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("%w: expired %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c := &Certificate{
		TLS:       pair,
		Subject:   leaf.Subject.String(),
		Issuer:    leaf.Issuer.String(),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		Serial:    leaf.SerialNumber.Text(16),
		KeyType:   keyType(leaf.PublicKey),
		ChainLen:  len(pair.Certificate),
	}
	for _, n := range leaf.DNSNames {
		c.DNSNames = append(c.DNSNames, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	for _, ip := range leaf.IPAddresses {
		c.IPs = append(c.IPs, ip.String())
	}
	if len(c.DNSNames) == 0 && len(c.IPs) == 0 && leaf.Subject.CommonName != "" {
		// Legacy certificate without SAN: clients ignore the CN, but the
		// store can still route by it.
		c.DNSNames = []string{strings.ToLower(leaf.Subject.CommonName)}
	}
	return c, nil
}

// parsePair decodes a chain and key, checking the key matches and that
// every block is what it claims; the leaf is parsed into pair.Leaf.
func parsePair(certPEM, keyPEM []byte) (*ctls.Certificate, error) {
	if !hasBlock(certPEM, "CERTIFICATE") {
		return nil, ErrNoCert
	}
	if !hasBlock(keyPEM, "PRIVATE KEY") {
		return nil, ErrNoKey
	}
	pair, err := ctls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, ErrKeyMismatch
		}
		return nil, err
	}
	if pair.Leaf == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, err
		}
		pair.Leaf = leaf
	}
	for i, der := range pair.Certificate[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("chain certificate %d: %v", i+2, err)
		}
	}
	return &pair, nil
}

// hasBlock reports whether data holds a PEM block whose type ends in typ
// ("PRIVATE KEY" matches "EC PRIVATE KEY" and "RSA PRIVATE KEY").
func hasBlock(data []byte, typ string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, typ) {
			return true
		}
	}
}

func keyType(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
