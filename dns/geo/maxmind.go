package geo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/internal/filewatch"
	"netsim/internal/metric"
)

// MaxMind is a Locator over a MaxMind City or Country database (.mmdb),
// read with geoip2-golang. The file is read into memory (not mmapped, so a
// file rewritten in place can never fault a reader) and verified before it
// is used; Reload and Watch swap in a changed file atomically, and a file
// that fails to open or verify is refused with an error while the previous
// database keeps serving. Locate takes no lock and, after the first lookup
// of each database record, does not allocate.
type MaxMind struct {
	path string
	log  *zap.Logger
	now  func() time.Time

	cur atomic.Pointer[mmdb]

	mu      sync.Mutex      // serialises Reload
	lastBad filewatch.Stamp // the stamp of the last refused file, not retried until it changes
	lastErr error

	reloads *prometheus.CounterVec
	build   prometheus.Gauge
}

// mmdb is one loaded, verified database and its record cache.
type mmdb struct {
	reader   *maxminddb.Reader
	meta     maxminddb.Metadata
	stamp    filewatch.Stamp
	loadedAt time.Time
	cache    [cacheSlots]atomic.Pointer[cacheEntry]
	nets     [netSlots]atomic.Pointer[netEntry]
}

// netSlots is the size of the direct-mapped network cache, in front of the
// tree walk: slot by the address's /24 (IPv4) or /48 (IPv6), a hit when
// the cached network holds the address (the database's networks do not
// overlap, so every address in one has the same answer).
const netSlots = 1 << 14

type netEntry struct {
	loc   Location // Network set
	found bool
}

// cacheSlots is the size of the direct-mapped record cache. A database has
// far fewer distinct records than networks (GeoLite2-City: ~100k records
// for ~4M networks); a miss costs one decode.
const cacheSlots = 1 << 14

type cacheEntry struct {
	offset uintptr
	found  bool
	loc    Location // Network unset: it differs per lookup
}

// DBInfo describes the loaded database (for the admin API).
type DBInfo struct {
	Path       string    `json:"path"`
	Type       string    `json:"type"`
	BuildTime  time.Time `json:"build_time"`
	IPVersion  uint      `json:"ip_version"`
	NodeCount  uint      `json:"node_count"`
	Size       int64     `json:"size_bytes"`
	LoadedAt   time.Time `json:"loaded_at"`
	LastError  string    `json:"last_error,omitempty"`
	ModifiedAt time.Time `json:"modified_at"`
}

// MaxMindOption adjusts OpenMaxMind.
type MaxMindOption func(*MaxMind)

// WithMaxMindClock injects the clock used for LoadedAt.
func WithMaxMindClock(now func() time.Time) MaxMindOption {
	return func(m *MaxMind) { m.now = now }
}

// OpenMaxMind loads path and returns a Locator over it. It fails when the
// file cannot be read, is not a valid MaxMind DB, fails verification, or is
// not a City/Country-layout database (an ASN database, say). Metrics
// dnsd_geo_db_reloads_total{result} and dnsd_geo_db_build_timestamp_seconds
// are registered with reg (nil: none).
func OpenMaxMind(path string, log *zap.Logger, reg prometheus.Registerer, opts ...MaxMindOption) (*MaxMind, error) {
	if log == nil {
		log = zap.NewNop()
	}
	m := &MaxMind{path: path, log: log, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	// shared with an earlier MaxMind on reg, so counts continue across reloads
	m.reloads = metric.Shared(reg, metric.Counters("dnsd_geo_db_reloads_total",
		"GeoIP database loads by result (ok, error); an error keeps the previous database serving.", "result"))
	m.build = metric.Shared(reg, metric.Gauge("dnsd_geo_db_build_timestamp_seconds", "Build time (Unix seconds) of the GeoIP database in use."))
	db, err := load(path)
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
		return nil, err
	}
	db.loadedAt = m.now()
	m.cur.Store(db)
	m.reloads.WithLabelValues("ok").Inc()
	m.build.Set(float64(db.meta.BuildEpoch))
	log.Info("geoip database loaded", zap.String("path", path), zap.String("type", db.meta.DatabaseType),
		zap.Time("build", db.meta.BuildTime()), zap.Uint("nodes", db.meta.NodeCount))
	return m, nil
}

// load reads, opens and verifies one database file.
func load(path string) (*mmdb, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database: %w", err)
	}
	return loadBytes(path, data, filewatch.Of(fi))
}

func loadBytes(path string, data []byte, stamp filewatch.Stamp) (*mmdb, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("geoip database %s: file is empty", path)
	}
	// geoip2-golang decides whether the layout is one it can read as a
	// Country record (City, Country and Enterprise databases can).
	g, err := geoip2.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: not a usable MaxMind DB: %w", path, err)
	}
	if _, err := g.Country(netip.IPv4Unspecified()); err != nil {
		var im geoip2.InvalidMethodError
		if errors.As(err, &im) {
			return nil, fmt.Errorf("geoip database %s: type %q has no country data; use a City or Country database", path, g.Metadata().DatabaseType)
		}
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("geoip database %s is corrupt (verification failed): %w", path, err)
	}
	return &mmdb{reader: r, meta: r.Metadata, stamp: stamp}, nil
}

