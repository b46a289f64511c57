package l4

import (
	"sync"
	"syscall"
)

// spipe is one kernel pipe used as the splice buffer; data is how many
// bytes sit in it.
type spipe struct {
	r, w int
	size int
	data int
}

// pipePool keeps pipes between connections (two syscalls and two
// descriptors each to make), and the small user-space buffers that a
// direction reads into before it splices (see splicer.read).
type pipePool struct {
	mu     sync.Mutex
	free   []*spipe
	closed bool
	bufs   sync.Pool // *[smallBuf]byte
}

// getBuf is a small buffer for one direction's read; putBuf gives it back.
func (pp *pipePool) getBuf() *[smallBuf]byte {
	if b, ok := pp.bufs.Get().(*[smallBuf]byte); ok {
		return b
	}
	return new([smallBuf]byte)
}

func (pp *pipePool) putBuf(b *[smallBuf]byte) { pp.bufs.Put(b) }

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
