package main

import (
	"go.uber.org/zap"

	"netsim/dns/dnsd"
)

// build assembles the daemon with its optional parts.
func build(cfg dnsd.Config, log *zap.Logger) (*dnsd.Daemon, error) {
	return dnsd.New(cfg, log)
}
