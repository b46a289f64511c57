package dnsd

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/dns/rrset"
	"netsim/dns/xfr"
	"netsim/internal/api"
	"netsim/zones"
)

// The one write path of zone data. The record API (records.go) and
// dynamic updates (dns/xfr, RFC 2136) both come through Change: under
// d.mu the new zone is built from the current one, the change is written
// to the zone's journal (fsynced), the zone file is rewritten (write,
// fsync, rename), the new zone is swapped into every listener that
// serves it, and its secondaries are NOTIFYed. Writers go one at a time,
// so no change is lost to another, and a reload swaps either before or
// after a change, never in its middle. A change is acknowledged only
// once it is in the journal and the file.

var _ xfr.Store = (*Daemon)(nil)

// Zone returns the zone of origin being served, or nil.
func (d *Daemon) Zone(origin string) *zones.Zone { return d.findZone(origin) }

// Change commits the zone that build makes from the current one.
func (d *Daemon) Change(origin string, build func(old *zones.Zone) (*zones.Zone, error)) (*zones.Zone, error) {
	origin = dns.CanonicalName(origin)
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.zones, func(z *zones.Zone) bool { return z.Origin == origin })
	if i < 0 {
		return nil, errNoZone
	}
	if d.follows(origin) {
		return nil, api.Errorf(http.StatusConflict, "secondary_zone", "zone %s is a secondary zone, copied from its primaries: change it there", origin)
	}
	old := d.zones[i]
	nz, err := build(old)
	if err != nil {
		return nil, err
	}
	if err := d.xfr.Record(old, nz); err != nil {
		return nil, &saveError{err}
	}
	if old.OnDisk() {
		if err := nz.Save(old.File); err != nil {
			return nil, &saveError{err}
		}
	}
	zs := slices.Clone(d.zones)
	zs[i] = nz
	d.serveZones(origin, zs)
	d.xfr.Changed(nz)
	for _, w := range nz.Warnings {
		d.log.Warn("zone changed with a problem", zap.String("zone", origin), zap.String("problem", w))
	}
	return nz, nil
}

// serveZones makes zs the zones served, swapping a new set into every
// listener that serves origin; d.mu is held.
func (d *Daemon) serveZones(origin string, zs []*zones.Zone) {
	for _, s := range d.cfg.Servers {
		if r, ok := d.listeners[s.Listen]; ok && slices.ContainsFunc(s.Zones, func(n string) bool { return dns.Fqdn(strings.ToLower(n)) == origin }) {
			r.l.Handler().SetZones(d.setFor(s, zs))
		}
	}
	d.zones = zs
}

// changeZone is Change for the record API: one edit, the serial advanced
// by the configured method.
func (d *Daemon) changeZone(origin string, build func(*zones.Zone) (zones.Edit, error)) (*zones.Zone, error) {
	var e zones.Edit
	nz, err := d.Change(origin, func(old *zones.Zone) (*zones.Zone, error) {
		var err error
		if e, err = build(old); err != nil {
			return nil, err
		}
		return old.ApplySerial(e, d.xfr.SerialMethod(), time.Now())
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("zone changed", zap.String("zone", nz.Origin), zap.String("op", e.Op.String()),
		zap.String("name", e.Name), zap.String("type", dns.TypeToString[e.Type]), zap.Int("records", len(e.RRs)),
		zap.Uint32("serial", nz.SOA.Serial), zap.Bool("saved", nz.OnDisk()), zap.String("file", nz.File))
	return nz, nil
}

func logWarnings(log *zap.Logger, zs []*zones.Zone) {
	for _, z := range zs {
		for _, w := range z.Warnings {
			log.Warn("zone loaded with a problem", zap.String("zone", z.Origin), zap.String("file", z.File), zap.String("problem", w))
		}
	}
}

// warnSerials notes zones whose data changed on reload while the SOA serial
// did not: secondaries (and named-checkzone's users) would miss the change.
func warnSerials(log *zap.Logger, old, next []*zones.Zone) {
	prev := map[string]*zones.Zone{}
	for _, z := range old {
		prev[z.Origin] = z
	}
	for _, z := range next {
		o := prev[z.Origin]
		if o == nil || o.SOA.Serial != z.SOA.Serial || rrset.Equal(o.Records(), z.Records()) {
			continue
		}
		log.Warn("zone changed but its SOA serial did not; secondaries would not pick the change up",
			zap.String("zone", z.Origin), zap.Uint32("serial", z.SOA.Serial))
	}
}
