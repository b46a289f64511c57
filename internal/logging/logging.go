// Package logging builds the zap loggers of the daemons: console for people
// by default, JSON for machines on request.
package logging

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ConsoleTimeLayout is the console format's time stamp: ISO 8601 date and
// time to the millisecond with the zone offset, e.g. 2026-03-01T14:05:09.120+0100.
const ConsoleTimeLayout = "2006-01-02T15:04:05.000Z0700"

// New returns a logger writing to stderr in format "console" or "json" at
// level ("debug", "info", "warn", "error").
func New(format, level string) (*zap.Logger, error) {
	cfg, err := config(format, level)
	if err != nil {
		return nil, err
	}
	return cfg.Build()
}

// config is the zap config of New.
func config(format, level string) (zap.Config, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return zap.Config{}, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	switch strings.ToLower(format) {
	case "", "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true
		// the date too: a certificate's not_after or a log read the next
		// day must not be only a time of day (ISO 8601, local zone)
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout(ConsoleTimeLayout)
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	default:
		return zap.Config{}, fmt.Errorf("log.format: %q is not one of console, json", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.DisableCaller = true
	return cfg, nil
}
