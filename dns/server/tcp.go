package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// tcpConn is one accepted TCP connection in the listener's table.
type tcpConn struct {
	net.Conn // a *net.TCPConn, or the world's wrapping of one
	client   netip.Addr
	// idleSince is when the connection started waiting for its next query
	// with no answer in progress (unix nanoseconds); 0 while it is busy.
	idleSince atomic.Int64
	// busy counts queries read and not yet answered.
	busy atomic.Int32
	// gone is set, under Listener.mu, once the connection has left the
	// table (closed to make room, or finished).
	gone bool
	// evicted is set when the connection is closed to make room.
	evicted atomic.Bool
}

func (l *Listener) serveTCP(ctx context.Context) {
	defer l.wg.Done()
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			l.log.Warn("tcp accept", zap.String("listener", l.Addr), zap.Error(err))
			continue
		}
		tc := &tcpConn{Conn: c, client: c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()}
		if !l.admit(tc) {
			l.handler.metrics.dropped(l.handler.Name)
			c.Close()
			continue
		}
		l.wg.Add(1)
		go l.serveConn(ctx, tc)
	}
}

// evict makes c's reader stop at once; its goroutine then finishes the
// replies it is writing (with a short deadline) and closes the connection.
func (c *tcpConn) evict() {
	c.evicted.Store(true) // before the deadline: see the read loop
	now := time.Now()
	_ = c.SetReadDeadline(now)
	_ = c.SetWriteDeadline(now.Add(time.Second))
}

// mono is now on the monotonic clock, in nanoseconds since the listener
// was made (never 0, which marks a busy connection): the order of idle
// times must not follow a wall clock that is stepped.
func (l *Listener) mono() int64 { return int64(time.Since(l.epoch)) + 1 }

// admit puts tc in the table. When the table, or the client's share of
// it, is full, the connection idle longest (the client's own, for its
// share) is closed to make room, as Knot and Unbound do (RFC 7766 §6.2.3:
// a server may close idle connections when it needs the resources); tc is
// refused only when none is idle.
func (l *Listener) admit(tc *tcpConn) bool {
	l.mu.Lock()
	var victim *tcpConn
	switch {
	case l.perClient[tc.client] >= l.limits.TCPPerClient:
		victim = l.idlest(tc.client)
	case len(l.conns) >= l.limits.TCPConns:
		victim = l.idlest(netip.Addr{})
	}
	full := len(l.conns) >= l.limits.TCPConns || l.perClient[tc.client] >= l.limits.TCPPerClient
	if full && victim == nil {
		l.mu.Unlock()
		return false
	}
	if victim != nil {
		l.forget(victim)
	}
	l.conns[tc] = struct{}{}
	l.perClient[tc.client]++
	l.mu.Unlock()
	if victim != nil {
		l.handler.metrics.dropped(l.handler.Name)
		victim.evict()
	}
	return true
}

// idlest returns the connection idle longest, of client when it is valid,
// or nil when none is idle; l.mu is held. A linear scan: it runs only
// when the table is full, and is short next to the accept it serves.
func (l *Listener) idlest(client netip.Addr) *tcpConn {
	var best *tcpConn
	var since int64
	for c := range l.conns {
		if client.IsValid() && c.client != client {
			continue
		}
		s := c.idleSince.Load()
		if s != 0 && c.busy.Load() == 0 && (best == nil || s < since) {
			best, since = c, s
		}
	}
	return best
}

// forget takes c out of the table; l.mu is held.
func (l *Listener) forget(c *tcpConn) {
	if c.gone {
		return
	}
	c.gone = true
	delete(l.conns, c)
	if l.perClient[c.client]--; l.perClient[c.client] <= 0 {
		delete(l.perClient, c.client)
	}
}

// idle is how long a TCP connection may wait for its next query: the
// configured time while the table is less than half full, a fifth of it
// (at least 500 ms) beyond, so idle clients cannot hold every slot (RFC
// 7766 §6.2.3, as NSD shortens its TCP timeout under load).
func (l *Listener) idle() time.Duration {
	l.mu.Lock()
	n := len(l.conns)
	l.mu.Unlock()
	if n*2 < l.limits.TCPConns {
		return l.limits.TCPIdle
	}
	return max(l.limits.TCPIdle/5, 500*time.Millisecond)
}

