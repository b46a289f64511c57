package tls

import (
	"context"
	ctls "crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ListenerOptions configure NewListener.
type ListenerOptions struct {
	// HandshakeTimeout bounds each handshake (a stalled or slow client is
	// dropped). Default 10s.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds handshakes in progress; when full, the listener
	// stops accepting and the kernel backlog absorbs the rest. Default 1024.
	MaxHandshakes int
	Metrics       *Metrics
	Log           *zap.Logger
}

// Listener accepts TCP connections and completes their TLS handshake
// before Accept returns them, so a stalled or garbage handshake never
// reaches the server's goroutines, every failure is counted by reason, and
// handshake time is measured. Accept returns *tls.Conn, so net/http
// recognises it (r.TLS, ALPN h2).
type Listener struct {
	inner   net.Listener
	cfg     *ctls.Config
	timeout time.Duration
	met     *Metrics
	log     *zap.Logger

	ready  chan *ctls.Conn
	errc   chan error
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// NewListener wraps inner; its accept loop runs until Close.
func NewListener(inner net.Listener, cfg *ctls.Config, o ListenerOptions) *Listener {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = 1024
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		inner: inner, cfg: cfg, timeout: o.HandshakeTimeout, met: o.Metrics, log: o.Log,
		ready: make(chan *ctls.Conn), errc: make(chan error, 1), ctx: ctx, cancel: cancel,
	}
	l.wg.Add(1)
	go l.acceptLoop(o.MaxHandshakes)
	return l
}

func (l *Listener) acceptLoop(max int) {
	defer l.wg.Done()
	sem := make(chan struct{}, max)
	var backoff time.Duration
	for {
		select {
		case sem <- struct{}{}:
		case <-l.ctx.Done():
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-sem
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max2(backoff*2, 5*time.Millisecond), time.Second)
				l.log.Warn("accept error; retrying", zap.Error(err), zap.Duration("backoff", backoff))
				select {
				case <-time.After(backoff):
					continue
				case <-l.ctx.Done():
					return
				}
			}
			select {
			case l.errc <- err:
			default:
			}
			return
		}
		backoff = 0
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-sem }()
			l.handshake(c)
		}()
	}
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// isTemporary matches the accept errors worth retrying (EMFILE, ENFILE,
// ECONNABORTED), as net/http does.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (l *Listener) handshake(c net.Conn) {
	start := time.Now()
	tc := ctls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	_ = c.SetDeadline(start.Add(l.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		reason := l.met.ObserveError(err)
		if ce := l.log.Check(zap.DebugLevel, "tls handshake failed"); ce != nil {
			ce.Write(zap.Stringer("client", c.RemoteAddr()), zap.String("reason", reason), zap.Error(err))
		}
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	if l.met != nil {
		l.met.duration.Observe(time.Since(start).Seconds())
	}
	select {
	case l.ready <- tc:
	case <-l.ctx.Done():
		_ = tc.Close()
	}
}

// Accept returns the next connection whose handshake completed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errc:
		l.errc <- err // later calls see it too
		return nil, err
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting, aborts handshakes in progress and waits for the
// listener's goroutines.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.inner.Close()
		l.wg.Wait()
	})
	return err
}

// Addr is the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }
