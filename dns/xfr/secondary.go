package xfr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/zones"
)

// Zone transfers in: dnsd as a secondary of another server. Each followed
// zone has one goroutine that keeps the SOA timers (RFC 1034 §4.3.5):
// every refresh it asks a primary for the SOA serial and transfers the
// zone when the primary's is later (IXFR from its own serial, AXFR when
// the primary refuses IXFR or cannot serve it); when no primary answers
// it tries again every retry; when none has answered for expire since
// the copy was last confirmed, the zone is taken out of service (SERVFAIL
// with an Extended DNS Error) until one answers. A NOTIFY from one of the
// zone's primaries (RFC 1996) starts a refresh at once. Each new copy is
// installed through the Target (journal, file written/fsynced/renamed,
// listeners), so a restart serves it at once; the file's modification
// time is when the copy was last confirmed, so expiry counts across
// restarts too.

// Target is where a secondary's zones are served (dnsd).
type Target interface {
	// Install serves nz in place of the zone of its origin, as
	// Store.Change commits a change: the journal (a diff from the copy
	// served before, for IXFR out), the file when nz.File is set, the
	// listeners, NOTIFY to the zone's own secondaries.
	Install(nz *zones.Zone) error
	// Down takes the zone out of service: queries for it get SERVFAIL
	// with an Extended DNS Error saying why.
	Down(origin, why string)
}

const (
	// noCopyRetry is how often a zone with no copy is asked for (no SOA
	// gives the timers yet).
	noCopyRetry = 5 * time.Second
	// minTimer bounds a refresh or retry from below, so that an SOA with
	// 0 there cannot spin the loop.
	minTimer = time.Second
)

// Secondary follows the zones of the `secondary:` section.
type Secondary struct {
	log     *zap.Logger
	up      upstream
	target  Target
	metrics *metrics
	zones   map[string]*follower

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// follower is one followed zone.
type follower struct {
	f    *follow
	kick chan struct{} // a NOTIFY: refresh now

	mu      sync.Mutex
	cur     *zones.Zone // the copy; nil: none yet
	fresh   time.Time   // when cur was last confirmed current: expiry counts from it
	expired bool        // out of service (Down)
	next    time.Time   // the next refresh
}

// NewSecondary checks the section and reads the copies kept on disk; the
// zones start being followed at Start.
func (s *Service) NewSecondary(cfg SecondaryConfig, target Target) (*Secondary, error) {
	fs, err := parseSecondary(cfg, s.keys)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultSecondaryConfig().Timeout
	}
	sec := &Secondary{log: s.log.Named("secondary"), target: target, metrics: s.metrics, zones: map[string]*follower{},
		up: &netUpstream{keys: s.keys, timeout: timeout, log: s.log.Named("secondary")}}
	for origin, f := range fs {
		fw := &follower{f: f, kick: make(chan struct{}, 1)}
		if err := fw.load(time.Now()); err != nil {
			return nil, err
		}
		sec.zones[origin] = fw
	}
	s.secondary = sec
	return sec, nil
}

// load reads the copy kept in the zone's file, if any: it serves at once,
// and is as fresh as the file's modification time says.
func (fw *follower) load(now time.Time) error {
	if fw.f.file == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(fw.f.file), 0o755); err != nil {
		return fmt.Errorf("secondary zone %s: the directory of its file: %w", fw.f.origin, err)
	}
	fi, err := os.Stat(fw.f.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secondary zone %s: %w", fw.f.origin, err)
	}
	zs, err := zones.LoadFiles([]zones.Source{{File: fw.f.file, Origin: fw.f.origin}})
	if err != nil {
		return fmt.Errorf("secondary zone %s: the copy kept in %s: %w (move it away to transfer the zone again)", fw.f.origin, fw.f.file, err)
	}
	fw.cur, fw.fresh = zs[0], fi.ModTime()
	fw.expired = !now.Before(fw.expireAt())
	return nil
}

func (fw *follower) expireAt() time.Time {
	return fw.fresh.Add(time.Duration(fw.cur.SOA.Expire) * time.Second)
}

// Zones lists the origins followed.
func (sec *Secondary) Zones() []string {
	return slices.Sorted(maps.Keys(sec.zones))
}

