package health

import (
	"fmt"
	"time"
)

// Config is the timing of checks. Zero fields get the defaults in
// brackets (WithDefaults).
type Config struct {
	Interval time.Duration `mapstructure:"interval" json:"interval"` // between checks [2s]
	Timeout  time.Duration `mapstructure:"timeout" json:"timeout"`   // per check [1s, never more than the interval]
	Rise     int           `mapstructure:"rise" json:"rise"`         // consecutive successes to come back [2]
	Fall     int           `mapstructure:"fall" json:"fall"`         // consecutive failures to go down [3]
}

// NotNegative is nil, or an error that names all four values when one of
// them is negative (zero is allowed: it gets the default).
func (c Config) NotNegative() error {
	if c.Interval < 0 || c.Timeout < 0 || c.Rise < 0 || c.Fall < 0 {
		return fmt.Errorf("interval %v, timeout %v, rise %d, fall %d: none may be negative", c.Interval, c.Timeout, c.Rise, c.Fall)
	}
	return nil
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	c.Timeout = min(c.Timeout, c.Interval)
	if c.Rise <= 0 {
		c.Rise = 2
	}
	if c.Fall <= 0 {
		c.Fall = 3
	}
	return c
}

// CheckConfig is the `health:` block that lbd's pools and GeoDNS's names
// share: what to probe and when. Each embeds it with
// `mapstructure:",squash"` (the keys stay type, path, … beside the
// embedder's own) and validates it with its own limits and defaults.
type CheckConfig struct {
	Type string `mapstructure:"type"`
	// Path and Host are used by HTTP checks; ExpectStatus, when set, is the
	// only status an HTTP check accepts (0: any 2xx or 3xx).
	Path         string `mapstructure:"path"`
	Host         string `mapstructure:"host"`
	ExpectStatus int    `mapstructure:"expect_status"`
	Config       `mapstructure:",squash"`
}
