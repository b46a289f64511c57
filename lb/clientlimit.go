package lb

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"netsim/internal/peraddr"
)

// clientLimitListener caps the open connections of one client address on
// an HTTP frontend (frontends[].max_connections_per_client; 0, the
// default, is no cap: every demo client is on loopback). A connection
// over the cap is closed at accept, before TLS or any byte of HTTP, so
// both engines (fast and nethttp) see only the ones within it. Refusals
// are counted in lbd_frontend_connections_refused_total{reason=
// "client_limit"} and logged at most once per logEvery, with the number
// refused since the last line.
//
// The cap is read from the frontend's current config at each accept, so
// SIGHUP changes it for new connections; connections accepted while it
// was off are not counted.
//
// It also holds frontends[].max_connections (fixed at listen time): while
// that many are open, Accept waits for one to close, as net/http's
// netutil.LimitListener does — but an accepted *net.TCPConn keeps its
// methods (CloseWrite for a lingering close, SyscallConn for parking).
type clientLimitListener struct {
	net.Listener
	slots   chan struct{} // one per open connection; nil: no cap
	closed  chan struct{}
	once    sync.Once
	limit   func() int
	refused prometheus.Counter
	log     *zap.Logger
	now     func() time.Time

	open   peraddr.Count
	quiet  atomic.Int64 // refusals since the last log line
	logged atomic.Int64 // unix nanoseconds of the last log line
}

// logEvery bounds the refusal log lines of one frontend.
const logEvery = 10 * time.Second

func newClientLimitListener(ln net.Listener, max int, limit func() int, refused prometheus.Counter, log *zap.Logger) *clientLimitListener {
	l := &clientLimitListener{Listener: ln, limit: limit, refused: refused, log: log, now: time.Now, closed: make(chan struct{})}
	if max > 0 {
		l.slots = make(chan struct{}, max)
	}
	return l
}

// Accept returns the next connection within the caps.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.closed:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		limit := l.limit()
		if limit <= 0 {
			if l.slots == nil {
				return c, nil
			}
			return l.wrap(c, func() { l.freeSlot() }), nil
		}
		a := remoteAddr(c)
		if l.open.Take(a, limit) {
			return l.wrap(c, func() { l.open.Release(a); l.freeSlot() }), nil
		}
		l.refuse(a, limit) // counted before the client can see the close
		_ = c.Close()
		l.freeSlot()
	}
}

func (l *clientLimitListener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

// Close stops the listener and any Accept waiting for a slot.
func (l *clientLimitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *clientLimitListener) refuse(a netip.Addr, limit int) {
	l.refused.Inc()
	l.quiet.Add(1)
	now := l.now().UnixNano()
	last := l.logged.Load()
	if now-last < int64(logEvery) || !l.logged.CompareAndSwap(last, now) {
		return
	}
	n := l.quiet.Swap(0)
	l.log.Warn("connection refused: client over max_connections_per_client",
		zap.Stringer("client", a), zap.Int("max_connections_per_client", limit),
		zap.Int64("refused_since_last_line", n))
}

// wrap returns c, which calls free at its first Close. A *net.TCPConn
// keeps its methods (CloseWrite, ReadFrom, SyscallConn) by embedding.
func (l *clientLimitListener) wrap(c net.Conn, free func()) net.Conn {
	var once sync.Once
	release := func() { once.Do(free) }
	if tc, ok := c.(*net.TCPConn); ok {
		return &limitedTCPConn{TCPConn: tc, release: release}
	}
	return &limitedConn{Conn: c, release: release}
}

type limitedTCPConn struct {
	*net.TCPConn
	release func()
}

func (c *limitedTCPConn) Close() error {
	defer c.release()
	return c.TCPConn.Close()
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	defer c.release()
	return c.Conn.Close()
}

// remoteAddr is c's peer address without the port (IPv4-mapped unmapped).
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}