// Initial returns what to serve before the first refresh: the copies
// kept on disk, and why each other zone is down.
func (sec *Secondary) Initial() (serve []*zones.Zone, down map[string]string) {
	down = map[string]string{}
	for _, o := range sec.Zones() {
		fw := sec.zones[o]
		switch {
		case fw.cur == nil:
			down[o] = notYet(fw.f)
		case fw.expired:
			down[o] = expiredText(fw)
		default:
			serve = append(serve, fw.cur)
			sec.metrics.secSerial.WithLabelValues(o).Set(float64(fw.cur.SOA.Serial))
			continue
		}
		sec.metrics.secExpired.WithLabelValues(o).Set(1)
	}
	return serve, down
}

func notYet(f *follow) string {
	return fmt.Sprintf("zone %s: no copy yet; waiting for a transfer from %v", f.origin, f.primaries)
}

func expiredText(fw *follower) string {
	return fmt.Sprintf("zone %s expired: no primary %v has answered since %s (SOA expire %ds)",
		fw.f.origin, fw.f.primaries, fw.fresh.UTC().Format(time.RFC3339), fw.cur.SOA.Expire)
}

// Start runs one follower per zone until Close; the first refresh is at
// once.
func (sec *Secondary) Start() {
	sec.ctx, sec.cancel = context.WithCancel(context.Background())
	for _, fw := range sec.zones {
		fw.next = time.Now()
		sec.wg.Add(1)
		go func() {
			defer sec.wg.Done()
			sec.run(fw)
		}()
	}
}

// Close stops the followers and waits for them.
func (sec *Secondary) Close() {
	if sec.cancel != nil {
		sec.cancel()
	}
	sec.wg.Wait()
}

func (sec *Secondary) run(fw *follower) {
	for {
		fw.mu.Lock()
		wake := fw.next
		if fw.cur != nil && !fw.expired && fw.expireAt().Before(wake) {
			wake = fw.expireAt()
		}
		fw.mu.Unlock()
		t := time.NewTimer(time.Until(wake))
		kicked := false
		select {
		case <-sec.ctx.Done():
			t.Stop()
			return
		case <-fw.kick:
			kicked = true
		case <-t.C:
		}
		t.Stop()
		now := time.Now()
		if kicked || !now.Before(fw.next) {
			sec.refresh(fw)
		}
		sec.expire(fw, time.Now())
	}
}

// expire takes a copy past its expire time out of service.
func (sec *Secondary) expire(fw *follower, now time.Time) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.cur == nil || fw.expired || now.Before(fw.expireAt()) {
		return
	}
	fw.expired = true
	why := expiredText(fw)
	sec.target.Down(fw.f.origin, why)
	sec.metrics.secExpired.WithLabelValues(fw.f.origin).Set(1)
	sec.log.Error("secondary zone expired: answering SERVFAIL until a primary answers", zap.String("zone", fw.f.origin),
		zap.Strings("primaries", fw.f.primaries), zap.Time("last_confirmed", fw.fresh), zap.Uint32("soa_expire_s", fw.cur.SOA.Expire))
}

// refresh asks the primaries in turn; the first that answers settles it.
// It sets the next refresh: after the SOA's refresh when one answered,
// after its retry when none did.
func (sec *Secondary) refresh(fw *follower) {
	fw.mu.Lock()
	have := fw.cur
	fw.mu.Unlock()
	var errs []error
	for _, p := range fw.f.primaries {
		result, err := sec.refreshFrom(fw, p, have)
		if err == nil {
			sec.metrics.secRefreshes.WithLabelValues(result).Inc()
			fw.mu.Lock()
			fw.next = time.Now().Add(max(time.Duration(fw.cur.SOA.Refresh)*time.Second, minTimer))
			fw.mu.Unlock()
			return
		}
		if sec.ctx.Err() != nil {
			return
		}
		errs = append(errs, err)
	}
	sec.metrics.secRefreshes.WithLabelValues("failed").Inc()
	fw.mu.Lock()
	retry := noCopyRetry
	if fw.cur != nil {
		retry = max(time.Duration(fw.cur.SOA.Retry)*time.Second, minTimer)
	}
	fw.next = time.Now().Add(retry)
	fw.mu.Unlock()
	sec.log.Warn("no primary answered; retrying", zap.String("zone", fw.f.origin), zap.Duration("retry", retry), zap.Error(errors.Join(errs...)))
}

