package tls

import (
	"context"
	ctls "crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"netsim/internal/filewatch"
)

// Pair names one certificate's files in the store's configuration.
type Pair struct {
	Cert    string `mapstructure:"cert" json:"cert" yaml:"cert"`
	Key     string `mapstructure:"key" json:"key" yaml:"key"`
	Default bool   `mapstructure:"default" json:"default" yaml:"default"`
}

// StoreOptions are the injected dependencies of a Store; all optional.
type StoreOptions struct {
	Log     *zap.Logger
	Now     func() time.Time
	Metrics *Metrics
	// WarnBefore logs a warning at load when a certificate expires sooner
	// than this. Default 14 days.
	WarnBefore time.Duration
}

// Store holds the certificates of a frontend and picks one per handshake by
// SNI: exact name, then wildcard (one label, RFC 6125), then by the local
// IP when the client sent no SNI, then the default. Loads build a new index
// off to the side and swap it in, so handshakes never wait for a reload, and
// a file that fails to load leaves the certificate it was replacing in
// service.
type Store struct {
	log  *zap.Logger
	now  func() time.Time
	met  *Metrics
	warn time.Duration

	mu     sync.Mutex // serialises loads; guards pairs, certs, stamps
	pairs  []Pair
	certs  []*Certificate       // last good certificate of each pair
	stamps [][2]filewatch.Stamp // cert and key file stamps seen at the last attempt
	idx    atomic.Pointer[index]
}

type index struct {
	exact    map[string][]*Certificate
	wildcard map[string][]*Certificate // "example.test" for "*.example.test"
	ips      map[string][]*Certificate
	def      *Certificate
	all      []*Certificate
}

// NewStore loads every pair; at start a file that does not load is an
// error (the caller refuses to start), naming the file.
func NewStore(pairs []Pair, o StoreOptions) (*Store, error) {
	s := &Store{log: o.Log, now: o.Now, met: o.Metrics, warn: o.WarnBefore}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.warn <= 0 {
		s.warn = 14 * 24 * time.Hour
	}
	if err := s.Set(pairs); err != nil {
		return nil, err
	}
	s.met.watch(s)
	return s, nil
}

// Set replaces the configured pairs (a config reload). It is all or
// nothing: if any pair fails to load, the store keeps its current set and
// the error names every file at fault. It is Prepare followed by Commit.
func (s *Store) Set(pairs []Pair) error {
	u, err := s.Prepare(pairs)
	if err != nil {
		return err
	}
	u.Commit()
	return nil
}

// StoreUpdate is a loaded, checked set of certificates that a Store will
// serve once committed; until then the Store serves what it served.
type StoreUpdate struct {
	s      *Store
	pairs  []Pair
	certs  []*Certificate
	stamps [][2]filewatch.Stamp
}

