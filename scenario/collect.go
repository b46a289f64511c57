package scenario

import (
	"sort"
	"sync"
	"time"
)

// Collector keeps every record of a run; steps (an analysis) and the
// progress line read it while the load runs.
type Collector struct {
	mu       sync.Mutex
	recs     []Record
	failed   int
	versions map[string]int
}

// Add stores one record; safe for concurrent use.
func (c *Collector) Add(r Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	if !r.OK() {
		c.failed++
	} else {
		if c.versions == nil {
			c.versions = map[string]int{}
		}
		c.versions[r.Version]++
	}
}

// Records returns the records so far, in intended-send order.
func (c *Collector) Records() []Record {
	c.mu.Lock()
	out := append([]Record(nil), c.recs...)
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Counts are the totals so far: requests ended, failed, and answers per version.
func (c *Collector) Counts() (done, failed int, versions map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	versions = make(map[string]int, len(c.versions))
	for k, v := range c.versions {
		versions[k] = v
	}
	return len(c.recs), c.failed, versions
}

// Since counts the requests a backend answered that were sent at or after
// t (since the load started), and how many of them failed.
func (c *Collector) Since(backend string, t time.Duration) (n, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.recs {
		r := &c.recs[i]
		if r.Backend != backend || r.At() < t {
			continue
		}
		n++
		if !r.OK() {
			failed++
		}
	}
	return n, failed
}
