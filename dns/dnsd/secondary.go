package dnsd

import (
	"fmt"
	"slices"

	"go.uber.org/zap"

	"netsim/dns/xfr"
	"netsim/zones"
)

// Zones transferred in (dns/xfr's Secondary): the daemon is their Target.
// A copy is installed as a change is committed (store.go): journal, file,
// listeners, NOTIFY to the zone's own secondaries. A zone out of service
// — expired, or no copy yet — is in d.down and served as SERVFAIL with an
// Extended DNS Error (setFor).

var _ xfr.Target = (*Daemon)(nil)

// followed builds the secondary side at start: the zones served are those
// loaded plus the copies kept on disk; the followed zones may not be
// loaded from zone files too.
func (d *Daemon) followed(cfg Config, zs []*zones.Zone) ([]*zones.Zone, error) {
	sec, err := d.xfr.NewSecondary(cfg.Secondary, d)
	if err != nil {
		return nil, err
	}
	d.sec = sec
	if err := checkFollowed(cfg, zs, sec.Zones()); err != nil {
		return nil, err
	}
	copies, down := sec.Initial()
	d.down = down
	for o, why := range down {
		d.log.Warn("secondary zone not served until a transfer", zap.String("zone", o), zap.String("why", why))
	}
	return append(zs, copies...), nil
}

// keepFollowed is followed for a reload: the copies being served stay.
func (d *Daemon) keepFollowed(cfg Config, zs []*zones.Zone) ([]*zones.Zone, error) {
	origins := d.sec.Zones()
	if err := checkFollowed(cfg, zs, origins); err != nil {
		return nil, err
	}
	for _, z := range d.zones {
		if slices.Contains(origins, z.Origin) {
			zs = append(zs, z)
		}
	}
	return zs, nil
}

func checkFollowed(cfg Config, zs []*zones.Zone, origins []string) error {
	for _, z := range zs {
		if slices.Contains(origins, z.Origin) {
			return fmt.Errorf("secondary.zones: %s is also loaded from %s: a zone is either a secondary one or loaded from a file", z.Origin, z.File)
		}
	}
	return checkServerZones(cfg, zs, origins)
}

// follows reports whether origin is a secondary zone.
func (d *Daemon) follows(origin string) bool {
	return d.sec != nil && slices.Contains(d.sec.Zones(), origin)
}

// Install serves a transferred copy of a secondary zone.
func (d *Daemon) Install(nz *zones.Zone) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	zs := slices.Clone(d.zones)
	i := slices.IndexFunc(zs, func(z *zones.Zone) bool { return z.Origin == nz.Origin })
	switch {
	case i >= 0:
		if err := d.xfr.Record(zs[i], nz); err != nil {
			return err
		}
		zs[i] = nz
	default:
		// the first copy, or an expired one back: the journal is kept when
		// it ends at the copy's serial, emptied otherwise
		if _, err := d.xfr.Open([]*zones.Zone{nz}); err != nil {
			return err
		}
		zs = append(zs, nz)
	}
	if nz.OnDisk() {
		if err := nz.Save(nz.File); err != nil {
			return err
		}
	}
	delete(d.down, nz.Origin)
	d.serveZones(nz.Origin, zs)
	d.xfr.Changed(nz)
	return nil
}

// Down takes a secondary zone out of service.
func (d *Daemon) Down(origin, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	zs := slices.DeleteFunc(slices.Clone(d.zones), func(z *zones.Zone) bool { return z.Origin == origin })
	d.down[origin] = why
	d.serveZones(origin, zs)
}
