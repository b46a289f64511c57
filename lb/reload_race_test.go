package lb

import (
	"testing"
	"time"

	"netsim/internal/testutil"
)

// TestReloadRaceStickTable reloads a source_ip sticky pool many times while
// requests flow; under -race it must be clean. The sticky TTL is tiny so
// that every request writes the stick table (and reads its size limit),
// and every reload changes max_table (issue 9, defect 2).
func TestReloadRaceStickTable(t *testing.T) {
	h := newHarness(t, 2, func(c *Config) {
		c.Pools[0].Sticky.Mode = "source_ip"
		c.Pools[0].Sticky.TTL = time.Millisecond
	})
	stop := make(chan struct{})
	res, wait := h.load(4, 3000, 30*time.Second, stop)
	for i := range 60 {
		cfg := h.cfg
		cfg.Pools = append([]PoolConfig(nil), h.cfg.Pools...)
		cfg.Pools[0].Sticky.MaxTable = 1000 + i
		if err := h.srv.Reload(cfg); err != nil {
			close(stop)
			wait()
			t.Fatalf("reload %d: %v", i, err)
		}
		res.mu.Lock()
		at := res.ok + res.failed
		res.mu.Unlock()
		// let some requests through between reloads
		testutil.WaitFor(t, "requests after reload", 20*time.Second, func() bool {
			res.mu.Lock()
			defer res.mu.Unlock()
			return res.ok+res.failed >= min(at+5, 3000)
		})
	}
	res.end(t, stop, wait, "across reloads")
}
