package tls

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultPKIDir is where the demo PKI lives, relative to the working
// directory.
const DefaultPKIDir = "var/pki"

// DefaultDemoNames are the names of the demo server certificate.
var DefaultDemoNames = []string{"*.example.test", "example.test", "localhost", "127.0.0.1", "::1"}

// File names inside the PKI directory.
const (
	CACertFile     = "ca.pem"
	CAKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
	ClientCertFile = "client.pem"
	ClientKeyFile  = "client-key.pem"
)

// Validity of the demo PKI and the margin under which it is renewed.
const (
	caValidity   = 5 * 365 * 24 * time.Hour
	leafValidity = 397 * 24 * time.Hour // the CA/Browser Forum ceiling
	renewBefore  = 30 * 24 * time.Hour
	backdate     = time.Hour // tolerate clients with a slow clock
)

// PKI is a demo PKI on disk. Paths are absolute.
type PKI struct {
	Dir        string
	CACert     string
	CAKey      string
	Cert       string // server leaf, followed by nothing: clients trust CACert
	Key        string
	ClientCert string // a client certificate for mTLS demos ("demo-client")
	ClientKey  string
	CRL        string // DER CRL of the CA ("" without PKIOptions.CRLURL)
	Names      []string
	NotAfter   time.Time // of the server certificate
	CANotAfter time.Time
	// CreatedCA and IssuedLeaf say what this call wrote (false: reused).
	CreatedCA  bool
	IssuedLeaf bool
}

// PKIOptions configure EnsurePKI.
type PKIOptions struct {
	Dir   string   // default DefaultPKIDir
	Names []string // default DefaultDemoNames
	Now   func() time.Time
	// CRLURL, when set, goes into the server certificate as its CRL
	// distribution point, and an (empty) CRL signed by the CA is written to
	// ca.crl for the server to publish at that URL.
	CRLURL string
}

// EnsureDemoPKI makes sure dir holds a demo CA and a server certificate for
// names (see EnsurePKI).
func EnsureDemoPKI(dir string, names []string) (PKI, error) {
	return EnsurePKI(PKIOptions{Dir: dir, Names: names})
}

// EnsurePKI makes sure o.Dir holds a demo CA (ECDSA P-256, name-constrained
// to the domains of the names, so trusting it cannot vouch for anything
// else) and server and client certificates signed by it. It is idempotent:
// files that are present, valid for more than 30 days, signed by the CA and
// covering every name are reused; otherwise the leaf (or, if the CA itself
// is unusable, everything) is made again. Keys are written 0600 in a 0700
// directory, each file atomically. It is PlanPKI followed by Write.
func EnsurePKI(o PKIOptions) (PKI, error) {
	plan, err := PlanPKI(o)
	if err != nil {
		return PKI{}, err
	}
	if err := plan.Write(); err != nil {
		return PKI{}, err
	}
	return plan.PKI, nil
}

// PKIPlan is what EnsurePKI would do, worked out without writing: the
// resulting PKI, its server certificate and the files to write. A reload
// plans first and writes only once everything else has been validated.
type PKIPlan struct {
	PKI PKI
	// Server is the server certificate the PKI will hold (reused or new),
	// for a Store to serve before (or without) reading it from disk.
	Server *Certificate
	writes []pendingFile
}

type pendingFile struct {
	name string
	data []byte
	perm os.FileMode
}

// Write creates the directory and writes the planned files, each
// atomically (keys before certificates). Nothing to write: nothing done.
func (p *PKIPlan) Write() error {
	if len(p.writes) == 0 {
		return nil
	}
	if err := os.MkdirAll(p.PKI.Dir, 0o700); err != nil {
		return fmt.Errorf("tls: creating %s: %w", p.PKI.Dir, err)
	}
	for _, w := range p.writes {
		if err := writeFile(w.name, w.data, w.perm); err != nil {
			return fmt.Errorf("tls: writing %s: %w", w.name, err)
		}
	}
	return nil
}

