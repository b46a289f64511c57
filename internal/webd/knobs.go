package webd

import (
	"encoding/json"
	"fmt"
	"time"

	"netsim/internal/cfgerr"
)

// MaxDelay bounds the latency and jitter knobs so that a typo ("50s" for
// "50ms") cannot wedge a demo for hours.
const MaxDelay = 5 * time.Minute

// knobs is one immutable snapshot of the failure knobs. Setters copy, change
// and swap it in; the request path loads it with one atomic read.
type knobs struct {
	version   string
	latency   time.Duration
	jitter    time.Duration
	errorRate float64
	healthy   bool
	hang      bool
	// flap, when > 0, makes a healthy server's /healthz alternate: passing
	// for flap, failing for flap, and so on, counted from flapSince.
	flap      time.Duration
	flapSince time.Time
	// load overrides the measured load percentage when >= 0.
	load float64
	// release is closed when hang is switched off; hung requests wait on it.
	release chan struct{}
}

// Config is the JSON form of the knobs, as GET /admin/config shows them.
type Config struct {
	ID        string  `json:"id"`
	Version   string  `json:"version"`
	Latency   string  `json:"latency"`
	Jitter    string  `json:"jitter"`
	ErrorRate float64 `json:"error_rate"`
	Healthy   bool    `json:"healthy"`
	Hang      bool    `json:"hang"`
	// Flap is the health flap period ("0s": steady health).
	Flap string `json:"flap"`
	// Load is the forced load percentage, or null when the load is measured.
	Load     *float64 `json:"load"`
	Capacity int64    `json:"capacity"`
}

// ConfigPatch is the body of POST/PATCH /admin/config: absent fields keep
// their value. Load set to a negative number goes back to the measured load.
type ConfigPatch struct {
	Version   *string   `json:"version,omitempty"`
	Latency   *Duration `json:"latency,omitempty"`
	Jitter    *Duration `json:"jitter,omitempty"`
	ErrorRate *float64  `json:"error_rate,omitempty"`
	Healthy   *bool     `json:"healthy,omitempty"`
	Hang      *bool     `json:"hang,omitempty"`
	Load      *float64  `json:"load,omitempty"`
	// Flap > 0 makes health flip every Flap (passing first); 0 steadies it.
	Flap *Duration `json:"flap,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("50ms"); a bare number is read as milliseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "50ms" or 50 (milliseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration like \"50ms\" or \"1.5s\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("%s is not a duration like \"50ms\" or a number of milliseconds", b)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

func checkDelay(field string, d time.Duration) error {
	if d < 0 {
		return cfgerr.New(field, d, "must not be negative")
	}
	if d > MaxDelay {
		return cfgerr.New(field, d, "must be at most %s", MaxDelay)
	}
	return nil
}

func checkRate(r float64) error {
	if !(r >= 0 && r <= 1) { // also refuses NaN
		return cfgerr.New("error_rate", r, "must be between 0 and 1")
	}
	return nil
}

// validate checks every field of p that is set, before anything changes.
func (p *ConfigPatch) validate() error {
	if p.Version != nil && *p.Version == "" {
		return cfgerr.New("version", "", "must not be empty")
	}
	if p.Latency != nil {
		if err := checkDelay("latency", time.Duration(*p.Latency)); err != nil {
			return err
		}
	}
	if p.Jitter != nil {
		if err := checkDelay("jitter", time.Duration(*p.Jitter)); err != nil {
			return err
		}
	}
	if p.Flap != nil {
		if err := checkDelay("flap", time.Duration(*p.Flap)); err != nil {
			return err
		}
	}
	if p.ErrorRate != nil {
		if err := checkRate(*p.ErrorRate); err != nil {
			return err
		}
	}
	if p.Load != nil && (*p.Load > 100 || *p.Load != *p.Load) {
		return cfgerr.New("load", *p.Load, "must be a percentage up to 100 (negative to measure)")
	}
	return nil
}

// passing is whether /healthz answers 200 at now: the healthy knob, and
// with a flap period, the half of the period now falls in.
func (k *knobs) passing(now time.Time) bool {
	if !k.healthy || k.flap <= 0 {
		return k.healthy
	}
	return (now.Sub(k.flapSince)/k.flap)%2 == 0
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
