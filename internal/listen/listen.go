// Package listen holds the one ListenAndServe of the sample backends (webd,
// echo): listen on a TCP address, say which address was bound, serve.
package listen

import (
	"context"
	"net"
	"sync"
)

// AndServe listens on addr (TCP), calls ready with the bound address (useful
// with port 0) when ready is set, and hands the listener to serve, whose
// error it returns.
func AndServe(ctx context.Context, addr string, ready func(net.Addr), serve func(context.Context, net.Listener) error) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return serve(ctx, ln)
}

// Start listens on addr (TCP) and runs serve on a goroutine of its own; it
// returns once the listener is bound, with the bound address and stop,
// which ends serve's context and waits for serve, returning its error
// (every call returns the first call's result).
func Start(addr string, serve func(context.Context, net.Listener) error) (bound net.Addr, stop func() error, err error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	return ln.Addr(), stop, nil
}