// PlanPKI reads o.Dir and works out what EnsurePKI would write, without
// writing anything. It fails when o.Dir exists and is not a directory.
func PlanPKI(o PKIOptions) (*PKIPlan, error) {
	if o.Dir == "" {
		o.Dir = DefaultPKIDir
	}
	if len(o.Names) == 0 {
		o.Names = DefaultDemoNames
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	names := make([]string, 0, len(o.Names))
	for _, n := range o.Names {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if n == "" {
			return nil, errors.New("tls: empty name in the demo certificate names")
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("tls: demo PKI directory %s is a file, want a directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tls: demo PKI directory: %w", err)
	}
	plan := &PKIPlan{}
	write := func(name string, data []byte, perm os.FileMode) {
		plan.writes = append(plan.writes, pendingFile{name, data, perm})
	}
	p := PKI{
		Dir:    dir,
		CACert: filepath.Join(dir, CACertFile), CAKey: filepath.Join(dir, CAKeyFile),
		Cert: filepath.Join(dir, ServerCertFile), Key: filepath.Join(dir, ServerKeyFile),
		ClientCert: filepath.Join(dir, ClientCertFile), ClientKey: filepath.Join(dir, ClientKeyFile),
		Names: names,
	}
	now := o.Now()

	ca, err := loadCA(p.CACert, p.CAKey, now, names)
	if err != nil {
		ca, err = newDemoCA(now, names)
		if err != nil {
			return nil, err
		}
		write(p.CAKey, ca.KeyPEM, 0o600)
		write(p.CACert, ca.CertPEM, 0o644)
		p.CreatedCA = true
	}
	p.CANotAfter = ca.Cert.NotAfter

	leaf, err := checkLeaf(p.Cert, p.Key, ca, now, names, x509.ExtKeyUsageServerAuth)
	if err == nil && !slices.Equal(leaf.TLS.Leaf.CRLDistributionPoints, crlPoints(o.CRLURL)) {
		err = errors.New("CRL distribution point changed")
	}
	if err != nil || p.CreatedCA {
		certPEM, keyPEM, err := ca.Issue(LeafOptions{Names: names, NotBefore: now.Add(-backdate), NotAfter: now.Add(leafValidity), CRLURL: o.CRLURL})
		if err != nil {
			return nil, err
		}
		if leaf, err = ParsePair(certPEM, keyPEM, now); err != nil {
			return nil, err
		}
		leaf.CertFile, leaf.KeyFile = p.Cert, p.Key
		write(p.Key, keyPEM, 0o600)
		write(p.Cert, certPEM, 0o644)
		p.IssuedLeaf = true
	}
	p.NotAfter = leaf.NotAfter
	if o.CRLURL != "" {
		// the demo CA revokes nothing: an empty list, valid as long as the CA
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(now.Unix()), ThisUpdate: now.Add(-backdate), NextUpdate: ca.Cert.NotAfter,
		}, ca.Cert, ca.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: demo CRL: %w", err)
		}
		p.CRL = filepath.Join(dir, CRLFile)
		write(p.CRL, der, 0o644)
	}

	clientName := []string{"demo-client.example.test"}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, "example.test") }) {
		clientName = []string{names[0]}
	}
	if _, err := checkLeaf(p.ClientCert, p.ClientKey, ca, now, clientName, x509.ExtKeyUsageClientAuth); err != nil || p.CreatedCA {
		certPEM, keyPEM, err := ca.Issue(LeafOptions{Names: clientName, NotBefore: now.Add(-backdate), NotAfter: now.Add(leafValidity), Client: true})
		if err != nil {
			return nil, err
		}
		write(p.ClientKey, keyPEM, 0o600)
		write(p.ClientCert, certPEM, 0o644)
	}
	plan.PKI, plan.Server = p, leaf
	return plan, nil
}

// CRLFile is the demo CA's certificate revocation list (DER).
const CRLFile = "ca.crl"

func crlPoints(url string) []string {
	if url == "" {
		return nil
	}
	return []string{url}
}

