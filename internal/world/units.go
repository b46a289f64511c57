package world

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bandwidth is a link's capacity in bits per second; 0 means unlimited.
type Bandwidth int64

// Unlimited is the bandwidth of a link that paces nothing.
const Unlimited Bandwidth = 0

// bandwidth units, in bits per second, longest suffix first.
var bandwidthUnits = []struct {
	suffix, display string
	mult            float64
}{
	{"gbit", "Gbit", 1e9}, {"mbit", "Mbit", 1e6}, {"kbit", "kbit", 1e3}, {"bit", "bit", 1},
}

// ParseBandwidth reads "100Mbit", "1.5Gbit/s", "800kbit" or "unlimited"
// (also "0" or ""). Units are bits per second, as tc and ISPs write them.
func ParseBandwidth(s string) (Bandwidth, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "/s")
	if num, ok := strings.CutSuffix(t, "bps"); ok {
		t = num + "bit"
	}
	if t == "" || t == "0" || t == "unlimited" {
		return Unlimited, nil
	}
	for _, u := range bandwidthUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			break
		}
		bps := f * u.mult
		if bps < 1000 || bps > 1e12 {
			return 0, fmt.Errorf("bandwidth %q is out of range: want from 1kbit to 1000Gbit, or unlimited", s)
		}
		return Bandwidth(bps), nil
	}
	return 0, fmt.Errorf("bandwidth %q: want a number with a unit such as 100Mbit, 1.5Gbit or 800kbit, or unlimited", s)
}

// String formats b as ParseBandwidth reads it ("100Mbit", "unlimited").
func (b Bandwidth) String() string {
	if b <= 0 {
		return "unlimited"
	}
	for _, u := range bandwidthUnits {
		if float64(b) >= u.mult {
			v := float64(b) / u.mult
			return strconv.FormatFloat(v, 'f', -1, 64) + u.display
		}
	}
	return strconv.FormatInt(int64(b), 10) + "bit"
}

// transmit is how long n bytes take to serialise onto a link of b.
func (b Bandwidth) transmit(n int) time.Duration {
	if b <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(float64(n) * 8 / float64(b) * float64(time.Second))
}

// maxLatency bounds a configured one-way latency (a typo like 40s instead
// of 40ms would otherwise stall every query past its timeout).
const maxLatency = 10 * time.Second

// parseDelay reads a one-way latency or jitter such as "40ms" or "0".
func parseDelay(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 || d > maxLatency {
		return 0, fmt.Errorf("want a duration from 0 to %s such as 40ms or 500us", maxLatency)
	}
	return d, nil
}
