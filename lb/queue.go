package lb

import (
	"context"
	"time"

	"netsim/lb/backend"
	"netsim/lb/policy"
)

// wakeQueue returns the OnRelease hook: a freed slot wakes the requests
// queued in the pool. Without waiters it costs one atomic load.
func (s *Server) wakeQueue(pool string) func(*backend.Backend) {
	return func(*backend.Backend) {
		if s.queued.Load() == 0 {
			return
		}
		if p := s.pool(pool); p != nil && p.waiting.Load() > 0 {
			p.qmu.Lock()
			if p.freed != nil {
				close(p.freed)
				p.freed = nil
			}
			p.qmu.Unlock()
		}
	}
}

// queueable reports whether waiting can help: some backend is up and
// only held back by its max_connections.
func (sn *snapshot) queueable() bool {
	for _, b := range sn.list {
		if m := b.MaxConns(); m > 0 && b.State() == backend.Up && b.Weight() > 0 && b.InFlight() >= m {
			return true
		}
	}
	return false
}

// waitPick waits up to timeout for a backend to take the request, like
// HAProxy's queue ("timeout queue"). It returns nil on timeout or when the
// client goes away.
func (p *pool) waitPick(ctx context.Context, sn *snapshot, h policy.Hint, timeout time.Duration) *backend.Backend {
	s := p.srv
	s.queued.Add(1)
	p.waiting.Add(1)
	defer func() { p.waiting.Add(-1); s.queued.Add(-1) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		p.qmu.Lock()
		if p.freed == nil {
			p.freed = make(chan struct{})
		}
		ch := p.freed
		p.qmu.Unlock()
		// Pick after taking the channel, so a release in between is not lost.
		if b := p.pick(sn, h); b != nil {
			return b
		}
		if !sn.queueable() {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