// newDemoCA makes a CA whose name constraints permit only the domains of
// names (two last labels, e.g. example.test) and loopback addresses.
func newDemoCA(now time.Time, names []string) (*CA, error) {
	ca, err := NewCA("netsim demo CA", now.Add(-backdate), caValidity)
	if err != nil {
		return nil, err
	}
	// Re-sign with name constraints: NewCA makes a plain CA, the demo CA
	// narrows what it can vouch for.
	tmpl := *ca.Cert
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = constraintDomains(names)
	_, lo4, _ := net.ParseCIDR("127.0.0.0/8")
	_, lo6, _ := net.ParseCIDR("::1/128")
	tmpl.PermittedIPRanges = []*net.IPNet{lo4, lo6}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil && !ip.IsLoopback() {
			bits := 8 * len(ip.To16())
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, ca.Key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca.Cert, ca.CertPEM = cert, encodeCert(der)
	return ca, nil
}

// constraintDomains: "www.example.test" and "*.example.test" → example.test;
// "localhost" → localhost. IPs are skipped.
func constraintDomains(names []string) []string {
	var out []string
	for _, n := range names {
		if net.ParseIP(n) != nil {
			continue
		}
		n = strings.TrimPrefix(n, "*.")
		labels := strings.Split(n, ".")
		if len(labels) > 2 {
			n = strings.Join(labels[len(labels)-2:], ".")
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func loadCA(certFile, keyFile string, now time.Time, names []string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if now.Before(ca.Cert.NotBefore) || now.Add(renewBefore).After(ca.Cert.NotAfter) {
		return nil, errors.New("CA expired or expiring")
	}
	for _, d := range constraintDomains(names) {
		if !slices.Contains(ca.Cert.PermittedDNSDomains, d) {
			return nil, fmt.Errorf("CA does not permit %s", d)
		}
	}
	return ca, nil
}

// checkLeaf loads a leaf and checks it chains to ca for every name with
// usage, and is valid for more than renewBefore.
func checkLeaf(certFile, keyFile string, ca *CA, now time.Time, names []string, usage x509.ExtKeyUsage) (*Certificate, error) {
	c, err := LoadPair(certFile, keyFile, now)
	if err != nil {
		return nil, err
	}
	if now.Add(renewBefore).After(c.NotAfter) {
		return nil, errors.New("expiring")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, n := range names {
		if _, err := c.TLS.Leaf.Verify(x509.VerifyOptions{
			DNSName: n, Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage},
		}); err != nil {
			return nil, err
		}
	}
	if usage == x509.ExtKeyUsageServerAuth && len(c.DNSNames)+len(c.IPs) != len(names) {
		return nil, errors.New("names changed") // drop names no longer wanted
	}
	return c, nil
}

// writeFile writes data to a temporary file and renames it into place.
func writeFile(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// HowToTrust returns the text a banner prints: where the CA is and how to
// make curl, the system, browsers and Go programs trust it.
func (p PKI) HowToTrust() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Demo CA: %s (ECDSA P-256, valid until %s, limited to %s and loopback addresses)\n",
		p.CACert, p.CANotAfter.UTC().Format("2006-01-02"), strings.Join(constraintDomains(p.Names), ", "))
	fmt.Fprintf(&b, "Server certificate: %s for %s (valid until %s)\n", p.Cert, strings.Join(p.Names, ", "), p.NotAfter.UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "Trust it:\n")
	fmt.Fprintf(&b, "  curl:    curl --cacert %s --resolve www.example.test:8443:127.0.0.1 https://www.example.test:8443/\n", p.CACert)
	fmt.Fprintf(&b, "  mTLS:    add --cert %s --key %s\n", p.ClientCert, p.ClientKey)
	fmt.Fprintf(&b, "  Go, OpenSSL tools: SSL_CERT_FILE=%s\n", p.CACert)
	fmt.Fprintf(&b, "  Debian/Ubuntu system store: sudo cp %s /usr/local/share/ca-certificates/netsim-demo-ca.crt && sudo update-ca-certificates\n", p.CACert)
	fmt.Fprintf(&b, "    (undo: sudo rm /usr/local/share/ca-certificates/netsim-demo-ca.crt && sudo update-ca-certificates --fresh)\n")
	fmt.Fprintf(&b, "  Firefox/Chrome: Settings > Certificates > Authorities > Import %s\n", p.CACert)
	fmt.Fprintf(&b, "The CA key %s stays on this machine (0600); delete %s to start over.\n", p.CAKey, p.Dir)
	return b.String()
}
