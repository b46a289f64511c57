package lb

import (
	"bufio"
	"context"
	ctls "crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// engine is the fast engine of one frontend: its accept loop and its
// connections. Over TLS, a connection that chose h2 by ALPN goes to the
// frontend's net/http server (h2 stays there); HTTP/1.1 stays here.
type engine struct {
	f       *frontend
	writers sync.Pool          // *bufio.Writer, lent to a connection per answer
	readers chan *bufio.Reader // given back by parked connections; bounded
	spares  chan *heads        // the same for message heads
	parker  *parker            // made at the first park; under mu
	noPark  atomic.Bool        // making the parker failed
	open    prometheus.Gauge
	total   prometheus.Counter

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*fastConn]struct{}
	wg      sync.WaitGroup
	h2      *chanListener // nil on a plain frontend
}

func newEngine(f *frontend) *engine {
	return &engine{f: f, conns: map[*fastConn]struct{}{}, readers: make(chan *bufio.Reader, spareReaders), spares: make(chan *heads, spareReaders)}
}

// serve accepts connections from ln until it is closed. Over TLS, it
// also runs hs for the connections that chose h2.
func (e *engine) serve(ln net.Listener, hs serveFunc) error {
	e.open = e.f.srv.met.conns.WithLabelValues(e.f.name)
	e.total = e.f.srv.met.connsTotal.WithLabelValues(e.f.name)
	var h2done chan error
	if e.f.tlsCfg != nil {
		e.h2 = newChanListener(ln.Addr())
		h2done = make(chan error, 1)
		go func() { h2done <- hs(e.h2) }()
	}
	var err error
	var backoff time.Duration
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || e.closing.Load() {
				break
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http's Serve does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			e.f.srv.log.Warn("accept failed; retrying", zap.String("frontend", e.f.name), zap.Error(err), zap.Duration("in", backoff))
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if tc, ok := nc.(*ctls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			e.h2.give(nc)
			continue
		}
		e.start(nc)
	}
	if e.h2 != nil {
		e.h2.Close()
		<-h2done // Serve's error after its listener closed says nothing more
	}
	if e.closing.Load() {
		return nil
	}
	return err
}

// serveFunc serves a listener (the net/http server's Serve).
type serveFunc func(net.Listener) error

func (e *engine) start(nc net.Conn) {
	sock := newSockIO(nc)
	c := &fastConn{f: e.f, eng: e, nc: nc, sock: sock, br: e.getReader(sock), heads: e.getHeads()}
	c.remote = nc.RemoteAddr().String()
	if ap, err := netip.ParseAddrPort(c.remote); err == nil {
		c.client = ap.Addr().Unmap()
		c.clientIP = c.client.String()
	}
	_, c.secure = nc.(*ctls.Conn)
	e.mu.Lock()
	if e.closing.Load() {
		e.mu.Unlock()
		_ = nc.Close()
		return
	}
	c.state.Store(connNew)
	e.conns[c] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	e.open.Inc()
	e.total.Inc()
	go c.serve()
}

// done ends a connection.
func (e *engine) done(c *fastConn) {
	c.state.Store(connClosed)
	c.releaseWriter()
	_ = c.nc.Close()
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	e.open.Dec()
	e.wg.Done()
}

func (e *engine) getWriter(w io.Writer) *bufio.Writer {
	if bw, ok := e.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, 16<<10)
}

func (e *engine) putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	e.writers.Put(bw)
}

// newConnGrace is how long a drain lets a connection accepted before it
// began send its first request (net/http gives a StateNew connection 5 s).
const newConnGrace = 2 * time.Second

// shutdown stops accepting (it closes ln), closes idle connections, and
// waits for those in the middle of a request to finish it, and for those
// accepted without a request yet to send it (newConnGrace), until ctx
// ends: then the rest are closed and ctx's error returned.
func (e *engine) shutdown(ctx context.Context, ln net.Listener) error {
	e.closing.Store(true)
	_ = ln.Close()
	graceEnd := time.Now().Add(newConnGrace)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	e.mu.Lock()
	pk := e.parker // none is made once closing is set
	e.mu.Unlock()
	if pk != nil {
		defer pk.stop()
	}
	for {
		late := time.Now().After(graceEnd)
		e.mu.Lock()
		n := len(e.conns)
		var parked []*fastConn
		for c := range e.conns {
			if c.state.CompareAndSwap(connIdle, connClosed) || late && c.state.CompareAndSwap(connNew, connClosed) {
				_ = c.nc.Close()
			} else if c.state.CompareAndSwap(connParked, connClosed) {
				parked = append(parked, c) // no goroutine: closed here
			}
		}
		e.mu.Unlock()
		for _, c := range parked {
			pk.take(c)
			e.done(c)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			e.mu.Lock()
			parked = parked[:0]
			for c := range e.conns {
				if c.state.CompareAndSwap(connParked, connClosed) {
					parked = append(parked, c)
				}
				_ = c.nc.Close()
			}
			e.mu.Unlock()
			for _, c := range parked {
				pk.take(c)
				e.done(c)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// chanListener hands connections accepted by the engine to net/http.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newChanListener(a net.Addr) *chanListener {
	return &chanListener{addr: a, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