// refreshFrom checks one primary's serial and transfers the zone when it
// is later than the copy's.
func (sec *Secondary) refreshFrom(fw *follower, primary string, have *zones.Zone) (string, error) {
	if have != nil {
		serial, err := sec.up.serial(sec.ctx, primary, fw.f)
		if err != nil {
			return "", err
		}
		if !zones.SerialLess(have.SOA.Serial, serial) {
			if serial != have.SOA.Serial {
				sec.log.Warn("the primary's serial is older than the copy's; keeping the copy", zap.String("zone", fw.f.origin),
					zap.String("primary", primary), zap.Uint32("primary_serial", serial), zap.Uint32("serial", have.SOA.Serial))
			}
			return "uptodate", sec.confirmed(fw, have)
		}
	}
	start := time.Now()
	nz, how, err := sec.up.transfer(sec.ctx, primary, fw.f, have)
	if err != nil {
		return "", err
	}
	if nz == have {
		return "uptodate", sec.confirmed(fw, have)
	}
	if have != nil && !zones.SerialLess(have.SOA.Serial, nz.SOA.Serial) {
		return "", fmt.Errorf("transfer of %s from %s: serial %d, not later than the copy's %d", fw.f.origin, primary, nz.SOA.Serial, have.SOA.Serial)
	}
	if err := sec.target.Install(nz); err != nil {
		sec.log.Error("installing a transferred zone failed; the old copy keeps serving", zap.String("zone", fw.f.origin), zap.Error(err))
		return "", err
	}
	fw.mu.Lock()
	fw.cur, fw.fresh, fw.expired = nz, time.Now(), false
	fw.mu.Unlock()
	sec.metrics.secSerial.WithLabelValues(fw.f.origin).Set(float64(nz.SOA.Serial))
	sec.metrics.secExpired.WithLabelValues(fw.f.origin).Set(0)
	var from uint32
	if have != nil {
		from = have.SOA.Serial
	}
	sec.log.Info("zone transferred", zap.String("zone", fw.f.origin), zap.String("primary", primary), zap.String("as", how),
		zap.Uint32("from_serial", from), zap.Uint32("serial", nz.SOA.Serial), zap.Int("records", nz.Len()), zap.Duration("took", time.Since(start)))
	return how, nil
}

// confirmed notes that a primary has the copy's serial: expiry starts
// again (and the file's time says so across a restart), and an expired
// copy serves again.
func (sec *Secondary) confirmed(fw *follower, have *zones.Zone) error {
	now := time.Now()
	fw.mu.Lock()
	expired := fw.expired
	fw.fresh, fw.expired = now, false
	fw.mu.Unlock()
	if expired {
		if err := sec.target.Install(have); err != nil {
			return err
		}
		sec.metrics.secExpired.WithLabelValues(fw.f.origin).Set(0)
		sec.log.Info("expired secondary zone serves again: a primary has its serial", zap.String("zone", fw.f.origin), zap.Uint32("serial", have.SOA.Serial))
	}
	if fw.f.file != "" {
		if err := os.Chtimes(fw.f.file, now, now); err != nil && !errors.Is(err, os.ErrNotExist) {
			sec.log.Warn("marking the zone's copy fresh", zap.String("file", fw.f.file), zap.Error(err))
		}
	}
	return nil
}

// notified answers a NOTIFY for origin from client, signed with key ("":
// unsigned; a bad signature was already refused): the rcode, or -1 when
// origin is not a followed zone.
func (sec *Secondary) notified(origin string, client netip.Addr, key string, soa *dns.SOA) int {
	fw := sec.zones[origin]
	if fw == nil {
		return -1
	}
	refuse := func(why string) int {
		sec.metrics.secNotifies.WithLabelValues("refused").Inc()
		sec.log.Warn("NOTIFY refused", zap.String("zone", origin), zap.Stringer("client", client), zap.String("key", key), zap.String("why", why))
		return dns.RcodeRefused
	}
	from := false
	for _, a := range fw.f.addrs {
		from = from || a == client.Unmap()
	}
	switch {
	case !from:
		return refuse("not from a primary of the zone " + fmt.Sprint(fw.f.primaries))
	case fw.f.notifyKey != "" && key != fw.f.notifyKey:
		return refuse("not signed with the zone's notify_key " + fw.f.notifyKey)
	}
	sec.metrics.secNotifies.WithLabelValues("accepted").Inc()
	var serial uint32
	if soa != nil {
		serial = soa.Serial
	}
	sec.log.Debug("NOTIFY accepted: refreshing", zap.String("zone", origin), zap.Stringer("client", client), zap.Uint32("serial", serial))
	select {
	case fw.kick <- struct{}{}:
	default: // a refresh is already due
	}
	return dns.RcodeSuccess
}
