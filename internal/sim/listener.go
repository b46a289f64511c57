package sim

import (
	"net"
	"sync"
)

// Listener tracks the connections it accepts, so that a "kill" can reset all
// of them at once, as the kernel does when a process dies with connections
// open.
type Listener struct {
	net.Listener

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	killed bool
}

// Track wraps ln.
func Track(ln net.Listener) *Listener {
	return &Listener{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

// Accept accepts and remembers a connection until it is closed.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	if l.killed {
		l.mu.Unlock()
		reset(c)
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// Open is the number of accepted connections not yet closed.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Kill closes the listener and resets every open connection (RST, not FIN).
func (l *Listener) Kill() {
	l.mu.Lock()
	l.killed = true
	conns := l.conns
	l.conns = map[*trackedConn]struct{}{}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for c := range conns {
		reset(c.Conn)
	}
}

// reset closes c with SO_LINGER 0, so the peer sees a reset. Wrappers that
// expose their socket (tls.Conn, the world's delayed conns) are unwrapped.
func reset(c net.Conn) {
	inner := c
	for {
		w, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		inner = w.NetConn()
	}
	if tc, ok := inner.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
		_ = tc.Close()
	}
	_ = c.Close()
}

type trackedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
