package lb

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// freshConns are the nethttp engine's connections whose first request
// has not been answered. net/http's Shutdown drops a request it reads
// after Shutdown began, even on a connection accepted before, whose
// client connected and is sending: a request lost that a client trying
// the next address only on a failed connect cannot recover. So the drain
// closes the listener first, waits (newConnGrace at most) for these
// connections to be answered once, and only then calls Shutdown. The
// fast engine keeps such connections in its connNew state (engine.go).
type freshConns struct {
	conns sync.Map // net.Conn → struct{}
	n     atomic.Int64
}

// state follows http.Server's ConnState: a connection is fresh from
// StateNew until its first answer (StateIdle) or its end.
func (f *freshConns) state(c net.Conn, cs http.ConnState) {
	switch cs {
	case http.StateNew:
		f.conns.Store(c, struct{}{})
		f.n.Add(1)
	case http.StateIdle, http.StateClosed, http.StateHijacked:
		if _, ok := f.conns.LoadAndDelete(c); ok {
			f.n.Add(-1)
		}
	}
}

// wait returns once no connection is fresh, after grace, or when ctx ends.
func (f *freshConns) wait(ctx context.Context, grace time.Duration) {
	if f.n.Load() == 0 {
		return
	}
	end := time.NewTimer(grace)
	defer end.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f.n.Load() > 0 {
		select {
		case <-tick.C:
		case <-end.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
