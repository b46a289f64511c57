package dnsd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"go.uber.org/zap"

	"netsim/dns/geo"
)

// geoPart is GeoDNS inside the daemon: the database, and the engine behind
// a hook that reloads swap.
type geoPart struct {
	hook   *geo.Hook
	db     *geo.MaxMind
	dbPath string
	demo   bool // dbPath is our own demo file, removed at exit
}

// demoDBPath is where the built-in demo geography is written: per process,
// so several dnsd on one machine never read each other's half-written file.
func demoDBPath() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("netsim-geo-demo-%d.mmdb", os.Getpid()))
}

// newGeo opens the database (writing the demo one when none is configured)
// and builds the engine; nil when no geo names are configured.
func (d *Daemon) newGeo(cfg geo.Config) (*geoPart, error) {
	if len(cfg.Names) == 0 {
		return nil, nil
	}
	g := &geoPart{dbPath: cfg.Database}
	if g.dbPath == "" {
		g.dbPath, g.demo = demoDBPath(), true
		if err := geo.WriteDemoDB(g.dbPath); err != nil {
			return nil, fmt.Errorf("geo.database: writing the demo geography: %w", err)
		}
	}
	db, err := geo.OpenMaxMind(g.dbPath, d.log.Named("geoip"), d.reg)
	if err != nil {
		g.close()
		return nil, fmt.Errorf("geo.database: %w", err)
	}
	g.db = db
	e, err := geo.New(cfg, db, d.log.Named("geo"), d.reg)
	if err != nil {
		g.close()
		return nil, err
	}
	g.hook = geo.NewHook(e)
	return g, nil
}

// start runs the health probes and the database watcher until ctx ends.
func (g *geoPart) start(ctx context.Context, cfg geo.Config, wgAdd func(func())) {
	g.hook.Load().Start(ctx)
	if !g.demo {
		wgAdd(func() { g.db.Watch(ctx, cfg.ReloadInterval) })
	}
}

func (g *geoPart) close() {
	if g == nil {
		return
	}
	if g.hook != nil {
		if e := g.hook.Load(); e != nil {
			e.Close()
		}
	}
	if g.demo {
		_ = os.Remove(g.dbPath)
	}
}

// reloadGeo builds a new engine for cfg and swaps it in; the old one keeps
// answering if the new one cannot be built. A changed database path takes
// effect at the next restart (the open database follows its own file).
func (d *Daemon) reloadGeo(ctx context.Context, old, next geo.Config) error {
	if d.geo == nil {
		if len(next.Names) > 0 {
			d.log.Warn("geo names added; GeoDNS starts at the next restart")
		}
		return nil
	}
	if reflect.DeepEqual(old, next) {
		return nil
	}
	if next.Database != old.Database {
		d.log.Warn("geo.database changed; it takes effect at the next restart")
	}
	e, err := geo.New(next, d.geo.db, d.log.Named("geo"), d.reg)
	if err != nil {
		return err
	}
	e.Start(ctx)
	d.geo.hook.Swap(e).Close()
	d.log.Info("geo names reloaded", zap.Int("names", len(next.Names)))
	return nil
}
