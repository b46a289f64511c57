package sim

import (
	"context"
	"net"
	"sync"

	"go.uber.org/zap"

	"netsim/internal/webd"
)

// WebdOptions are what every run of a sample web server shares.
type WebdOptions struct {
	ID         string
	Addr       string
	AdminToken string
	Log        *zap.Logger
	// Tune, when set, adjusts the options of each new run (tests shorten
	// the drain timeout with it).
	Tune func(*webd.Options)
	// Wrap, when set, wraps each run's listener (the world's distances).
	Wrap func(net.Listener) net.Listener
	// Started, when set, is told of each new run's server (its knobs and
	// counters).
	Started func(*webd.Server)
}

// Webd returns the Spec of a sample web server: each start is a new process
// with fresh knobs and the requested version; Stop drains it (webd's graceful
// shutdown), Kill resets its connections.
func Webd(o WebdOptions, version string) Spec {
	return Spec{
		Name: o.ID, Kind: "webd", Addr: o.Addr, Version: version,
		Start: func(ctx context.Context, version string) (Instance, error) {
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", o.Addr)
			if err != nil {
				return nil, err
			}
			if o.Wrap != nil {
				ln = o.Wrap(ln)
			}
			wo := webd.Options{ID: o.ID, Version: version, AdminToken: o.AdminToken, Log: o.Log}
			if o.Tune != nil {
				o.Tune(&wo)
			}
			srv := webd.New(wo)
			if o.Started != nil {
				o.Started(srv)
			}
			return serve(ctx, Track(ln), srv.Serve), nil
		},
	}
}

// serve runs fn on ln until Stop (ctx cancelled: fn drains) or Kill.
func serve(parent context.Context, ln *Listener, fn func(context.Context, net.Listener) error) Instance {
	ctx, cancel := context.WithCancel(parent)
	r := &run{cancel: cancel, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		err := fn(ctx, ln)
		r.mu.Lock()
		if !r.ended {
			r.err = err
			if err == nil && ctx.Err() == nil {
				r.err = errExitedClean
			}
		}
		r.mu.Unlock()
	}()
	return r
}

type run struct {
	cancel context.CancelFunc
	ln     *Listener
	done   chan struct{}

	mu    sync.Mutex
	ended bool // by Stop or Kill
	err   error
}

func (r *run) markEnded() {
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
}

func (r *run) Stop() {
	r.markEnded()
	r.cancel()
	<-r.done
}

// Kill resets the connections and closes the listener first, so nothing is
// drained; the server's own shutdown then finds nothing left to wait for.
func (r *run) Kill() {
	r.markEnded()
	r.ln.Kill()
	r.cancel()
}

func (r *run) Done() <-chan struct{} { return r.done }

func (r *run) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
