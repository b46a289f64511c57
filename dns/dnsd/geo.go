package dnsd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"netsim/dns/geo"
)

// geoPart is GeoDNS inside the daemon: the database, and the engine behind
// a hook that reloads swap.
type geoPart struct {
	hook   *geo.Hook
	db     *geo.MaxMind
	dbPath string
	demo   bool // dbPath is our own demo file, removed at exit
	// stopWatch ends the watcher of db (nil: none running).
	stopWatch context.CancelFunc
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
	g.watch(ctx, cfg.ReloadInterval, wgAdd)
}

// watch follows changes to the database file (not the demo one, which
// nobody else writes).
func (g *geoPart) watch(ctx context.Context, interval time.Duration, wgAdd func(func())) {
	if g.demo {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	g.stopWatch = cancel
	db := g.db
	wgAdd(func() { db.Watch(wctx, interval) })
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

// geoNext is a GeoDNS reload built off to the side: the engine (and the
// database, when its path changed) for the new config, not yet serving.
type geoNext struct {
	engine *geo.Engine
	db     *geo.MaxMind // nil: keep the open database
	path   string
}

// buildGeo prepares the GeoDNS part of a reload without touching what
// serves: nil (and no error) when nothing changes. A changed database path
// is opened and verified here, so a bad file refuses the whole reload.
func (d *Daemon) buildGeo(old, next geo.Config) (*geoNext, error) {
	if d.geo == nil {
		if len(next.Names) > 0 {
			d.log.Warn("geo names added; GeoDNS starts at the next restart")
		}
		return nil, nil
	}
	if reflect.DeepEqual(old, next) {
		return nil, nil
	}
	gn := &geoNext{}
	db := d.geo.db
	if next.Database != old.Database {
		if next.Database == "" {
			return nil, fmt.Errorf("geo.database: %q: the demo geography is chosen at start; give a file", next.Database)
		}
		ndb, err := geo.OpenMaxMind(next.Database, d.log.Named("geoip"), d.reg)
		if err != nil {
			return nil, fmt.Errorf("geo.database: %w", err)
		}
		gn.db, gn.path, db = ndb, next.Database, ndb
	}
	e, err := geo.New(next, db, d.log.Named("geo"), d.reg)
	if err != nil {
		return nil, err
	}
	gn.engine = e
	return gn, nil
}

// swap puts a built GeoDNS reload in service; it cannot fail. The old
// engine is closed once out of use; a new database gets its own watcher.
func (g *geoPart) swap(ctx context.Context, gn *geoNext, interval time.Duration, wgAdd func(func())) {
	if gn == nil {
		return
	}
	gn.engine.Start(ctx)
	g.hook.Swap(gn.engine).Close()
	if gn.db == nil {
		return
	}
	if g.stopWatch != nil {
		g.stopWatch()
	}
	if g.demo {
		_ = os.Remove(g.dbPath)
	}
	g.db, g.dbPath, g.demo = gn.db, gn.path, false
	g.watch(ctx, interval, wgAdd)
}