// tcpBuf returns a buffer for a TCP query or reply (given back to l.bufs).
func (l *Listener) tcpBuf() *[]byte {
	if b, ok := l.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// tcpPipeline bounds the resolutions one TCP connection may have in flight.
const tcpPipeline = 16

// serveConn answers length-prefixed queries on one TCP connection until
// the client closes it, it idles out, it is closed to make room, or the
// listener stops. Answers that are ready at once go out in order; queries
// that need a resolution are answered when it finishes, so a slow one
// does not hold up the others (RFC 7766 §6.2.1.1: replies may come out of
// order).
func (l *Listener) serveConn(ctx context.Context, c *tcpConn) {
	var (
		wmu     sync.Mutex
		pending sync.WaitGroup
		slots   = make(chan struct{}, tcpPipeline)
		broken  atomic.Bool
	)
	defer func() {
		c.idleSince.Store(0)
		pending.Wait()
		l.mu.Lock()
		l.forget(c)
		l.mu.Unlock()
		c.Close()
		l.wg.Done()
	}()
	// write sends one reply, its 2-byte length first; msg has two spare
	// bytes in front of the reply.
	write := func(msg []byte) {
		binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(l.limits.TCPIdle))
		if _, err := c.Write(msg); err != nil {
			broken.Store(true)
			_ = c.SetReadDeadline(time.Now()) // stop reading too
		}
	}
	// done marks one query answered, before its reply is written; the last
	// one leaves the connection idle (a candidate to close for room) from
	// answered. A connection closed for room finishes the writes it has
	// started (evict), so marking it idle early loses no reply.
	done := func(answered int64) {
		if c.busy.Add(-1) == 0 {
			c.idleSince.CompareAndSwap(0, answered)
		}
	}
	// an idle connection holds no buffer: the query's and the reply's are
	// taken from the listener's pool when a query arrives and given back
	// once it is answered, so 10,000 idle clients cost their goroutines
	var lenBuf [2]byte
	c.idleSince.Store(l.mono())
	for ctx.Err() == nil && !broken.Load() {
		_ = c.SetReadDeadline(time.Now().Add(l.idle()))
		if c.evicted.Load() {
			// closed for room while this loop re-armed its deadline (evict
			// sets the flag before its deadline, so either this load sees
			// it or evict's deadline lands after ours)
			return
		}
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if n < headerLen {
			return // cannot even carry a header: the stream is broken
		}
		in := l.tcpBuf()
		buf := append((*in)[:0], make([]byte, n)...)
		_ = c.SetReadDeadline(time.Now().Add(l.limits.TCPIdle))
		if _, err := io.ReadFull(c, buf); err != nil {
			l.bufs.Put(in)
			return
		}
		// a whole query: busy until answered (half a query is still idle)
		c.busy.Add(1)
		c.idleSince.Store(0)
		out := l.tcpBuf()
		reply, ready := l.handler.TryServePacket(buf, c.client, TCP, (*out)[:2][2:2])
		if ready {
			// idle from the moment its answer is ready, before the write: the
			// client may have the reply (and move on) long before this
			// goroutine runs again on a loaded machine
			done(l.mono())
			if reply != nil {
				msg := append((*out)[:2], reply...) // reply was packed in place after the prefix
				write(msg)
				*out = msg[:0]
			}
			*in = buf[:0]
			l.bufs.Put(in)
			l.bufs.Put(out)
			continue
		}
		select { // the listener's resolutions in flight are bounded: past it, SERVFAIL
		case l.sem <- struct{}{}:
		default:
			l.handler.metrics.shedResolution(l.handler.Name, TCP)
			done(l.mono())
			if fail := l.handler.overloaded(buf, (*out)[:2][2:2]); fail != nil {
				msg := append((*out)[:2], fail...)
				write(msg)
				*out = msg[:0]
			}
			*in = buf[:0]
			l.bufs.Put(in)
			l.bufs.Put(out)
			continue
		}
		l.bufs.Put(out)
		select { // at most tcpPipeline resolutions per connection: then stop reading
		case slots <- struct{}{}:
		case <-ctx.Done():
			<-l.sem
			return
		}
		pkt := append([]byte(nil), buf...)
		*in = buf[:0]
		l.bufs.Put(in)
		pending.Add(1)
		go func() {
			if x := l.handler.extension(pkt, TCP); x != nil { // a transfer: many replies
				l.handler.serveExt(ctx, x, pkt, c.client, TCP, func(b []byte) error {
					if write(append(make([]byte, 2, 2+len(b)), b...)); broken.Load() {
						return net.ErrClosed
					}
					return nil
				})
				<-slots
				done(l.mono())
				pending.Done()
				return
			}
			reply := l.handler.ServePacket(ctx, pkt, c.client, TCP, make([]byte, 2, 512)[2:2])
			<-l.sem
			<-slots
			done(l.mono())
			defer pending.Done()
			if reply != nil {
				write(append(make([]byte, 2, 2+len(reply)), reply...))
			}
		}()
	}
}
