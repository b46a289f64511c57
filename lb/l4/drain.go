package l4

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"netsim/lb/backend"
)

// SetBackendState sets a backend to up, draining or maintenance. Draining
// takes no new connections; its open ones run until they close or the
// pool's drain timeout passes. Maintenance closes them at once.
func (s *Server) SetBackendState(poolName, id string, st backend.State) error {
	p := s.pool(poolName)
	if p == nil {
		return fmt.Errorf("no pool %q", poolName)
	}
	return p.setState(id, st)
}

// track registers an open connection to b; false when b went to
// maintenance meanwhile.
func (s *Server) track(b *backend.Backend, sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.AdminState() == backend.Maintenance {
		return false
	}
	m := s.sessions[b]
	if m == nil {
		m = map[*session]struct{}{}
		s.sessions[b] = m
	}
	m[sess] = struct{}{}
	sess.met.active.Inc()
	return true
}

func (s *Server) untrack(b *backend.Backend, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[b][sess]; ok {
		delete(s.sessions[b], sess)
		if len(s.sessions[b]) == 0 {
			delete(s.sessions, b)
		}
		sess.met.active.Dec()
	}
}

// abortBackend closes every open connection to b.
func (s *Server) abortBackend(b *backend.Backend) int {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions[b]))
	for sess := range s.sessions[b] {
		list = append(list, sess)
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.abort()
	}
	return len(list)
}

// abortAll closes every open connection.
func (s *Server) abortAll() {
	s.mu.Lock()
	var list []*session
	for _, m := range s.sessions {
		for sess := range m {
			list = append(list, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.abort()
	}
}

func (p *pool) setState(id string, st backend.State) error {
	b, ok := p.byID[id]
	if !ok {
		return fmt.Errorf("no backend %q in pool %q", id, p.cfg.Name)
	}
	if st == backend.Down {
		return errors.New(`"down" is set by health checks; use "maintenance"`)
	}
	s := p.s
	b.SetAdminState(st, "api")
	s.mu.Lock()
	if t := s.drains[b]; t != nil {
		t.Stop()
		delete(s.drains, b)
	}
	if st == backend.Draining && !s.stopped {
		deadline := p.cfg.DrainTimeout
		s.drains[b] = time.AfterFunc(deadline, func() {
			if b.AdminState() != backend.Draining {
				return
			}
			if n := s.abortBackend(b); n > 0 {
				s.log.Warn("tcp drain deadline passed; connections closed", zap.String("pool", p.cfg.Name),
					zap.String("backend", b.ID()), zap.Int("closed", n), zap.Duration("drain_timeout", deadline))
			}
		})
	}
	s.mu.Unlock()
	if st == backend.Maintenance {
		s.abortBackend(b)
	}
	return nil
}