// Prepare loads pairs off to the side: nothing the Store serves changes.
// A certificate in loaded whose CertFile is a pair's cert file is used for
// that pair instead of reading the files (a demo PKI planned but not yet
// written). The error names every file at fault.
func (s *Store) Prepare(pairs []Pair, loaded ...*Certificate) (*StoreUpdate, error) {
	if len(pairs) == 0 {
		return nil, errors.New("tls: no certificates configured")
	}
	defaults := 0
	for i, p := range pairs {
		if p.Cert == "" || p.Key == "" {
			return nil, fmt.Errorf("tls: certificate %d: both cert and key files are needed", i+1)
		}
		if p.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return nil, fmt.Errorf("tls: %d certificates are marked default; mark at most one", defaults)
	}
	now := s.now()
	u := &StoreUpdate{s: s, pairs: slices.Clone(pairs), certs: make([]*Certificate, len(pairs)), stamps: make([][2]filewatch.Stamp, len(pairs))}
	var errs []error
	for i, p := range pairs {
		if j := slices.IndexFunc(loaded, func(c *Certificate) bool { return c != nil && c.CertFile == p.Cert && c.KeyFile == p.Key }); j >= 0 {
			u.certs[i] = loaded[j] // stamps stay zero: the watcher re-reads the files once they are written
			continue
		}
		u.stamps[i] = stat(p)
		c, err := LoadPair(p.Cert, p.Key, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u.certs[i] = c
	}
	if err := errors.Join(errs...); err != nil {
		s.met.reload("error")
		return nil, err
	}
	return u, nil
}

// PrepareReload re-reads every configured file off to the side. Unlike
// Reload it is all or nothing: one pair that fails fails the update.
func (s *Store) PrepareReload() (*StoreUpdate, error) {
	s.mu.Lock()
	pairs := slices.Clone(s.pairs)
	s.mu.Unlock()
	return s.Prepare(pairs)
}

// Commit swaps the update in: the next handshake gets its certificates.
func (u *StoreUpdate) Commit() {
	s := u.s
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := map[string]*Certificate{}
	for i, p := range s.pairs {
		prev[p.Cert+"\x00"+p.Key] = s.certs[i]
	}
	s.pairs, s.certs, s.stamps = u.pairs, u.certs, u.stamps
	s.publish()
	for i, c := range u.certs {
		if !sameCert(c, prev[u.pairs[i].Cert+"\x00"+u.pairs[i].Key]) {
			s.logLoaded(c, "certificate loaded")
		}
	}
	s.met.reload("ok")
}

// Reload re-reads every configured file (on SIGHUP or an API call). A pair
// whose new files fail keeps serving its old certificate; the error names
// the files. Pairs that loaded are swapped in either way.
func (s *Store) Reload() error {
	return s.reload(func(int, [2]filewatch.Stamp) bool { return true })
}

// reloadChanged re-reads the pairs whose files changed since the last
// attempt.
func (s *Store) reloadChanged() error {
	return s.reload(func(i int, st [2]filewatch.Stamp) bool { return st != s.stamps[i] })
}

func (s *Store) reload(want func(i int, st [2]filewatch.Stamp) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var errs []error
	changed := false
	for i, p := range s.pairs {
		st := stat(p)
		if !want(i, st) {
			continue
		}
		s.stamps[i] = st
		c, err := LoadPair(p.Cert, p.Key, now)
		if err != nil {
			s.log.Error("certificate refused; the previous one keeps serving",
				zap.Error(err), zap.String("serving_serial", s.certs[i].Serial),
				zap.Time("serving_not_after", s.certs[i].NotAfter))
			s.met.reload("error")
			errs = append(errs, err)
			continue
		}
		if sameCert(c, s.certs[i]) {
			continue
		}
		s.certs[i] = c
		changed = true
		s.logLoaded(c, "certificate reloaded")
		s.met.reload("ok")
	}
	if changed {
		s.publish()
	}
	return errors.Join(errs...)
}

func sameCert(a, b *Certificate) bool {
	if a == nil || b == nil || len(a.TLS.Certificate) != len(b.TLS.Certificate) {
		return false
	}
	for i := range a.TLS.Certificate {
		if string(a.TLS.Certificate[i]) != string(b.TLS.Certificate[i]) {
			return false
		}
	}
	return true
}

func (s *Store) logLoaded(c *Certificate, msg string) {
	s.log.Info(msg, zap.Strings("names", append(append([]string{}, c.DNSNames...), c.IPs...)),
		zap.String("file", c.CertFile), zap.String("key_type", c.KeyType),
		zap.String("issuer", c.Issuer), zap.Time("not_after", c.NotAfter))
	if left := c.NotAfter.Sub(s.now()); left < s.warn {
		s.log.Warn("certificate expires soon", zap.String("file", c.CertFile), zap.Duration("left", left.Round(time.Minute)))
	}
}

// publish builds the index from s.certs and swaps it in; s.mu is held.
func (s *Store) publish() {
	idx := &index{
		exact:    map[string][]*Certificate{},
		wildcard: map[string][]*Certificate{},
		ips:      map[string][]*Certificate{},
	}
	for i, c := range s.certs {
		idx.all = append(idx.all, c)
		if s.pairs[i].Default {
			idx.def = c
		}
		for _, n := range c.DNSNames {
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				idx.wildcard[rest] = append(idx.wildcard[rest], c)
			} else {
				idx.exact[n] = append(idx.exact[n], c)
			}
		}
		for _, ip := range c.IPs {
			idx.ips[ip] = append(idx.ips[ip], c)
		}
	}
	if idx.def == nil {
		idx.def = idx.all[0]
	}
	// ECDSA before RSA for the same name: cheaper handshakes for clients
	// that support it; GetCertificate falls back per client.
	for _, m := range []map[string][]*Certificate{idx.exact, idx.wildcard, idx.ips} {
		for _, list := range m {
			slices.SortStableFunc(list, func(a, b *Certificate) int {
				return boolRank(strings.HasPrefix(b.KeyType, "ECDSA")) - boolRank(strings.HasPrefix(a.KeyType, "ECDSA"))
			})
		}
	}
	s.idx.Store(idx)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// GetCertificate is the crypto/tls hook: it picks the certificate for a
// ClientHello.
func (s *Store) GetCertificate(hello *ctls.ClientHelloInfo) (*ctls.Certificate, error) {
	idx := s.idx.Load()
	list := idx.match(hello.ServerName)
	if len(list) == 0 && hello.ServerName == "" && hello.Conn != nil {
		if a, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok {
			list = idx.ips[a.IP.String()]
		}
	}
	if len(list) == 0 {
		return idx.def.TLS, nil
	}
	if len(list) > 1 {
		for _, c := range list {
			if hello.SupportsCertificate(c.TLS) == nil {
				return c.TLS, nil
			}
		}
	}
	return list[0].TLS, nil
}

// Lookup returns the certificate that a ClientHello with this server name
// (and no other constraint) would get, and whether it matched by name rather
// than falling back to the default.
func (s *Store) Lookup(serverName string) (*Certificate, bool) {
	idx := s.idx.Load()
	if list := idx.match(serverName); len(list) > 0 {
		return list[0], true
	}
	return idx.def, false
}

func (idx *index) match(name string) []*Certificate {
	if name == "" {
		return nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if l := idx.exact[name]; len(l) > 0 {
		return l
	}
	if _, rest, ok := strings.Cut(name, "."); ok && rest != "" {
		if l := idx.wildcard[rest]; len(l) > 0 {
			return l
		}
	}
	if net.ParseIP(name) != nil { // some clients send an IP as SNI
		return idx.ips[name]
	}
	return nil
}

// Certificates lists the loaded certificates for the admin API.
func (s *Store) Certificates() []Info {
	idx := s.idx.Load()
	now := s.now()
	out := make([]Info, 0, len(idx.all))
	for _, c := range idx.all {
		in := c.Info(now)
		in.Default = c == idx.def
		out = append(out, in)
	}
	return out
}

// Watch polls the files every interval (default 2s) and reloads the pairs
// whose files changed (size, modification time or identity, following
// symlinks, so editors that rename and Kubernetes-style symlink swaps are
// seen). A half-written pair (new certificate, old key) is refused and
// retried when the other file changes. It returns when ctx is done.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	filewatch.Poll(ctx, interval, 2*time.Second, func() { _ = s.reloadChanged() }) // logged inside
}

// stat stamps a pair's certificate and key files.
func stat(p Pair) [2]filewatch.Stamp {
	return [2]filewatch.Stamp{filewatch.Stat(p.Cert), filewatch.Stat(p.Key)}
}
