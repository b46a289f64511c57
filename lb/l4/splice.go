package l4

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// session is one proxied connection pair (*net.TCPConn in service, so
// that copyChunk splices; any net.Conn in tests).
type session struct {
	client, backend net.Conn
	met             *backendMetrics
	once            sync.Once
	last            atomic.Int64 // unix nanos of the last report of bytes moved
	up, down        direction
}

// abort closes both sides at once.
func (s *session) abort() {
	s.once.Do(func() {
		_ = s.client.Close()
		_ = s.backend.Close()
	})
}

// chunk is how much one copyChunk may move before the idle deadline is
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
	sp       splicer     // set up by the first chunk between two TCP connections
	spState  uint8       // spUnset, spReady or spNone
}

const (
	spUnset = iota // no chunk yet
	spReady        // sp splices
	spNone         // not two TCP connections, or no pipe pool: io.Copy
)

// pipe copies both ways until both directions end (EOF is passed on as a
// half-close) or nothing moves either way for idle, then closes both.
func (s *session) pipe(idle time.Duration, pipes *pipePool) (in, out int64) {
	s.last.Store(time.Now().UnixNano())
	s.up = direction{dst: s.backend, src: s.client}
	s.down = direction{dst: s.client, src: s.backend}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out = s.copyHalf(&s.down, &s.up, idle, pipes)
	}()
	in = s.copyHalf(&s.up, &s.down, idle, pipes)
	wg.Wait()
	s.abort()
	return in, out
}

// copyHalf moves d.src to d.dst in chunks (copyChunk: spliced in the
// kernel between two *net.TCPConn). The read deadline is the idle limit: when it passes with no
// byte this way and none reported the other way for idle, the other
// direction is asked to report; the session is idle when that report (or
// the other direction's own end) shows nothing moved either.
func (s *session) copyHalf(d, other *direction, idle time.Duration, pipes *pipePool) int64 {
	var total int64
	deadline := time.Unix(0, s.last.Load()).Add(idle)
	for {
		_ = d.src.SetReadDeadline(deadline)
		if d.poked.Load() {
			// The other direction asked for a report while this one was
			// re-arming: its "now" deadline may have been overwritten just
			// above. (It stores poked before it sets the deadline, so either
			// this load sees the poke or its deadline lands after ours.)
			_ = d.src.SetReadDeadline(time.Now())
		}
		n, err := copyChunk(pipes, d, chunk)
		total += n
		poked := d.poked.Swap(false)
		if n > 0 {
			s.last.Store(time.Now().UnixNano())
		}
		lastAt := time.Unix(0, s.last.Load())
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
		case errors.Is(err, syscall.ECONNRESET):
			// src reset: so is dst (HAProxy's way), which spares both
			// ends the FIN exchange and this side its TIME_WAIT.
			if tc, ok := d.dst.(interface{ SetLinger(int) error }); ok {
				_ = tc.SetLinger(0)
			}
			s.abort()
			return total
		default: // idle both ways, or aborted
			s.abort()
			return total
		}
	}
}

// copyChunk moves up to limit bytes from d.src to d.dst: through d's
// splicer between two TCP connections, io.Copy through a 32 KiB buffer
// otherwise, when no pipe can be made, or when pipes is nil (the
// benchmarks' user-space comparison). Fewer than limit bytes with a nil
// error means src's EOF.
func copyChunk(pipes *pipePool, d *direction, limit int64) (int64, error) {
	if d.spState == spUnset {
		d.spState = spNone
		dt, ok1 := d.dst.(*net.TCPConn)
		st, ok2 := d.src.(*net.TCPConn)
		if ok1 && ok2 && pipes != nil && d.sp.init(pipes, dt, st) == nil {
			d.spState = spReady
		}
	}
	var n int64
	if d.spState == spReady {
		var err error
		if n, err = d.sp.copy(limit); !errors.Is(err, errNoPipe) {
			return n, err
		}
	}
	// Hide dst's ReadFrom: io.Copy would splice on its own.
	m, err := io.Copy(struct{ io.Writer }{d.dst}, &io.LimitedReader{R: d.src, N: limit - n})
	return n + m, err
}
