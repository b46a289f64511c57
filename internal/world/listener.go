package world

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Listener wraps a TCP listener so that every accepted connection carries
// the distance between the client's place and the server's: the client's
// first bytes become readable one handshake round trip plus one way after
// the connection arrived, and every later byte one way after it was sent;
// what the server writes reaches the client one way later, paced by the
// link's bandwidth. A request/response over a new connection therefore
// takes two round trips, as on the internet (connect, then request).
//
// Flat, it returns ln itself: no wrapper, no cost. Wrap the raw TCP
// listener, under any TLS layer, so the TLS handshake crosses the link too.
// Clients in no place are accepted unwrapped.
func (w *World) Listener(ln net.Listener) net.Listener {
	if w == nil || w.flat {
		return ln
	}
	return &listener{Listener: ln, w: w}
}

type listener struct {
	net.Listener
	w *World
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	return l.w.serverConn(c), nil
}

// serverConn wraps an accepted connection (or returns it as it is when
// the client or the server is in no place).
func (w *World) serverConn(c net.Conn) net.Conn {
	server, client := addrOf(c.LocalAddr()), addrOf(c.RemoteAddr())
	link, ok := w.cur.Load().link(client, server)
	if !ok {
		return c
	}
	// SYN and SYN-ACK: the client's connect returns after them (on the
	// simulated clock), and its first bytes take one more way.
	hs := w.handshake(link)
	there, _ := w.sample(link)
	return newConn(c, w, server, client, time.Now().Add(hs+there))
}

// handshake draws a TCP handshake's round trip on l; a lost SYN or
// SYN-ACK costs the initial retransmission timeout.
func (w *World) handshake(l Link) time.Duration {
	there, lost1 := w.sample(l)
	back, lost2 := w.sample(l)
	rtt := there + back
	if lost1 || lost2 {
		rtt += synRTO
	}
	return rtt
}

// DialFunc is the shape of net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial wraps a dial function for a client whose server does NOT apply the
// world (an external or unwrapped backend): connect takes the handshake's
// round trip and the connection then carries the distance as a Listener's
// does. Toward a server wrapped by Listener, do not use it: the link
// would count twice. Bind the client to its place's address instead
// (net.Dialer.LocalAddr), and let the server side apply the distance.
// Flat, it returns dial itself.
func (w *World) Dial(dial DialFunc) DialFunc {
	if w == nil || w.flat {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		near, far := addrOf(c.LocalAddr()), addrOf(c.RemoteAddr())
		link, ok := w.cur.Load().link(near, far)
		if !ok {
			return c, nil
		}
		t := time.NewTimer(w.handshake(link))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.Close()
			return nil, ctx.Err()
		}
		return newConn(c, w, near, far, time.Now()), nil
	}
}

// addrOf is the IP of a socket address ("" when it has none).
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
