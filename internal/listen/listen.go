// Package listen holds the one ListenAndServe of the sample backends (webd,
// echo): listen on a TCP address, say which address was bound, serve.
package listen

import (
	"context"
	"net"
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
