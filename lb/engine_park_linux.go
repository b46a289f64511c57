//go:build linux

package lb

import (
	"fmt"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// parker waits on the sockets of parked connections with an epoll set of
// its own (one-shot, level-triggered: bytes that came before the socket
// was added still wake it) and an eventfd that interrupts the wait when
// an earlier deadline or the stop arrives. Its goroutine runs while the
// engine does.
type parker struct {
	eng  *engine
	epfd int
	evfd int
	log  *zap.Logger

	mu      sync.Mutex
	set     parkSet
	waiting time.Time // when the running wait ends
	stopped bool
	done    chan struct{}

	// After a burst of connections goes idle, the buffers they gave up
	// are garbage, and Go keeps the heap they grew resident until a GC
	// that an idle lbd rarely runs: once release.after connections have
	// parked and none has for release.quiet, the memory goes back to the
	// OS (debug.FreeOSMemory: one collection, then the free pages).
	release struct {
		after  int           // parks since the last release that call for one
		quiet  time.Duration // no park for this long
		parks  int
		last   time.Time // the latest park
		notify func()    // tests: called after each release
	}
}

// A burst of 1,024 connections gave up ~16 MiB of read buffers.
const (
	releaseAfterParks = 1024
	releaseQuiet      = 2 * time.Second
)

// evToken marks the eventfd's events (connections' tokens start at 1).
const evToken = 0

func newParker(e *engine) (*parker, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("eventfd2: %w", errno)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, evToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(evfd), &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(int(evfd))
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	p := &parker{eng: e, epfd: epfd, evfd: int(evfd), log: e.f.srv.log, set: newParkSet(), done: make(chan struct{})}
	p.release.after, p.release.quiet = releaseAfterParks, releaseQuiet
	go p.run()
	return p, nil
}

func setToken(ev *syscall.EpollEvent, t uint64) {
	ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// add parks c until its socket is readable or deadline passes.
func (p *parker) add(c *fastConn, deadline time.Time) error {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%T has no file descriptor", c.nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return fmt.Errorf("the engine is shutting down")
	}
	var perr error
	err = rc.Control(func(fd uintptr) {
		pk := p.set.add(c, int(fd), deadline)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
		setToken(&ev, pk.token)
		if perr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); perr != nil {
			p.set.remove(pk)
		}
	})
	if err == nil {
		err = perr
	}
	if err == nil {
		p.release.parks++
		p.release.last = time.Now()
	}
	if err == nil && !deadline.IsZero() && (p.waiting.IsZero() || deadline.Before(p.waiting)) {
		p.interrupt()
	}
	return err
}

// take removes c from the set when it is parked (shutdown closes it).
func (p *parker) take(c *fastConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pk := c.parkedAs; pk != nil {
		p.set.remove(pk)
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pk.fd, nil)
	}
}

func (p *parker) interrupt() {
	one := [8]byte{1}
	_, _ = syscall.Write(p.evfd, one[:])
}

// stop ends the parker's goroutine; connections still parked are the
// engine's shutdown's to close.
func (p *parker) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.interrupt()
	p.mu.Unlock()
	<-p.done
	_ = syscall.Close(p.epfd)
	_ = syscall.Close(p.evfd)
}

func (p *parker) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var woken, expired []*parked
	for {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		wait := time.Second
		now := time.Now()
		if d := p.set.nextDeadline(); !d.IsZero() {
			wait = min(wait, max(d.Sub(now), 0))
		}
		p.waiting = now.Add(wait)
		p.mu.Unlock()
		n, err := syscall.EpollWait(p.epfd, events, int((wait+time.Millisecond-1)/time.Millisecond))
		if err != nil && err != syscall.EINTR {
			p.log.Error("parked connections: epoll_wait failed", zap.Error(err))
			time.Sleep(10 * time.Millisecond) // a broken set: do not spin
		}
		woken, expired = woken[:0], expired[:0]
		p.mu.Lock()
		for i := range max(n, 0) {
			t := token(&events[i])
			if t == evToken {
				var b [8]byte
				_, _ = syscall.Read(p.evfd, b[:])
				continue
			}
			if pk := p.set.byToken[t]; pk != nil {
				p.set.remove(pk)
				_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pk.fd, nil)
				woken = append(woken, pk)
			}
		}
		now = time.Now()
		release := p.release.parks >= p.release.after && now.Sub(p.release.last) >= p.release.quiet
		if release {
			p.release.parks = 0
		}
		notify := p.release.notify
		expired = append(expired, p.set.expired(now)...)
		for _, pk := range expired {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pk.fd, nil)
		}
		p.mu.Unlock()
		for _, pk := range woken {
			pk.c.wake()
		}
		for _, pk := range expired {
			pk.c.expire()
		}
		if release {
			debug.FreeOSMemory()
			if notify != nil {
				notify()
			}
		}
	}
}
