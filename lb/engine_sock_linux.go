package lb

import (
	"net"
	"syscall"
	"unsafe"
)

// rawInit sets s up for raw recvfrom and sendto when s.nc is a TCP
// connection, as accepted or under max_connections_per_client's wrapper
// (which changes only Close); a wrapper that reads or writes itself
// (TLS) keeps its own Read and Write.
func (s *sockIO) rawInit() {
	var tc *net.TCPConn
	switch c := s.nc.(type) {
	case *net.TCPConn:
		tc = c
	case *limitedTCPConn:
		tc = c.TCPConn
	default:
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	s.rc, s.r.fn, s.w.fn = rc, s.recv, s.send
}

// recv reads into s.r.p; false: nothing to read yet (the netpoller waits
// and calls again).
func (s *sockIO) recv(fd uintptr) bool {
	p := s.r.p
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
		switch e {
		case 0:
			s.r.n = int(n)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.r.errno = e
			return true
		}
	}
}

// send writes all of s.w.p; false: the socket's buffer is full (the
// netpoller waits for room and calls again, which goes on from s.w.n).
func (s *sockIO) send(fd uintptr) bool {
	for s.w.n < len(s.w.p) {
		b := s.w.p[s.w.n:]
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			s.w.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.w.errno = e
			return true
		}
	}
	return true
}
