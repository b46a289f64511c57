package world

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

const (
	// maxChunk is the most bytes one delayed chunk carries; a larger
	// write is cut, so bandwidth pacing has a fine grain.
	maxChunk = 16 << 10
	// queueLen bounds each direction's chunks in flight: a writer runs at
	// most this many chunks (≤ 1 MiB) ahead of the wire, as a socket
	// buffer lets it, and a client that floods a server that does not
	// read stops being read from.
	queueLen = 64
	// minRTO is Linux's minimum retransmission timeout: a lost segment
	// arrives this much plus a round trip late.
	minRTO = 200 * time.Millisecond
	// synRTO is the initial SYN retransmission timeout (RFC 6298).
	synRTO = time.Second
)

// chunk is bytes (or an end) crossing the link, due at the far side.
type chunk struct {
	data       []byte
	due        time.Time
	err        error // inbound end of stream (io.EOF or the peer's reset)
	closeWrite bool  // outbound half-close
}

// conn is one TCP connection seen through the world: what the peer sends
// becomes readable one way later, what is written reaches the peer one
// way later, both paced by the link's bandwidth, in order. Two goroutines
// (pump reads the socket, deliver writes it) belong to the conn and stop
// after Close has flushed the writes, or when the peer goes away.
type conn struct {
	net.Conn
	w          *World
	near, far  netip.Addr // this side and the peer, for the link look-up
	epoch      time.Time  // the handshake completes: nothing crosses before
	in, out    chan chunk
	closed     chan struct{}
	closeOnce  sync.Once
	broken     chan struct{} // the socket failed; werr says why
	brokenOnce sync.Once
	werr       error
	rdl, wdl   deadline
	rmu        sync.Mutex // Read: cur
	cur        chunk
	hasCur     bool
	wmu        sync.Mutex // Write: outFree, outLast
	outFree    time.Time  // the link is busy sending until then
	outLast    time.Time  // the last outbound chunk's arrival
	inFree     time.Time  // pump only
	inLast     time.Time  // pump only
}

func newConn(c net.Conn, w *World, near, far netip.Addr, epoch time.Time) *conn {
	cc := &conn{
		Conn: c, w: w, near: near, far: far, epoch: epoch,
		in: make(chan chunk, queueLen), out: make(chan chunk, queueLen),
		closed: make(chan struct{}), broken: make(chan struct{}),
	}
	go cc.pump()
	go cc.deliver()
	return cc
}

// step draws one chunk's one-way delay (a lost segment is retransmitted
// after an RTO) and its time on the wire at the link's bandwidth.
func (c *conn) step(from, to netip.Addr, n int) (delay, wire time.Duration) {
	l, ok := c.w.cur.Load().link(from, to)
	if !ok {
		return 0, 0
	}
	d, lost := c.w.sample(l)
	if lost {
		d += minRTO + 2*l.Latency
	}
	return d, l.Bandwidth.transmit(n)
}

func latest(ts ...time.Time) time.Time {
	t := ts[0]
	for _, u := range ts[1:] {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// pump reads the socket, stamping each read with the time it arrived.
func (c *conn) pump() {
	buf := make([]byte, maxChunk)
	for {
		n, err := c.Conn.Read(buf)
		now := time.Now()
		if n > 0 {
			d, wire := c.step(c.far, c.near, n)
			c.inFree = latest(now, c.inFree).Add(wire)
			c.inLast = latest(c.inFree.Add(d), c.epoch, c.inLast)
			if !c.push(chunk{data: bytes.Clone(buf[:n]), due: c.inLast}) {
				return
			}
		}
		if err != nil {
			d, _ := c.step(c.far, c.near, 0)
			c.push(chunk{err: err, due: latest(now.Add(d), c.epoch, c.inLast)})
			return
		}
	}
}

func (c *conn) push(ch chunk) bool {
	select {
	case c.in <- ch:
		return true
	case <-c.closed:
		return false
	}
}

// Read returns the peer's bytes once they have crossed the link.
func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	for !c.hasCur {
		dl, changed := c.rdl.get()
		timer, expired := timerUntil(dl)
		if expired {
			return 0, os.ErrDeadlineExceeded
		}
		select {
		case ch := <-c.in:
			c.cur, c.hasCur = ch, true
		case <-changed:
		case <-timer.c():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			timer.stop()
			return 0, net.ErrClosed
		}
		timer.stop()
	}
	if err := c.sleep(c.cur.due, &c.rdl); err != nil {
		return 0, err
	}
	if c.cur.data == nil {
		return 0, c.cur.err // the end stays: every later Read returns it
	}
	n := copy(p, c.cur.data)
	if c.cur.data = c.cur.data[n:]; len(c.cur.data) == 0 {
		c.cur, c.hasCur = chunk{}, false
	}
	return n, nil
}

// sleep waits until due, failing on d's deadline or Close.
func (c *conn) sleep(due time.Time, d *deadline) error {
	for {
		dl, changed := d.get()
		now := time.Now()
		if !dl.IsZero() && !dl.After(now) {
			return os.ErrDeadlineExceeded
		}
		if !due.After(now) {
			return nil
		}
		until := due
		if !dl.IsZero() && dl.Before(until) {
			until = dl
		}
		t := time.NewTimer(until.Sub(now))
		select {
		case <-t.C:
		case <-changed:
		case <-c.closed:
			t.Stop()
			return net.ErrClosed
		}
		t.Stop()
	}
}

// Write queues p for the peer and returns without waiting for the
// link's latency; it blocks only while the queue is full.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for len(p) > 0 {
		k := min(len(p), maxChunk)
		if err := c.enqueue(chunk{data: bytes.Clone(p[:k])}, k); err != nil {
			return n, err
		}
		p, n = p[k:], n+k
	}
	return n, nil
}

