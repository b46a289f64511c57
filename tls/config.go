package tls

import (
	"context"
	"crypto/rand"
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"netsim/internal/tick"
)

// CipherSuites are the TLS 1.2 suites offered: ECDHE key exchange with an
// AEAD only (TLS 1.3 suites are not configurable and all AEAD). ECDSA before
// RSA, AES-GCM before ChaCha20 (crypto/tls reorders for clients without AES
// hardware).
var CipherSuites = []uint16{
	ctls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	ctls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	ctls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	ctls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	ctls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	ctls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Curves are the key-exchange groups: the X25519/ML-KEM-768 hybrid for
// clients that offer it (TLS 1.3), then X25519 and P-256.
var Curves = []ctls.CurveID{ctls.X25519MLKEM768, ctls.X25519, ctls.CurveP256}

// ALPN protocol ids.
const (
	ALPNH2    = "h2"
	ALPNHTTP1 = "http/1.1"
)

// CertSource picks a certificate per handshake; *Store is one.
type CertSource interface {
	GetCertificate(*ctls.ClientHelloInfo) (*ctls.Certificate, error)
}

// ClientAuth modes for ServerOptions.ClientAuth.
const (
	ClientAuthNone     = ""         // no client certificate asked
	ClientAuthOptional = "optional" // verified against the CA when sent
	ClientAuthRequire  = "require"  // required and verified (mTLS)
)

// ServerOptions configure a frontend's *tls.Config.
type ServerOptions struct {
	Certs CertSource // required
	// NextProtos for ALPN; default h2, http/1.1. A frontend that serves only
	// HTTP/1.1 must say so here.
	NextProtos []string
	// ClientCAFile enables client-certificate authentication against the CAs
	// in this PEM file; ClientAuth picks optional or require (default
	// require when a CA file is set).
	ClientCAFile string
	ClientAuth   string
	// Tickets rotates session-ticket keys; nil leaves crypto/tls's own
	// rotation (daily, per process). DisableTickets turns resumption by
	// ticket off.
	Tickets        *TicketKeys
	DisableTickets bool
	Metrics        *Metrics
}

// ServerConfig builds a frontend's *tls.Config: TLS 1.2 and 1.3 only,
// ECDHE+AEAD suites, X25519 and P-256, ALPN, certificates from o.Certs,
// optional mTLS, session tickets with key rotation and handshake metrics.
//
// The returned config hands every handshake to an inner config through
// GetConfigForClient, so ticket-key rotation keeps working after a caller
// (such as http.Server.ServeTLS) clones the config.
func ServerConfig(o ServerOptions) (*ctls.Config, error) {
	if o.Certs == nil {
		return nil, errors.New("tls: server config needs a certificate source")
	}
	inner := &ctls.Config{
		MinVersion:       ctls.VersionTLS12,
		CipherSuites:     CipherSuites,
		CurvePreferences: Curves,
		GetCertificate:   o.Certs.GetCertificate,
		NextProtos:       o.NextProtos,
	}
	if inner.NextProtos == nil {
		inner.NextProtos = []string{ALPNH2, ALPNHTTP1}
	}
	if o.ClientCAFile != "" {
		pool, err := LoadCAPool(o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		inner.ClientCAs = pool
		switch o.ClientAuth {
		case ClientAuthRequire, "":
			inner.ClientAuth = ctls.RequireAndVerifyClientCert
		case ClientAuthOptional:
			inner.ClientAuth = ctls.VerifyClientCertIfGiven
		default:
			return nil, fmt.Errorf("tls: client_auth %q: want %q or %q", o.ClientAuth, ClientAuthOptional, ClientAuthRequire)
		}
	} else if o.ClientAuth != ClientAuthNone {
		return nil, fmt.Errorf("tls: client_auth %q needs a client CA file", o.ClientAuth)
	}
	if o.DisableTickets {
		inner.SessionTicketsDisabled = true
	} else if o.Tickets != nil {
		o.Tickets.attach(inner)
	}
	if o.Metrics != nil {
		m := o.Metrics
		inner.VerifyConnection = func(cs ctls.ConnectionState) error {
			m.ObserveHandshake(cs, 0)
			return nil
		}
	}
	outer := inner.Clone()
	outer.GetConfigForClient = func(*ctls.ClientHelloInfo) (*ctls.Config, error) { return inner, nil }
	return outer, nil
}

// LoadCAPool reads PEM CA certificates from file; an empty or unreadable
// file is an error naming it.
func LoadCAPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &FileError{file, err}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, &FileError{file, errors.New("no PEM certificates found")}
	}
	return pool, nil
}

