package l4

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// prefixConn replays prefix before reading the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// session is one proxied connection pair (*net.TCPConn in service, so
// that io.Copy splices; any net.Conn in tests).
type session struct {
	client, backend net.Conn
	pool            string // metrics label
	once            sync.Once
}

// abort closes both sides at once.
func (s *session) abort() {
	s.once.Do(func() {
		_ = s.client.Close()
		_ = s.backend.Close()
	})
}

// chunk is how much one io.Copy may move before the idle deadline is
// re-armed; large enough that the per-chunk cost vanishes at line rate.
const chunk = 4 << 20

// direction is one half of a session. A copy inside io.Copy (a splice)
// reports its bytes only when it returns, so a direction that found its
// own window quiet asks the other to return and report (poked) before the
// session counts as idle.
type direction struct {
	dst, src net.Conn
	poked    atomic.Bool // the other direction asked for a report
	ended    atomic.Bool // src reached EOF: nothing more will come this way
}

// pipe copies both ways until both directions end (EOF is passed on as a
// half-close) or nothing moves either way for idle, then closes both.
func (s *session) pipe(idle time.Duration, userspace bool) (in, out int64) {
	var last atomic.Int64 // unix nanos of the last report of bytes moved
	last.Store(time.Now().UnixNano())
	up := &direction{dst: s.backend, src: s.client}
	down := &direction{dst: s.client, src: s.backend}
	done := make(chan struct{})
	go func() {
		defer close(done)
		out = copyHalf(down, up, &last, idle, s.abort, userspace)
	}()
	in = copyHalf(up, down, &last, idle, s.abort, userspace)
	<-done
	s.abort()
	return in, out
}

// copyHalf moves d.src to d.dst. io.Copy between two *net.TCPConn (src
// behind an io.LimitedReader, which the splice path accepts) splices in
// the kernel. The read deadline is the idle limit: when it passes with no
// byte this way and none reported the other way for idle, the other
// direction is asked to report; the session is idle when that report (or
// the other direction's own end) shows nothing moved either.
func copyHalf(d, other *direction, last *atomic.Int64, idle time.Duration, abort func(), userspace bool) int64 {
	var total int64
	lr := &io.LimitedReader{R: d.src}
	var w io.Writer = d.dst
	if userspace {
		w = struct{ io.Writer }{d.dst} // no ReadFrom: io.Copy uses a 32 KiB buffer
	}
	deadline := time.Unix(0, last.Load()).Add(idle)
	for {
		_ = d.src.SetReadDeadline(deadline)
		if d.poked.Load() {
			// The other direction asked for a report while this one was
			// re-arming: its "now" deadline may have been overwritten just
			// above. (It stores poked before it sets the deadline, so either
			// this load sees the poke or its deadline lands after ours.)
			_ = d.src.SetReadDeadline(time.Now())
		}
		lr.N = chunk
		n, err := io.Copy(w, lr)
		total += n
		poked := d.poked.Swap(false)
		if n > 0 {
			last.Store(time.Now().UnixNano())
		}
		lastAt := time.Unix(0, last.Load())
		switch {
		case err == nil && n < chunk: // EOF from src: pass the half-close on
			d.ended.Store(true)
			if cw, ok := d.dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			return total
		case err == nil:
			deadline = lastAt.Add(idle)
		case errors.Is(err, os.ErrDeadlineExceeded) && time.Since(lastAt) < idle:
			deadline = lastAt.Add(idle) // something moved within the limit
		case errors.Is(err, os.ErrDeadlineExceeded) && !poked && !other.ended.Load():
			// Quiet this way for the whole limit; the other way may be
			// busy inside io.Copy: make it return and report.
			other.poked.Store(true)
			_ = other.src.SetReadDeadline(time.Now())
			deadline = time.Now().Add(idle)
		default: // idle both ways, reset, or aborted
			abort()
			return total
		}
	}
}