// CloseWrite half-closes once the bytes written before it have arrived.
func (c *conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.enqueue(chunk{closeWrite: true}, 0)
}

// enqueue stamps ch with its arrival time and queues it; on failure the
// pacing state is left as it was. Called with wmu held.
func (c *conn) enqueue(ch chunk, n int) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	free, last := c.outFree, c.outLast
	d, wire := c.step(c.near, c.far, n)
	c.outFree = latest(time.Now(), c.epoch, c.outFree).Add(wire)
	c.outLast = latest(c.outFree.Add(d), c.outLast)
	ch.due = c.outLast
	for {
		dl, changed := c.wdl.get()
		timer, expired := timerUntil(dl)
		var err error
		if expired {
			err = os.ErrDeadlineExceeded
		} else {
			select {
			case c.out <- ch:
				timer.stop()
				return nil
			case <-changed:
				timer.stop()
				continue
			case <-timer.c():
				err = os.ErrDeadlineExceeded
			case <-c.closed:
				err = net.ErrClosed
			case <-c.broken:
				err = c.werr
			}
			timer.stop()
		}
		c.outFree, c.outLast = free, last
		return err
	}
}

// deliver writes each queued chunk to the socket when it is due; after
// Close it flushes what was queued, then closes the socket.
func (c *conn) deliver() {
	defer c.Conn.Close()
	for {
		select {
		case ch := <-c.out:
			if !c.transmit(ch) {
				return
			}
		case <-c.closed:
			for {
				select {
				case ch := <-c.out:
					if !c.transmit(ch) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (c *conn) transmit(ch chunk) bool {
	if d := time.Until(ch.due); d > 0 {
		t := time.NewTimer(d)
		<-t.C
	}
	if ch.closeWrite {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		return true
	}
	if _, err := c.Conn.Write(ch.data); err != nil {
		c.brokenOnce.Do(func() { c.werr = err; close(c.broken) })
		return false
	}
	return true
}

func (c *conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close stops reads and writes at once; bytes already written still
// reach the peer when due, and then the socket closes.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() { close(c.closed); err = nil })
	return err
}

func (c *conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// deadline is a settable time whose changes wake the waiters.
type deadline struct {
	mu sync.Mutex
	t  time.Time
	ch chan struct{} // closed (and replaced) on each set
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	if d.ch != nil {
		close(d.ch)
	}
	d.ch = make(chan struct{})
	d.mu.Unlock()
}

func (d *deadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.t, d.ch
}

// optTimer is a timer that may be absent (no deadline).
type optTimer struct{ t *time.Timer }

func timerUntil(dl time.Time) (optTimer, bool) {
	if dl.IsZero() {
		return optTimer{}, false
	}
	d := time.Until(dl)
	if d <= 0 {
		return optTimer{}, true
	}
	return optTimer{time.NewTimer(d)}, false
}

func (o optTimer) c() <-chan time.Time {
	if o.t == nil {
		return nil
	}
	return o.t.C
}

func (o optTimer) stop() {
	if o.t != nil {
		o.t.Stop()
	}
}

// NetConn is the socket under the world's delays (as tls.Conn's NetConn),
// for callers that must act on the socket itself, e.g. to reset it.
func (c *conn) NetConn() net.Conn { return c.Conn }
