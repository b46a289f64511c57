package health

import "time"

// Config is the timing of checks. Zero fields get the defaults in
// brackets (WithDefaults).
type Config struct {
	Interval time.Duration // between checks [2s]
	Timeout  time.Duration // per check [1s, never more than the interval]
	Rise     int           // consecutive successes to come back [2]
	Fall     int           // consecutive failures to go down [3]
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

// Streak counts consecutive check results: a success resets the failures
// and a failure the successes, so at most one of them is non-zero.
type Streak struct {
	Successes int
	Failures  int
}

// Record adds one result.
func (s *Streak) Record(ok bool) {
	if ok {
		s.Successes++
		s.Failures = 0
		return
	}
	s.Failures++
	s.Successes = 0
}

// Verdict says whether a target that is up (up=true) or down should change
// state after the results so far: down after Fall failures in a row, up
// after Rise successes in a row.
func (s Streak) Verdict(c Config, up bool) (flip bool) {
	if up {
		return s.Failures >= c.Fall
	}
	return s.Successes >= c.Rise
}
