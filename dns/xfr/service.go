package xfr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/zones"
)

// Store is where the zones live (dnsd): the zone being served, and the
// one way to change it.
type Store interface {
	// Zone returns the zone of origin being served, or nil.
	Zone(origin string) *zones.Zone
	// Change builds a new zone from the current one and commits it —
	// Record (the journal), the zone file, the swap into the listeners,
	// Changed (NOTIFY) — one writer at a time. An error from build is
	// returned as it is and nothing changes.
	Change(origin string, build func(old *zones.Zone) (*zones.Zone, error)) (*zones.Zone, error)
}

// Service is dnsd's primary side: journals, transfers, NOTIFY, updates.
type Service struct {
	log     *zap.Logger
	keys    *Keyring
	store   Store
	rules   map[string]*zoneRules
	method  zones.SerialMethod
	max     int
	metrics *metrics
	now     func() time.Time
	notify  *notifier
	// secondary follows the zones of the secondary section (nil: none);
	// set before the listeners start
	secondary *Secondary
	// signer signs zones whole for transfers (nil: sent as they are)
	signer ZoneSigner

	mu       sync.Mutex
	journals map[string]*Journal // by origin
	files    map[string]string   // the journal's path, by origin
}

// New checks the config (keys and the primary section) and builds the
// service; its NOTIFY senders run until Close.
func New(cfg Config, keys []KeyConfig, store Store, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	kr, err := NewKeyring(keys, time.Now)
	if err != nil {
		return nil, err
	}
	rules, method, err := parse(cfg, kr)
	if err != nil {
		return nil, err
	}
	s := &Service{log: log, keys: kr, store: store, rules: rules, method: method, max: cfg.JournalMax,
		metrics: newMetrics(reg), now: time.Now, journals: map[string]*Journal{}, files: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	s.notify = &notifier{log: log, keys: kr, exchange: udpExchange, retries: cfg.NotifyRetries, timeout: cfg.NotifyTimeout,
		metrics: s.metrics, ctx: ctx, cancel: cancel, running: map[[2]string]*sender{}}
	return s, nil
}

// SerialMethod is how changes advance serials.
func (s *Service) SerialMethod() zones.SerialMethod { return s.method }

// Close stops the NOTIFY senders and closes the journals.
func (s *Service) Close() {
	s.notify.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.journals {
		j.Close()
	}
}

// JournalPath is where the journal of a zone loaded from file lives (the
// file's name + ".jnl", as BIND does); "" for a zone held in memory.
func JournalPath(z *zones.Zone) string {
	if !z.OnDisk() {
		return ""
	}
	return z.File + ".jnl"
}

// Open opens the journal of every zone (at load and at each reload). A
// journal one change ahead of its zone file — a crash after the journal
// was written and before the file was — is replayed, and the file
// rewritten; one that does not end at the file's serial otherwise (the
// file was edited or put back, as `netsim fix` does) is emptied. It
// returns the zones as they are to be served.
func (s *Service) Open(zs []*zones.Zone) ([]*zones.Zone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*zones.Zone, len(zs))
	for i, z := range zs {
		path := JournalPath(z)
		j := s.journals[z.Origin]
		if j == nil || s.files[z.Origin] != path {
			if j != nil {
				j.Close()
			}
			var err error
			if j, err = OpenJournal(path, s.max); err != nil {
				return nil, fmt.Errorf("zone %s: %w", z.Origin, err)
			}
			s.journals[z.Origin], s.files[z.Origin] = j, path
		}
		nz, ok, err := j.Catch(z)
		switch {
		case err != nil || !ok:
			last, _ := j.Last()
			s.log.Warn("the zone's journal does not end at its file's serial (the file was edited or put back); emptied: secondaries get AXFR",
				zap.String("zone", z.Origin), zap.String("journal", path), zap.Uint32("file_serial", z.SOA.Serial), zap.Uint32("journal_serial", last), zap.Error(err))
			if err := j.Reset(); err != nil {
				return nil, err
			}
		case nz != z:
			if z.OnDisk() {
				if err := nz.Save(z.File); err != nil {
					return nil, fmt.Errorf("zone %s: saving the changes replayed from the journal: %w", z.Origin, err)
				}
			}
			s.log.Info("zone brought up to date from its journal", zap.String("zone", z.Origin),
				zap.Uint32("file_serial", z.SOA.Serial), zap.Uint32("serial", nz.SOA.Serial))
		}
		out[i] = nz
	}
	return out, nil
}

// Record writes the change from old to nz to the zone's journal (fsynced
// when on disk). The store calls it before it saves the zone file.
func (s *Service) Record(old, nz *zones.Zone) error {
	s.mu.Lock()
	j := s.journals[old.Origin]
	if j == nil {
		var err error
		if j, err = OpenJournal(JournalPath(old), s.max); err != nil {
			s.mu.Unlock()
			return err
		}
		s.journals[old.Origin], s.files[old.Origin] = j, JournalPath(old)
	}
	s.mu.Unlock()
	return j.Append(EntryOf(old, nz))
}

// Changed tells the zone's secondaries (NOTIFY); the store calls it once
// the new zone serves.
func (s *Service) Changed(nz *zones.Zone) {
	if r := s.rules[nz.Origin]; r != nil && len(r.notify) > 0 {
		s.notify.notify(nz.Origin, nz.SOA, r.notify, r.notifyKey)
	}
}

func (s *Service) journal(origin string) *Journal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journals[origin]
}

// Update applies a dynamic update's prerequisites and changes to the zone
// through the store (also used by tests and tools); the rcode says how it
// went.
func (s *Service) update(origin string, pre, ups []dns.RR) (int, uint32, error) {
	nz, err := s.store.Change(origin, func(old *zones.Zone) (*zones.Zone, error) {
		if err := checkPrereqs(old, pre); err != nil {
			return nil, err
		}
		sets, err := applyUpdate(old, ups)
		if err != nil {
			return nil, err
		}
		return old.WithSets(sets, func(o uint32) uint32 { return s.method.Next(o, s.now()) })
	})
	var re *rcodeError
	var inv *zones.InvalidError
	switch {
	case err == nil:
		return dns.RcodeSuccess, nz.SOA.Serial, nil
	case errors.Is(err, errNoChange):
		return dns.RcodeSuccess, 0, nil
	case errors.As(err, &re):
		return re.rcode, 0, err
	case errors.As(err, &inv):
		return dns.RcodeRefused, 0, err // the zone checks refuse the result (CNAME and other data, glue…)
	}
	return dns.RcodeServerFailure, 0, err
}
