package l4

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"netsim/internal/peraddr"
)

// frontend is one listener. cfg is the configuration it started with
// (name, listen and max_conns); rt is what a reload may change.
type frontend struct {
	s   *Server
	cfg Frontend
	met frontMetrics
	rt  atomic.Pointer[routes]
	ln  net.Listener
	sem chan struct{}

	perClient peraddr.Count
}

// routes are a frontend's settings and pools in one configuration.
type routes struct {
	cfg     Frontend
	def     *pool
	exact   map[string]*pool
	wild    map[string]*pool
	trusted []netip.Prefix
}

func newRoutes(fc Frontend, g *generation) *routes {
	f := &routes{cfg: fc, exact: map[string]*pool{}, wild: map[string]*pool{}}
	if fc.Pool != "" {
		f.def = g.pools[fc.Pool]
	}
	for _, r := range fc.SNI {
		if rest, ok := strings.CutPrefix(r.Name, "*."); ok {
			f.wild[rest] = g.pools[r.Pool]
		} else {
			f.exact[r.Name] = g.pools[r.Pool]
		}
	}
	for _, a := range fc.AcceptProxy {
		p, _ := parsePrefix(a) // validated
		f.trusted = append(f.trusted, p)
	}
	return f
}

// route picks the pool for a server name: exact, then wildcard (one
// label), then the default.
func (f *routes) route(name string) *pool {
	if p := f.exact[name]; p != nil {
		return p
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		if p := f.wild[rest]; p != nil {
			return p
		}
	}
	return f.def
}

func (f *routes) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (f *frontend) acceptLoop() {
	defer f.s.wg.Done()
	var backoff time.Duration
	for {
		// The connection limit: stop accepting when full; the kernel
		// backlog holds the rest.
		select {
		case f.sem <- struct{}{}:
		case <-f.s.ctx.Done():
			return
		}
		c, err := f.ln.Accept()
		if err != nil {
			<-f.sem
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.s.log.Warn("tcp accept error", zap.String("frontend", f.cfg.Name), zap.Error(err), zap.Duration("retry_in", backoff))
			select {
			case <-time.After(backoff):
				continue
			case <-f.s.ctx.Done():
				return
			}
		}
		backoff = 0
		f.s.wg.Add(1)
		f.s.active.Add(1)
		go func() {
			defer f.s.wg.Done()
			defer f.s.active.Add(-1)
			defer func() { <-f.sem }()
			f.handle(c)
		}()
	}
}

// clientIn counts a connection from a when there is a per-client cap;
// ok is false when a is over it, counted says whether clientOut is due.
func (f *frontend) clientIn(a netip.Addr, limit int) (ok, counted bool) {
	if limit <= 0 {
		return true, false
	}
	ok = f.perClient.Take(a, limit)
	return ok, ok
}

func (f *frontend) clientOut(a netip.Addr) { f.perClient.Release(a) }
