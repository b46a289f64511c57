package health

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