// Locate implements Locator.
func (m *MaxMind) Locate(a netip.Addr) (Location, bool) {
	return m.cur.Load().locate(a)
}

func (db *mmdb) locate(a netip.Addr) (Location, bool) {
	a = a.Unmap().WithZone("")
	slot := &db.nets[netSlot(a)]
	if e := slot.Load(); e != nil && e.loc.Network.Contains(a) {
		return e.loc, e.found
	}
	loc, found, ok := db.lookup(a)
	if ok {
		slot.Store(&netEntry{loc: loc, found: found})
	}
	return loc, found
}

// netSlot is a's slot in the network cache.
func netSlot(a netip.Addr) uint64 {
	var k uint64
	if a.Is4() {
		b := a.As4()
		k = uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	} else {
		b := a.As16()
		k = 1<<63 | uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
	}
	return (k * 0x9E3779B97F4A7C15) >> (64 - 14)
}

// lookup walks the database's tree for a (unmapped, no zone), the record
// decoded through the record cache; ok is false when the answer is not to
// be cached (a record that did not decode).
func (db *mmdb) lookup(a netip.Addr) (loc Location, found, ok bool) {
	res := db.reader.Lookup(a)
	if err := res.Err(); err != nil {
		// An IPv6 address in an IPv4-only database, say.
		return Location{Network: hostPrefix(a)}, false, true
	}
	network := res.Prefix()
	if !network.IsValid() || !network.Contains(a) {
		network = hostPrefix(a)
	}
	if !res.Found() {
		return Location{Network: network}, false, true
	}
	off := res.Offset()
	slot := &db.cache[(uint64(off)*0x9E3779B97F4A7C15)>>(64-14)]
	if e := slot.Load(); e != nil && e.offset == off {
		loc := e.loc
		loc.Network = network
		return loc, e.found, true
	}
	var rec geoip2.Country
	if err := res.Decode(&rec); err != nil {
		// Verified databases decode; keep serving the default pool if not.
		return Location{Network: network}, false, false
	}
	loc = Location{Country: rec.Country.ISOCode, Continent: rec.Continent.Code}
	if loc.Country == "" {
		loc.Country = rec.RegisteredCountry.ISOCode
	}
	found = loc.Country != "" || loc.Continent != ""
	slot.Store(&cacheEntry{offset: off, found: found, loc: loc})
	loc.Network = network
	return loc, found, true
}

// Reload re-reads the file if its size or modification time changed. It
// reports whether a new database was swapped in. On error the previous
// database keeps serving and the same file is not retried until it changes
// again.
func (m *MaxMind) Reload() (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fi, err := os.Stat(m.path)
	if err != nil {
		m.lastErr = fmt.Errorf("geoip database: %w", err)
		return false, m.lastErr
	}
	st := filewatch.Of(fi)
	old := m.cur.Load()
	if st == old.stamp {
		return false, nil
	}
	if st == m.lastBad {
		return false, m.lastErr
	}
	db, err := load(m.path)
	if err != nil {
		m.lastBad, m.lastErr = st, err
		m.reloads.WithLabelValues("error").Inc()
		m.log.Error("geoip database refused; the previous one keeps serving",
			zap.String("path", m.path), zap.Error(err))
		return false, err
	}
	db.stamp = st
	db.loadedAt = m.now()
	m.cur.Store(db)
	m.lastBad, m.lastErr = filewatch.Stamp{}, nil
	m.reloads.WithLabelValues("ok").Inc()
	m.build.Set(float64(db.meta.BuildEpoch))
	m.log.Info("geoip database reloaded", zap.String("path", m.path), zap.String("type", db.meta.DatabaseType),
		zap.Time("build", db.meta.BuildTime()), zap.Uint("nodes", db.meta.NodeCount))
	return true, nil
}

// Watch polls the file every interval (default 5s) and reloads it when it
// changes (size, modification time or identity: a file replaced by rename,
// the way geoipupdate installs new databases, is seen), until ctx is
// cancelled. Run it in a goroutine owned by the caller.
func (m *MaxMind) Watch(ctx context.Context, interval time.Duration) {
	filewatch.Poll(ctx, interval, 5*time.Second, func() {
		_, _ = m.Reload() // errors are logged and counted by Reload
	})
}

// Info describes the database in use.
func (m *MaxMind) Info() DBInfo {
	db := m.cur.Load()
	m.mu.Lock()
	lastErr := m.lastErr
	m.mu.Unlock()
	info := DBInfo{
		Path: m.path, Type: db.meta.DatabaseType, BuildTime: db.meta.BuildTime().UTC(),
		IPVersion: db.meta.IPVersion, NodeCount: db.meta.NodeCount, Size: db.stamp.Size,
		LoadedAt: db.loadedAt, ModifiedAt: time.Unix(0, db.stamp.MTime),
	}
	if lastErr != nil {
		info.LastError = lastErr.Error()
	}
	return info
}
