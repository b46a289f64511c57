package l4

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"netsim/lb/backend"
	"netsim/lb/health"
	"netsim/lb/policy"
)

var errNoBackend = errors.New("no backend available")

// pool is the runtime side of a Pool in one configuration. Its backends
// may be shared with the pool of the same name in the previous one.
type pool struct {
	s        *Server
	cfg      Pool
	policy   policy.Policy
	backends []*backend.Backend
	byID     map[string]*backend.Backend
	met      map[*backend.Backend]*backendMetrics
	monitor  *health.Monitor
	// kept are the running backends this pool carries over, with the
	// settings Commit applies to them.
	kept []Backend
}

func newPool(pc Pool, s *Server, prev *pool) (*pool, error) {
	pol, err := newPolicy(pc.Policy)
	if err != nil {
		return nil, err
	}
	p := &pool{s: s, cfg: pc, policy: pol, byID: map[string]*backend.Backend{}, met: map[*backend.Backend]*backendMetrics{}}
	obs := backend.ObserverFunc(func(b *backend.Backend, from, to backend.State, reason string) {
		s.log.Info("tcp backend state", zap.String("pool", pc.Name), zap.String("backend", b.ID()),
			zap.Stringer("from", from), zap.Stringer("to", to), zap.String("reason", reason))
		s.met.changes.WithLabelValues(pc.Name, b.ID(), to.String()).Inc()
	})
	for _, bc := range pc.Backends {
		var b *backend.Backend
		if prev != nil {
			if ob := prev.byID[bc.ID]; ob != nil && ob.Address() == bc.Address {
				b = ob
				p.kept = append(p.kept, bc)
			}
		}
		if b == nil {
			b = backend.New(backend.Options{ID: bc.ID, Address: bc.Address, Weight: *bc.Weight,
				MaxConns: bc.MaxConns, Healthy: pc.Health.Disabled, Observer: obs})
		}
		p.backends = append(p.backends, b)
		p.byID[bc.ID] = b
		p.met[b] = s.met.backend(pc.Name, bc.ID)
	}
	var check health.Checker
	if !pc.Health.Disabled {
		check = &health.TCP{}
	}
	p.monitor = health.NewMonitor(health.Config{Config: pc.Health.Config}, check, nil, s.log, nil)
	return p, nil
}

// carryOver applies the new settings to the backends kept from the
// running pool (a commit step: nothing before it changes them).
func (p *pool) carryOver() {
	for _, bc := range p.kept {
		b := p.byID[bc.ID]
		b.SetWeight(*bc.Weight)
		b.SetMaxConns(bc.MaxConns)
		if p.cfg.Health.Disabled && !b.Healthy() {
			b.SetHealthy(true, "health checks disabled")
		}
	}
}

// monitorAll starts the health checks of every backend.
func (p *pool) monitorAll() {
	for _, b := range p.backends {
		p.monitor.Add(b)
	}
}

// waitFirst waits (bounded) for the first round of checks so that the
// first connections find healthy backends.
func (p *pool) waitFirst(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, p.monitor.Config().Timeout+time.Second)
	defer cancel()
	p.monitor.WaitFirst(wctx)
}

// connect picks a backend and dials it, retrying other backends on a
// failed dial. The backend is Acquired on success; the caller Releases.
func (p *pool) connect(ctx context.Context, client netip.Addr) (*backend.Backend, *net.TCPConn, error) {
	tried := map[*backend.Backend]bool{}
	var lastErr error
	for range 1 + *p.cfg.Retries {
		b := p.policy.Pick(p.backends, policy.Hint{Client: client})
		if b != nil && tried[b] {
			b = nil
			for _, c := range p.backends {
				if c.Available() && !tried[c] {
					b = c
					break
				}
			}
		}
		if b == nil {
			break
		}
		tried[b] = true
		b.Acquire() // counted while dialling, so least_connections sees it
		c, err := p.dialBackend(ctx, b.Address())
		if err != nil {
			b.Release()
			b.Failure(*p.cfg.PassiveFails, "connect: "+err.Error())
			p.s.met.dialErrors.WithLabelValues(p.cfg.Name, b.ID()).Inc()
			lastErr = fmt.Errorf("%s: %w", b, err)
			continue
		}
		b.Success()
		return b, c, nil
	}
	if lastErr == nil {
		return nil, nil, fmt.Errorf("pool %s: %w", p.cfg.Name, errNoBackend)
	}
	return nil, nil, lastErr
}

func (p *pool) dialBackend(ctx context.Context, addr string) (*net.TCPConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	var c net.Conn
	var err error
	if p.s.dial != nil {
		c, err = p.s.dial(ctx, addr)
	} else {
		d := net.Dialer{KeepAlive: -1} // as on the client side (Serve)
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dialer returned %T, not a TCP connection", c)
	}
	return tc, nil
}
