package dnsd

import (
	"errors"
	"reflect"

	"go.uber.org/zap"
)

// Reload swaps in a new config and zones. Everything is built off to the
// side and checked first — zones, the GeoDNS engine and a changed GeoIP
// database, new listeners' sockets — and only then swapped in, in one
// step that cannot fail; on any error nothing serving has changed.
// Listeners whose address stays keep their sockets (no query is lost); new
// addresses are bound and removed ones closed.
func (d *Daemon) Reload(cfg Config) error {
	err := d.reload(cfg)
	if err != nil {
		d.reloadErr.Inc()
		d.log.Error("reload refused; the old config keeps serving", zap.Error(err))
		return err
	}
	d.reloads.Inc()
	d.log.Info("reloaded", zap.Int("zones", len(d.zones)), zap.Int("servers", len(cfg.Servers)))
	return nil
}

func (d *Daemon) reload(cfg Config) error {
	// build and check; zone files are read under d.mu, so that a record
	// change (records.go) is not swapped out by files read before it
	d.mu.Lock()
	defer d.mu.Unlock()
	zs, err := cfg.LoadZones()
	if err != nil {
		return err
	}
	if zs, err = d.keepFollowed(cfg, zs); err != nil {
		return err
	}
	if zs, err = d.xfr.Open(zs); err != nil {
		return err
	}
	if zs, err = d.sign.prepare(zs); err != nil {
		return err
	}
	if d.ctx == nil {
		return errors.New("reload before Run")
	}
	gn, err := d.buildGeo(d.cfg.Geo, cfg.Geo)
	if err != nil {
		return err
	}
	// bind new listeners (not serving until the swap below cannot fail)
	var started []string
	undo := func() {
		for _, a := range started {
			d.listeners[a].cancel()
			<-d.listeners[a].done
			delete(d.listeners, a)
		}
		if gn != nil {
			gn.engine.Close()
		}
	}
	limiters, err := d.keptLimiters(cfg)
	if err != nil {
		undo()
		return err
	}
	for _, s := range cfg.Servers {
		if _, ok := d.listeners[s.Listen]; ok {
			continue
		}
		if err := d.startListener(s, cfg.RRL); err != nil {
			undo()
			return err
		}
		started = append(started, s.Listen)
	}
	// swap
	logWarnings(d.log, zs)
	warnSerials(d.log, d.zones, zs)
	if cfg.Admin != d.cfg.Admin {
		d.log.Warn("admin settings changed; they take effect at the next restart")
		cfg.Admin = d.cfg.Admin
	}
	if !reflect.DeepEqual(cfg.Primary, d.cfg.Primary) || !reflect.DeepEqual(cfg.TSIGKeys, d.cfg.TSIGKeys) || !reflect.DeepEqual(cfg.Secondary, d.cfg.Secondary) {
		d.log.Warn("primary, secondary and tsig_keys settings changed; they take effect at the next restart")
	}
	if !reflect.DeepEqual(cfg.Resolver, d.cfg.Resolver) {
		d.log.Warn("resolver settings changed; they take effect at the next restart (the cache is kept until then)")
	}
	if gn != nil {
		d.geo.swap(d.ctx, gn, cfg.Geo.ReloadInterval, func(f func()) {
			d.wg.Add(1)
			go func() { defer d.wg.Done(); f() }()
		})
		d.log.Info("geo names reloaded", zap.Int("names", len(cfg.Geo.Names)))
	}
	want := map[string]ServerConfig{}
	for _, s := range cfg.Servers {
		want[s.Listen] = s
	}
	for addr, r := range d.listeners {
		s, ok := want[addr]
		if !ok {
			r.cancel()
			delete(d.listeners, addr)
			continue
		}
		h := r.l.Handler()
		h.SetZones(d.setFor(s, zs))
		if lim, ok := limiters[addr]; ok {
			h.SetRRL(lim)
		}
		h.SetExtension(d.xfr.For(s.Zones))
		if s.Recursion && d.Recursor != nil {
			h.SetRecursor(d.Recursor)
		} else {
			h.SetRecursor(nil)
		}
	}
	d.cfg, d.zones = cfg, zs
	return nil
}
