package l4

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"
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
//
// Small messages do not go through a pipe: a direction starts each chunk
// reading into a 16 KiB user-space buffer (read + write, HAProxy's
// splice-auto way) and turns to splice only when a read fills the buffer,
// that is when a bulk transfer is under way. Moving a few bytes costs two
// splices and a pipe's page bookkeeping against one read and one write.

const (
	fSetPipeSz      = 1031 // F_SETPIPE_SZ
	fGetPipeSz      = 1032 // F_GETPIPE_SZ
	spliceFNonblock = 0x2  // SPLICE_F_NONBLOCK
	// pipeSize is what F_SETPIPE_SZ asks for: the largest unprivileged
	// size by default (fs.pipe-max-size), and what Go's io.Copy asks too.
	pipeSize = 1 << 20
	// maxIdlePipes bounds the pool; more are closed when returned.
	maxIdlePipes = 64
	// smallBuf is a direction's user-space buffer: a read that fills it
	// turns the direction to splice; a splice round that finds less than
	// this turns it back.
	smallBuf = 16 << 10
)

// errNoPipe says spliceCopy could not make a pipe (descriptors or pipe
// memory exhausted); nothing was lost, the caller may copy in user space.
var errNoPipe = errors.New("no splice pipe")

// rawSplice is splice(2) without the runtime's blocking-syscall hand-off
// (see above: every call here is non-blocking).
func rawSplice(in, out, n int) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), spliceFNonblock)
	return int(r), e
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket,
// likewise raw.
func rawRead(fd int, b []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), e
}

func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), e
}

// rawSetsockoptInt is setsockopt(2) with an int value, likewise raw (the
// options set here do not block).
func rawSetsockoptInt(fd, level, opt, value int) syscall.Errno {
	v := int32(value)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	return e
}

// spliceCopy moves up to limit bytes from src to dst, through a small
// buffer or a pipe from pp. Like io.Copy over an io.LimitedReader: it
// returns fewer than limit bytes with a nil error only at src's EOF. A
// read deadline on src ends it with os.ErrDeadlineExceeded, as io.Copy's
// would. A direction makes its splicer once and copies chunk after chunk
// with it; this is the one-chunk form.
func spliceCopy(pp *pipePool, dst, src *net.TCPConn, limit int64) (int64, error) {
	var c splicer
	if err := c.init(pp, dst, src); err != nil {
		return 0, err
	}
	return c.copy(limit)
}

// splicer is one direction's copy state, kept between chunks so that a
// chunk allocates nothing: the sockets' raw handles and the callbacks
// handed to them are made once.
type splicer struct {
	pp       *pipePool
	rc, wc   syscall.RawConn
	ioFn     func(fd uintptr) bool // rc.Read's callback (c.fill) and wc.Write's (c.pump, when waiting)
	waiting  bool                  // for dst: ioFn pumps
	pumpCtl  func(fd uintptr)      // wc.Control's: c.pump into pumped
	pumped   bool
	splicing bool            // through p, after a read filled buf
	p        *spipe          // nil while src is quiet or not splicing
	buf      *[smallBuf]byte // nil while src is quiet or splicing
	bufOff   int             // buf[bufOff:bufEnd] waits for dst
	bufEnd   int
	limit    int64
	written  int64
	eof      bool
	blocked  bool // dst said EAGAIN with bytes left in the pipe or buffer
	err      error
}

func (c *splicer) init(pp *pipePool, dst, src *net.TCPConn) error {
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	wc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	*c = splicer{pp: pp, rc: rc, wc: wc}
	c.ioFn = func(fd uintptr) bool {
		if c.waiting {
			return c.pump(int(fd))
		}
		return c.fill(int(fd))
	}
	c.pumpCtl = func(fd uintptr) { c.pumped = c.pump(int(fd)) }
	return nil
}

