package world

import (
	"net/netip"
	"sync"
	"time"
)

// PacketWriter sends one datagram; *net.UDPConn is one.
type PacketWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// DefaultMaxPending bounds a Scheduler's waiting replies when New is
// given 0: at 100k queries/s and a 200 ms round trip, 20k are in flight;
// past the bound replies are dropped, as a full router queue would.
const DefaultMaxPending = 32768

// Scheduler sends UDP replies after a delay without blocking the reader
// that produced them: one goroutine, one timer and a heap ordered by due
// time (then by arrival). Buffers are reused, so a steady stream of
// delayed replies allocates nothing. Close stops it; waiting replies are
// dropped.
type Scheduler struct {
	max  int
	wake chan struct{} // cap 1: the earliest due time may have changed
	stop chan struct{}
	done chan struct{}
	now  func() time.Time

	mu     sync.Mutex
	heap   []pending
	seq    uint64
	free   [][]byte
	closed bool
}

type pending struct {
	due time.Time
	seq uint64
	w   PacketWriter
	to  netip.AddrPort
	buf []byte
}

// NewScheduler starts a scheduler holding at most max replies (0: the
// default). Its goroutine runs until Close.
func NewScheduler(max int) *Scheduler {
	if max <= 0 {
		max = DefaultMaxPending
	}
	s := &Scheduler{max: max, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), now: time.Now}
	go s.run()
	return s
}

// Send copies b and writes it to `to` through w once `after` has passed.
// It never blocks on the network; it returns false (and sends nothing)
// when the scheduler is full or closed.
func (s *Scheduler) Send(w PacketWriter, b []byte, to netip.AddrPort, after time.Duration) bool {
	due := s.now().Add(after)
	s.mu.Lock()
	if s.closed || len(s.heap) >= s.max {
		s.mu.Unlock()
		return false
	}
	var buf []byte
	if n := len(s.free); n > 0 {
		buf, s.free = s.free[n-1][:0], s.free[:n-1]
	}
	buf = append(buf, b...)
	s.seq++
	s.push(pending{due: due, seq: s.seq, w: w, to: to, buf: buf})
	first := s.heap[0].seq == s.seq
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Pending is the number of replies waiting.
func (s *Scheduler) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

// Close drops the waiting replies and stops the goroutine; it returns
// once the goroutine has stopped. Send after Close returns false.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.heap = nil
	s.mu.Unlock()
	close(s.stop)
	<-s.done
}

func (s *Scheduler) run() {
	defer close(s.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var ready []pending
	for {
		s.mu.Lock()
		now := s.now()
		ready = ready[:0]
		for len(s.heap) > 0 && !s.heap[0].due.After(now) {
			ready = append(ready, s.pop())
		}
		wait := time.Duration(-1)
		if len(s.heap) > 0 {
			wait = s.heap[0].due.Sub(now)
		}
		s.mu.Unlock()
		for i := range ready {
			_, _ = ready[i].w.WriteToUDPAddrPort(ready[i].buf, ready[i].to)
		}
		if len(ready) > 0 {
			s.mu.Lock()
			for i := range ready {
				if len(s.free) < s.max && cap(ready[i].buf) <= 4096 {
					s.free = append(s.free, ready[i].buf)
				}
				ready[i] = pending{}
			}
			s.mu.Unlock()
		}
		if wait >= 0 {
			t.Reset(wait)
		} else {
			t.Stop()
		}
		select {
		case <-t.C:
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}

// push and pop keep s.heap a binary min-heap by (due, seq), without
// container/heap's interface boxing.
func (s *Scheduler) push(p pending) {
	s.heap = append(s.heap, p)
	i := len(s.heap) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !s.heap[i].before(s.heap[parent]) {
			break
		}
		s.heap[i], s.heap[parent] = s.heap[parent], s.heap[i]
		i = parent
	}
}

func (s *Scheduler) pop() pending {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = pending{}
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].before(h[m]) {
			m = l
		}
		if r < len(h) && h[r].before(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}

func (p pending) before(q pending) bool {
	if !p.due.Equal(q.due) {
		return p.due.Before(q.due)
	}
	return p.seq < q.seq
}
