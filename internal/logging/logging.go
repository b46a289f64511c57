// Package logging builds the zap loggers of the daemons: console for people
// by default, JSON for machines on request.
package logging

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger writing to stderr in format "console" or "json" at
// level ("debug", "info", "warn", "error").
func New(format, level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	switch strings.ToLower(format) {
	case "", "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	default:
		return nil, fmt.Errorf("log.format: %q is not one of console, json", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.DisableCaller = true
	return cfg.Build()
}