// copy is one chunk (see spliceCopy). One wait for src serves many reads:
// bytes are pumped to dst from inside the read callback, and src is
// waited for again only on EAGAIN.
func (c *splicer) copy(limit int64) (int64, error) {
	c.limit, c.written, c.eof, c.blocked, c.err = limit, 0, false, false, nil
	// Each chunk starts with a small read: a connection that went from
	// bulk to small messages is back on read/write within 4 MiB. (Keeping
	// the mode across chunks measured no faster: 1 GiB streams, 1,662
	// against 1,784 MiB/s, medians of 5, interleaved.)
	c.splicing = false
	defer c.release()
	for c.written < limit && !c.eof {
		err := c.rc.Read(c.ioFn)
		if err == nil {
			err = c.err
		}
		if err == nil && c.blocked {
			// dst is full: wait for room and pump the rest, src muted
			// meanwhile (see mute).
			muted := c.splicing && c.mute(lowatMax)
			c.waiting = true
			err = c.wc.Write(c.ioFn)
			c.waiting = false
			if muted {
				c.mute(1)
			}
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

// lowatMax asks for the largest SO_RCVLOWAT; Linux caps it at half of
// tcp_rmem's maximum (or of a set SO_RCVBUF).
const lowatMax = 1 << 30

// mute sets src's SO_RCVLOWAT to n: false when it could not. Go's poller
// is edge-triggered and keeps read interest on every socket, so while a
// bulk copy waits for dst to drain, each segment arriving on src would
// wake the poller for nothing (measured: 5.3 epoll_pwait per MiB against
// HAProxy's 0.3; HAProxy drops read interest instead). With the mark
// above what src can queue, the kernel reports src readable only when its
// receive window is nearly shut, under memory pressure, or at its end;
// back at 1, what is queued is reported at once. (A mark of a pipe's
// size did not help: a fast sender queues that much within a segment or
// two.)
//
// The setsockopt is a raw system call like the splices (it cannot block):
// made the ordinary way, each one entered Go's system-call state, which
// wakes sysmon from its idle sleep into polling every 20 µs; in a bulk
// copy, muting twice per full dst kept sysmon at 9 % of lbd's CPU (perf).
func (c *splicer) mute(n int) bool {
	var errno syscall.Errno
	if cerr := c.rc.Control(func(fd uintptr) {
		errno = rawSetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
	}); cerr != nil {
		return false
	}
	return errno == 0
}

// release gives back what the copy holds; a pipe with bytes in it is
// closed by the pool.
func (c *splicer) release() {
	c.pp.put(c.p)
	c.p = nil
	if c.buf != nil {
		c.pp.putBuf(c.buf)
		c.buf = nil
	}
}

// fill is the read callback: read or splice src until it says EAGAIN,
// pumping to dst on the way. False: wait for src. True: the round ended
// (EOF, limit, dst full, error, or a switch between buffer and pipe).
func (c *splicer) fill(sfd int) bool {
	if c.splicing {
		return c.splice(sfd)
	}
	return c.read(sfd)
}

// read moves src to dst through the small buffer until src is drained.
// A read that fills the buffer turns the copy to splice.
func (c *splicer) read(sfd int) bool {
	for {
		if c.buf == nil {
			c.buf = c.pp.getBuf()
		}
		n, e := rawRead(sfd, c.buf[:min(int64(smallBuf), c.limit-c.written)])
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			c.release() // quiet: hold nothing while waiting
			return false
		case e != 0:
			c.err = e
			return true
		case n == 0:
			c.eof = true
			return true
		}
		c.bufOff, c.bufEnd = 0, n
		c.splicing = n == smallBuf
		if !c.pumpWith() || c.splicing || c.written >= c.limit {
			return true
		}
	}
}

// splice fills the pipe from src until src is drained or the pipe is
// full, then pumps it into dst, and again, until src is drained (false:
// wait for src) or something else ends the round (true). Filling the pipe
// before pumping hands dst the bytes in as few writes as they came in
// reads (HAProxy's way): pumping after every read gave the receiver many
// small sends to wake for.
func (c *splicer) splice(sfd int) bool {
	round := 0 // bytes since src was last drained
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
			round += n
		}
		if drained && c.p.data == 0 {
			return c.quiet(round)
		}
		if !c.pumpWith() || c.eof || c.written >= c.limit {
			return true
		}
		if drained {
			return c.quiet(round) // the pipe is empty: wait for src
		}
		// The pipe was full (or a short splice): ask src again.
	}
}

// pumpWith pumps to dst from inside src's callback; false when the round
// must end (dst full or an error).
func (c *splicer) pumpWith() bool {
	if err := c.wc.Control(c.pumpCtl); err != nil {
		c.err = err
		return false
	}
	c.blocked = !c.pumped
	return c.pumped && c.err == nil
}

// room is how many bytes the next splice into the pipe may bring.
func (c *splicer) room() int {
	return int(min(int64(c.p.size-c.p.data), c.limit-c.written-int64(c.p.data)))
}

// quiet gives the (empty) pipe back while src has nothing, and waits; a
// round that found less than a small buffer's worth turns the copy back
// to reading for the next round.
func (c *splicer) quiet(round int) bool {
	if c.p.data > 0 {
		return true
	}
	c.pp.put(c.p)
	c.p = nil
	if round < smallBuf {
		c.splicing = false
	}
	return false
}

// pump moves the buffer's or the pipe's bytes to dst; false when dst is
// full first.
func (c *splicer) pump(dfd int) bool {
	rem := c.bufEnd - c.bufOff
	ok := c.drain(&rem, func(n int) (int, syscall.Errno) { return rawWrite(dfd, c.buf[c.bufEnd-n:c.bufEnd]) })
	c.bufOff = c.bufEnd - rem
	if ok && c.err == nil && c.p != nil {
		ok = c.drain(&c.p.data, func(n int) (int, syscall.Errno) { return rawSplice(c.p.r, dfd, n) })
	}
	if !ok || c.err != nil {
		return ok
	}
	c.blocked = false
	return true
}

// drain calls move with the bytes *left until none are, counting what it
// moves; false on EAGAIN, true with c.err set on another error.
func (c *splicer) drain(left *int, move func(n int) (int, syscall.Errno)) bool {
	for *left > 0 {
		n, e := move(*left)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false
		case e != 0:
			c.err = e
			return true
		}
		*left -= n
		c.written += int64(n)
	}
	return true
}
