package lb

import (
	"bufio"
	"container/heap"
	"io"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Parking idle keep-alive connections. A connection that waits for its
// next request holds a goroutine (its stack) and a read buffer; with
// thousands of quiet clients that is most of lbd's memory (HAProxy holds
// no buffer for an idle connection). So a plain-HTTP connection idle for
// parkAfter gives its buffer back and its goroutine ends: the engine's
// parker waits for the socket to become readable (its own epoll set),
// then starts a goroutine for it again, or closes it when idle_timeout
// passes first. A busy connection never parks: its next request comes
// within parkAfter, and the wait costs nothing beyond the read deadline
// the idle timeout sets anyway.
const parkAfter = 20 * time.Millisecond

// parkable reports whether c may park: a plain TCP connection (a TLS
// connection may hold decrypted bytes the socket no longer shows).
func (c *fastConn) parkable() bool {
	if c.secure || c.noPark || c.eng.noPark.Load() {
		return false
	}
	_, ok := c.nc.(syscall.Conn)
	return ok
}

// parkerFor returns the engine's parker, made at the first call; nil when
// the engine is closing or no parker can be made here.
func (e *engine) parkerFor() *parker {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.parker != nil || e.closing.Load() {
		return e.parker
	}
	p, err := newParker(e)
	if err != nil {
		e.noPark.Store(true)
		e.f.srv.log.Info("idle connections keep their goroutine and buffer", zap.String("frontend", e.f.name), zap.Error(err))
		return nil
	}
	e.parker = p
	return p
}

// What park did.
const (
	parkDone   = iota // c is the parker's (or another goroutine's) now
	parkNo            // no parker: c stays with its goroutine
	parkClosed        // c was closed meanwhile (shutdown)
)

// park hands c, idle with an empty buffer, to the parker until deadline
// (zero: no idle limit). On parkDone the caller must not touch c again:
// another goroutine may already serve it.
func (c *fastConn) park(deadline time.Time) int {
	pk := c.eng.parkerFor()
	if pk == nil {
		if c.eng.closing.Load() {
			return parkClosed
		}
		return parkNo
	}
	c.eng.putReader(c.br)
	c.eng.putHeads(c.heads)
	c.br, c.heads = nil, nil
	c.fwd, c.scratch = nil, nil
	c.sock = nil // made again on waking: ~180 B less per parked connection
	if !c.state.CompareAndSwap(connIdle, connParked) {
		return parkClosed
	}
	if err := pk.add(c, deadline); err != nil {
		// Not parked: serve it the ordinary way.
		c.state.Store(connIdle)
		c.noPark = true
		c.f.srv.log.Debug("parking an idle connection failed; it keeps its goroutine", zap.Error(err))
		go c.serve()
	}
	return parkDone
}

// wake serves a parked connection again: its socket is readable.
func (c *fastConn) wake() {
	if c.state.CompareAndSwap(connParked, connIdle) {
		go c.serve()
	}
}

// expire closes a parked connection whose idle timeout passed.
func (c *fastConn) expire() {
	if c.state.CompareAndSwap(connParked, connClosed) {
		c.eng.done(c)
	}
}

// spareReaders bounds the read buffers an engine keeps for connections
// to come: a sync.Pool would keep one per connection that ever parked
// until the GC runs twice, and an idle lbd rarely collects.
const spareReaders = 128

func (e *engine) getReader(nc io.Reader) *bufio.Reader {
	select {
	case br := <-e.readers:
		br.Reset(nc)
		return br
	default:
		return bufio.NewReaderSize(nc, 8<<10)
	}
}

func (e *engine) putReader(br *bufio.Reader) {
	br.Reset(nil)
	select {
	case e.readers <- br:
	default: // enough spares: the GC takes it
	}
}

// heads are a connection's message heads, kept apart from fastConn so
// that a parked connection holds neither them nor their buffers.
type heads struct{ req, resp head }

func (e *engine) getHeads() *heads {
	select {
	case h := <-e.spares:
		return h
	default:
		h := &heads{}
		h.req.length, h.resp.length = -1, -1
		return h
	}
}

func (e *engine) putHeads(h *heads) {
	select {
	case e.spares <- h:
	default:
	}
}

// parked is one parked connection, ordered by its deadline.
type parked struct {
	c        *fastConn
	fd       int
	token    uint64
	deadline time.Time // zero: none
	index    int       // in parkHeap
}

// parkHeap orders parked connections by deadline; those without one are
// kept out of it.
type parkHeap []*parked

func (h parkHeap) Len() int           { return len(h) }
func (h parkHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h parkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *parkHeap) Push(x any) {
	p := x.(*parked)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *parkHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.index = -1
	return p
}

// parkSet is the bookkeeping a parker keeps under its lock.
type parkSet struct {
	byToken map[uint64]*parked
	heap    parkHeap
	next    uint64
}

func newParkSet() parkSet {
	return parkSet{byToken: map[uint64]*parked{}}
}

func (s *parkSet) add(c *fastConn, fd int, deadline time.Time) *parked {
	s.next++
	p := &parked{c: c, fd: fd, token: s.next, deadline: deadline, index: -1}
	s.byToken[p.token] = p
	c.parkedAs = p
	if !deadline.IsZero() {
		heap.Push(&s.heap, p)
	}
	return p
}

func (s *parkSet) remove(p *parked) {
	delete(s.byToken, p.token)
	p.c.parkedAs = nil
	if p.index >= 0 {
		heap.Remove(&s.heap, p.index)
	}
}

// expired removes and returns the connections whose deadline is before now.
func (s *parkSet) expired(now time.Time) []*parked {
	var out []*parked
	for len(s.heap) > 0 && !s.heap[0].deadline.After(now) {
		p := s.heap[0]
		s.remove(p)
		out = append(out, p)
	}
	return out
}

// nextDeadline is the earliest deadline; zero when none.
func (s *parkSet) nextDeadline() time.Time {
	if len(s.heap) == 0 {
		return time.Time{}
	}
	return s.heap[0].deadline
}