// ClientOptions configure the balancer's TLS towards backends
// (re-encryption).
type ClientOptions struct {
	// CAFile verifies backends; empty uses the system roots.
	CAFile string
	// ServerName to verify when backends are dialled by address.
	ServerName string
	// CertFile and KeyFile present a client certificate to backends.
	CertFile, KeyFile string
	NextProtos        []string
	// InsecureSkipVerify turns verification off; for labs only.
	InsecureSkipVerify bool
	// SessionCache is the number of backend sessions kept for resumption
	// (default 256; negative: none).
	SessionCache int
}

// ClientConfig builds the *tls.Config for connections to backends: TLS 1.2+,
// the same suites and groups, verification against o.CAFile, session
// resumption.
func ClientConfig(o ClientOptions) (*ctls.Config, error) {
	c := &ctls.Config{
		MinVersion:         ctls.VersionTLS12,
		CipherSuites:       CipherSuites,
		CurvePreferences:   Curves,
		ServerName:         o.ServerName,
		NextProtos:         o.NextProtos,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // explicit, documented lab switch
	}
	if o.CAFile != "" {
		pool, err := LoadCAPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := LoadPair(o.CertFile, o.KeyFile, time.Now())
		if err != nil {
			return nil, err
		}
		c.Certificates = []ctls.Certificate{*cert.TLS}
	}
	switch {
	case o.SessionCache == 0:
		c.ClientSessionCache = ctls.NewLRUClientSessionCache(256)
	case o.SessionCache > 0:
		c.ClientSessionCache = ctls.NewLRUClientSessionCache(o.SessionCache)
	}
	return c, nil
}

// TicketKeys rotates session-ticket keys: a new key encrypts tickets every
// Interval, and the last Keep keys still decrypt, so a ticket stays usable
// for up to Interval×Keep. One TicketKeys may be shared by several
// frontends so that a ticket from one is accepted by the others.
type TicketKeys struct {
	interval time.Duration
	keep     int

	mu      sync.Mutex
	keys    [][32]byte
	configs []*ctls.Config
	rotated time.Time
	now     func() time.Time
}

// NewTicketKeys creates the first key. Defaults: interval 1h, keep 4.
func NewTicketKeys(interval time.Duration, keep int) (*TicketKeys, error) {
	if interval <= 0 {
		interval = time.Hour
	}
	if keep <= 0 {
		keep = 4
	}
	t := &TicketKeys{interval: interval, keep: keep, now: time.Now}
	if err := t.Rotate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *TicketKeys) attach(c *ctls.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.configs = append(t.configs, c)
	c.SetSessionTicketKeys(t.keys)
}

// Rotate puts a fresh key in front and drops keys beyond Keep.
func (t *TicketKeys) Rotate() error {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := append([][32]byte{k}, t.keys...)
	if len(keys) > t.keep {
		keys = keys[:t.keep]
	}
	t.keys = keys
	t.rotated = t.now()
	for _, c := range t.configs {
		c.SetSessionTicketKeys(keys)
	}
	return nil
}

// Len is the number of keys currently accepted.
func (t *TicketKeys) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

// Run rotates every interval until ctx is done.
func (t *TicketKeys) Run(ctx context.Context) {
	tick.Every(ctx, t.interval, func() { _ = t.Rotate() }) // crypto/rand does not fail on Linux
}
