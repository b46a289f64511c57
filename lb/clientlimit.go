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
type clientLimitListener struct {
	net.Listener
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

func newClientLimitListener(ln net.Listener, limit func() int, refused prometheus.Counter, log *zap.Logger) *clientLimitListener {
	return &clientLimitListener{Listener: ln, limit: limit, refused: refused, log: log, now: time.Now}
}

// Accept returns the next connection within the cap.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		limit := l.limit()
		if limit <= 0 {
			return c, nil
		}
		a := remoteAddr(c)
		if l.open.Take(a, limit) {
			return l.wrap(c, a), nil
		}
		l.refuse(a, limit) // counted before the client can see the close
		_ = c.Close()
	}
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

// wrap returns c counted against a until its first Close. A *net.TCPConn
// keeps its methods (CloseWrite, ReadFrom, SyscallConn) by embedding.
func (l *clientLimitListener) wrap(c net.Conn, a netip.Addr) net.Conn {
	var once sync.Once
	release := func() { once.Do(func() { l.open.Release(a) }) }
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
