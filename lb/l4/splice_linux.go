package l4

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// lbd's own splice loop. io.Copy between two *net.TCPConn splices too
// (internal/poll.Splice), but it pays the Go runtime's cost of a blocking
// system call on each splice(2): after 20 µs in one, sysmon hands the P
// to another thread, and with the process pinned to one CPU every such
// hand-off is two context switches. The sockets are non-blocking and the
// flags say SPLICE_F_NONBLOCK, so a splice never sleeps: it is made as a
// raw system call, and the goroutine parks in the netpoller only on
// EAGAIN. A direction takes a pipe from the server's pool only while bytes
// are moving, so an idle connection holds none.

const (
	fSetPipeSz      = 1031 // F_SETPIPE_SZ
	fGetPipeSz      = 1032 // F_GETPIPE_SZ
	spliceFNonblock = 0x2  // SPLICE_F_NONBLOCK
	// pipeSize is what F_SETPIPE_SZ asks for: the largest unprivileged
	// size by default (fs.pipe-max-size), and what Go's io.Copy asks too.
	pipeSize = 1 << 20
	// maxIdlePipes bounds the pool; more are closed when returned.
	maxIdlePipes = 64
)

// errNoPipe says spliceCopy could not make a pipe (descriptors or pipe
// memory exhausted); nothing was lost, the caller may copy in user space.
var errNoPipe = errors.New("no splice pipe")

// spipe is one kernel pipe used as the splice buffer; data is how many
// bytes sit in it.
type spipe struct {
	r, w int
	size int
	data int
}

// pipePool keeps pipes between connections (two syscalls and two
// descriptors each to make).
type pipePool struct {
	mu     sync.Mutex
	free   []*spipe
	closed bool
}

func (pp *pipePool) get() (*spipe, error) {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	p := &spipe{r: fds[0], w: fds[1], size: 64 << 10}
	if _, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.r), fSetPipeSz, pipeSize); e == 0 {
		p.size = pipeSize
	} else if sz, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.r), fGetPipeSz, 0); e == 0 {
		p.size = int(sz)
	}
	return p, nil
}

// put returns p; a pipe with bytes still in it is closed instead.
func (pp *pipePool) put(p *spipe) {
	if p == nil {
		return
	}
	pp.mu.Lock()
	if p.data == 0 && !pp.closed && len(pp.free) < maxIdlePipes {
		pp.free = append(pp.free, p)
		p = nil
	}
	pp.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// close closes the idle pipes; later puts close theirs.
func (pp *pipePool) close() {
	if pp == nil {
		return
	}
	pp.mu.Lock()
	free := pp.free
	pp.free, pp.closed = nil, true
	pp.mu.Unlock()
	for _, p := range free {
		p.close()
	}
}

func (p *spipe) close() {
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// rawSplice is splice(2) without the runtime's blocking-syscall hand-off
// (see above: every call here is non-blocking).
func rawSplice(in, out, n int) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), spliceFNonblock)
	return int(r), e
}

// spliceCopy moves up to limit bytes from src to dst through a pipe from
// pp. Like io.Copy over an io.LimitedReader: it returns fewer than limit
// bytes with a nil error only at src's EOF. A read deadline on src ends it
// with os.ErrDeadlineExceeded, as io.Copy's would.
//
// One wait for src serves many splices: bytes are pumped to dst from
// inside the read callback, and src is waited for again only on EAGAIN.
func spliceCopy(pp *pipePool, dst, src *net.TCPConn, limit int64) (int64, error) {
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	wc, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	c := &splicer{pp: pp, limit: limit}
	defer func() { pp.put(c.p) }()
	for c.written < limit && !c.eof {
		err := rc.Read(func(sfd uintptr) bool { return c.fill(int(sfd), wc) })
		if err == nil {
			err = c.err
		}
		if err == nil && c.blocked {
			// dst is full: wait for room and pump the rest.
			err = wc.Write(func(dfd uintptr) bool { return c.pump(int(dfd)) })
			if err == nil {
				err = c.err
			}
		}
		if err != nil {
			return c.written, err
		}
	}
	return c.written, nil
}

// splicer is one spliceCopy's state.
type splicer struct {
	pp      *pipePool
	p       *spipe // nil while src is quiet
	limit   int64
	written int64
	eof     bool
	blocked bool // dst said EAGAIN with bytes left in the pipe
	err     error
}

// fill is the read callback: splice src into the pipe until src says
// EAGAIN or the pipe is full, then pump the pipe into dst, and again,
// until src is drained (false: wait for src) or something else ends the
// round (true: EOF, limit, dst full, error). Filling the pipe before
// pumping hands dst the bytes in as few writes as they came in reads
// (HAProxy's way): pumping after every read gave the receiver many small
// sends to wake for.
func (c *splicer) fill(sfd int, wc syscall.RawConn) bool {
	for {
		if c.p == nil {
			p, err := c.pp.get()
			if err != nil {
				c.err = fmt.Errorf("%w: %w", errNoPipe, err)
				return true
			}
			c.p = p
		}
		drained := false
		for want := c.room(); want > 0; want = c.room() {
			n, e := rawSplice(sfd, c.p.w, want)
			if e == syscall.EINTR {
				continue
			}
			if e == syscall.EAGAIN {
				drained = true
				break
			}
			if e != 0 {
				c.err = e
				return true
			}
			if n == 0 {
				c.eof = true
				break
			}
			c.p.data += n
		}
		if drained && c.p.data == 0 {
			return c.quiet()
		}
		var pumped bool
		if err := wc.Control(func(dfd uintptr) { pumped = c.pump(int(dfd)) }); err != nil {
			c.err = err
			return true
		}
		c.blocked = !pumped
		if c.err != nil || c.blocked || c.eof || c.written >= c.limit {
			return true
		}
		if drained {
			return c.quiet() // the pipe is empty: wait for src
		}
		// The pipe was full (or a short splice): ask src again.
	}
}

// room is how many bytes the next splice into the pipe may bring.
func (c *splicer) room() int {
	return int(min(int64(c.p.size-c.p.data), c.limit-c.written-int64(c.p.data)))
}

// quiet gives the (empty) pipe back while src has nothing, and waits.
func (c *splicer) quiet() bool {
	if c.p.data > 0 {
		return true
	}
	c.pp.put(c.p)
	c.p = nil
	return false
}

// pump moves the pipe's bytes to dst; false when dst is full first.
func (c *splicer) pump(dfd int) bool {
	for c.p.data > 0 {
		n, e := rawSplice(c.p.r, dfd, c.p.data)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false
		case e != 0:
			c.err = e
			return true
		}
		c.p.data -= n
		c.written += int64(n)
	}
	c.blocked = false
	return true
}
