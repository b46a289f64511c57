package lb

import (
	"bufio"
	"context"
	ctls "crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// backendConns is the fast engine's pool of kept-alive connections to one
// backend (what http.Transport is to the nethttp engine): idle
// connections are reused last-in first-out, so a few stay warm and the
// rest age out.
type backendConns struct {
	addr    string
	dialer  net.Dialer
	tlsCfg  *ctls.Config // re-encryption; nil: plain HTTP
	timeout time.Duration
	maxIdle int
	now     func() time.Time

	mu     sync.Mutex
	idle   []*bconn
	closed bool
}

// idleLimit is how long an unused backend connection is kept (as
// http.Transport's IdleConnTimeout of the nethttp engine).
const idleLimit = 90 * time.Second

// warmIdle is how many of a backend's idle connections keep their
// buffers; one deeper in the stack drops them once unused for coldAfter
// (under load the stack's depth moves and a connection a little deeper
// is taken again within milliseconds).
const (
	warmIdle  = 8
	coldAfter = 50 * time.Millisecond
)

// bconn is one connection to a backend.
type bconn struct {
	nc     net.Conn
	sock   *sockIO // nc's reads and writes, for br and bw
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	// rdl: the read deadline (response_timeout of the last request,
	// left when its body was already buffered).
	rdl readDeadline
}

func newBackendConns(addr string, pc PoolConfig, tc *ctls.Config, now func() time.Time) *backendConns {
	bp := &backendConns{addr: addr, timeout: pc.DialTimeout, maxIdle: pc.MaxIdlePerBackend, now: now}
	bp.dialer = net.Dialer{Timeout: pc.DialTimeout, KeepAlive: 30 * time.Second}
	if tc != nil {
		bp.tlsCfg = tc.Clone()
	}
	return bp
}

// get returns an idle connection (reused true) or dials a new one.
func (bp *backendConns) get(ctx context.Context) (c *bconn, reused bool, err error) {
	if c := bp.takeIdle(); c != nil {
		return c, true, nil
	}
	c, err = bp.dial(ctx)
	return c, false, err
}

func (bp *backendConns) takeIdle() *bconn {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	for n := len(bp.idle); n > 0; n = len(bp.idle) {
		c := bp.idle[n-1]
		bp.idle[n-1] = nil
		bp.idle = bp.idle[:n-1]
		if bp.now().Sub(c.idleAt) < idleLimit {
			if c.br == nil { // cold: its buffers were dropped
				c.br, c.bw = bufio.NewReaderSize(c.sock, 16<<10), bufio.NewWriterSize(c.sock, 8<<10)
			}
			return c
		}
		_ = c.nc.Close()
	}
	return nil
}

// dial connects (and, with re-encryption, handshakes) within the pool's
// dial_timeout. A failure is a *net.OpError with Op "dial": nothing was
// sent, so any request may go elsewhere.
func (bp *backendConns) dial(ctx context.Context) (*bconn, error) {
	nc, err := bp.dialer.DialContext(ctx, "tcp", bp.addr)
	if err != nil {
		return nil, err
	}
	if bp.tlsCfg != nil {
		tc := ctls.Client(newSockConn(nc), bp.tlsCfg)
		hctx, cancel := context.WithTimeout(ctx, bp.timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	sock := newSockIO(nc)
	return &bconn{nc: nc, sock: sock, br: bufio.NewReaderSize(sock, 16<<10), bw: bufio.NewWriterSize(sock, 8<<10)}, nil
}

// alive reports whether the backend has not closed or reset c while it
// was idle, by a non-blocking peek at the socket (one syscall): nothing
// to read is alive; end of stream, an error or unexpected bytes are not.
// net/http's Transport learns it from a reading goroutine per connection;
// the fast engine asks only before a request it could not send again.
func (c *bconn) alive() bool {
	nc := c.nc
	if tc, ok := nc.(*ctls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && alive
}

// put keeps c for the next request, or closes it when the pool is full
// or closed.
func (bp *backendConns) put(c *bconn) {
	now := bp.now()
	c.idleAt = now
	bp.mu.Lock()
	if !bp.closed && len(bp.idle) < bp.maxIdle {
		bp.idle = append(bp.idle, c)
		c = nil
		// Reuse is last-in first-out: the connections below the few on
		// top are cold, and need no buffers while they wait (24 KiB
		// each; HAProxy's idle server connections hold none either).
		if n := len(bp.idle) - warmIdle - 1; n >= 0 {
			if cold := bp.idle[n]; cold.br != nil && now.Sub(cold.idleAt) > coldAfter && cold.br.Buffered() == 0 && cold.bw.Buffered() == 0 {
				cold.br, cold.bw = nil, nil
			}
		}
	}
	bp.mu.Unlock()
	if c != nil {
		_ = c.nc.Close()
	}
}

// closeIdle closes the idle connections; connections in use close when
// they come back only if closed is set (the backend left the pool).
func (bp *backendConns) closeIdle(closed bool) {
	bp.mu.Lock()
	idle := bp.idle
	bp.idle = nil
	bp.closed = bp.closed || closed
	bp.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
}
