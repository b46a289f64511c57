package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"

	"netsim/internal/world"
)

// newWorld builds the distances netsim's servers apply: none with flat,
// the file's `world:` section with path, else the built-in world
// (internal/world/world.yaml). Every change made through the control API is
// logged.
func newWorld(path string, flat bool, log *zap.Logger) (*world.World, error) {
	var c world.Config
	switch {
	case flat && path != "":
		return nil, fmt.Errorf("--flat and --world %s: want one of them (flat is no distance at all)", path)
	case flat:
		c.Off = true
	case path != "":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--world: %w", err)
		}
		if c, err = world.Parse(data); err != nil {
			return nil, fmt.Errorf("--world %s: %w", path, err)
		}
	}
	w, err := world.New(c, world.Options{OnEvent: func(e world.Event) {
		log.Info("world changed", zap.String("event", e.Kind), zap.String("a", e.A), zap.String("b", e.B),
			zap.Any("before", e.Before), zap.Any("after", e.After))
	}})
	if err != nil {
		return nil, fmt.Errorf("world: %w", err)
	}
	if w.Flat() {
		log.Info("the world is flat: no distance between servers (--flat)")
	} else {
		log.Info("the world has distance: replies are delayed by the modelled round trips (netsim --flat turns it off)")
	}
	return w, nil
}
