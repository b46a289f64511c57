package server

import (
	"sync/atomic"

	"go.uber.org/zap"
)

// QueryLog is the query log, like CoreDNS's log plugin or BIND's
// querylog: one zap line per answered query, sampled, off by default,
// switched on and off at run time (dnsd's admin API). One QueryLog is
// shared by every listener of a daemon.
type QueryLog struct {
	log  *zap.Logger
	set  atomic.Pointer[QueryLogSettings]
	on   atomic.Bool
	seen atomic.Uint64
}

// QueryLogSettings are the query log's run-time settings.
type QueryLogSettings struct {
	Enabled bool    `json:"enabled"`
	Sample  float64 `json:"sample"` // fraction of queries logged, 0 < sample <= 1
}

// NewQueryLog returns a query log writing to log (Info level), off.
func NewQueryLog(log *zap.Logger) *QueryLog {
	if log == nil {
		log = zap.NewNop()
	}
	q := &QueryLog{log: log}
	q.set.Store(&QueryLogSettings{Sample: 1})
	return q
}

// Settings returns the settings in force.
func (q *QueryLog) Settings() QueryLogSettings { return *q.set.Load() }

// Set installs s; the caller has checked 0 < s.Sample <= 1.
func (q *QueryLog) Set(s QueryLogSettings) {
	q.set.Store(&s)
	q.on.Store(s.Enabled)
}

// On reports whether the log is on (one atomic load; nil is off).
func (q *QueryLog) On() bool { return q != nil && q.on.Load() }

// Sampled reports whether the query at hand is to be logged.
func (q *QueryLog) Sampled() bool {
	if !q.On() {
		return false
	}
	s := q.set.Load()
	if s.Sample >= 1 {
		return true
	}
	every := uint64(1/s.Sample + 0.5)
	return q.seen.Add(1)%every == 0
}

func (q *QueryLog) write(e *QueryEvent) {
	ce := q.log.Check(zap.InfoLevel, "query")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("server", e.Server), zap.Stringer("client", e.Client), zap.String("name", e.Name),
		zap.String("qtype", e.QType), zap.String("proto", e.Proto), zap.String("rcode", e.RCode),
		zap.String("source", e.Source), zap.Int("size", e.Size), zap.Int64("duration_us", e.Duration.Microseconds()),
	}
	if e.Cache != "" {
		fields = append(fields, zap.String("cache", e.Cache))
	}
	if e.Geo != nil {
		fields = append(fields, zap.String("geo_pool", e.Geo.Pool))
	}
	ce.Write(fields...)
}
