//go:build linux

package server

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSocket is a blocking UDP socket that the Go runtime's poller never
// sees: a reader waits inside recvmmsg, as NSD's and Knot's do. Sockets
// in the poller are registered for EPOLLOUT too, and then every reply
// freed after its delivery wakes the poller (sock_wfree → write space →
// ep_poll_callback): measured, a fifth of dnsd's CPU per answer went to
// those wake-ups and the context switches behind them.
type rawSocket struct {
	fd   int
	port uint16
	down atomic.Bool
}

// listenUDP binds a UDP socket with receive and send buffers big enough
// for a burst: SO_RCVBUFFORCE goes past net.core.rmem_max when the
// process may (CAP_NET_ADMIN), else SO_RCVBUF gets what rmem_max allows.
// With reusePort the socket shares its port with the listener's other
// UDP sockets (SO_REUSEPORT), one per reader, and the kernel spreads the
// clients over them.
func listenUDP(addr netip.AddrPort, reusePort bool) (udpSocket, error) {
	family := unix.AF_INET
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	s := &rawSocket{fd: fd}
	if err := s.setup(addr, family, reusePort); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

func (s *rawSocket) setup(addr netip.AddrPort, family int, reusePort bool) error {
	if reusePort {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return err
		}
	}
	if unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRecvBuffer) != nil {
		_ = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpRecvBuffer)
	}
	if unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, udpSendBuffer) != nil {
		_ = unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, udpSendBuffer)
	}
	// DF on every reply, the path MTU from ICMP ignored (RFC 9715 §3.1;
	// replies are at most 1,232 bytes): a reply is never fragmented, and
	// a datagram with DF needs no IP ID from the kernel's shared generator
	// (__ip_select_ident, measured ~50 ns an answer)
	if family == unix.AF_INET6 {
		_ = unix.SetsockoptInt(s.fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE)
	}
	_ = unix.SetsockoptInt(s.fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
	if family == unix.AF_INET6 && addr.Addr().IsUnspecified() {
		_ = unix.SetsockoptInt(s.fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) // [::] takes IPv4 too, as net does
	}
	if err := unix.Bind(s.fd, sockaddr(addr.Addr().Unmap(), addr.Port(), family)); err != nil {
		return err
	}
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return err
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		s.port = uint16(sa.Port)
	case *unix.SockaddrInet6:
		s.port = uint16(sa.Port)
	}
	return nil
}

func sockaddr(a netip.Addr, port uint16, family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(port), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: a.As16()}
}

// canReusePort: Linux spreads datagrams over SO_REUSEPORT sockets.
const canReusePort = true

func (s *rawSocket) Port() uint16 { return s.port }

// Shutdown wakes readers blocked in recvmmsg (shutdown on a UDP socket
// does, though it reports ENOTCONN).
func (s *rawSocket) Shutdown() {
	s.down.Store(true)
	_ = unix.Shutdown(s.fd, unix.SHUT_RDWR)
}

func (s *rawSocket) Close() error { return unix.Close(s.fd) }

// WriteToUDPAddrPort sends one datagram to an address as a read gave it
// (IPv4 on an IPv4 socket, IPv6 or IPv4-mapped on an IPv6 one).
func (s *rawSocket) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if s.down.Load() {
		return 0, net.ErrClosed
	}
	family := unix.AF_INET6
	if to.Addr().Is4() {
		family = unix.AF_INET
	}
	if err := unix.Sendto(s.fd, b, 0, sockaddr(to.Addr(), to.Port(), family)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// rawBatch is one reader's mmsghdrs, buffers and addresses, reused for
// every batch: reading and answering allocate nothing.
type rawBatch struct {
	s      *rawSocket
	inHdr  []unix.Mmsghdr
	inIov  []unix.Iovec
	inName []unix.RawSockaddrInet6 // an IPv4 sender fits in it too
	bufs   [][]byte
	out    int
	outHdr []unix.Mmsghdr
	outIov []unix.Iovec
	outNam []unix.RawSockaddrInet6
}

func (s *rawSocket) newBatch(n, size int) udpBatch {
	b := &rawBatch{
		s: s, inHdr: make([]unix.Mmsghdr, n), inIov: make([]unix.Iovec, n), inName: make([]unix.RawSockaddrInet6, n),
		bufs: make([][]byte, n), outHdr: make([]unix.Mmsghdr, n), outIov: make([]unix.Iovec, n), outNam: make([]unix.RawSockaddrInet6, n),
	}
	for i := range b.inHdr {
		b.bufs[i] = make([]byte, size)
		b.inIov[i].Base = &b.bufs[i][0]
		b.inIov[i].SetLen(size)
		b.inHdr[i].Hdr.Iov = &b.inIov[i]
		b.inHdr[i].Hdr.SetIovlen(1)
		b.inHdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.inName[i]))
		b.outHdr[i].Hdr.Iov = &b.outIov[i]
		b.outHdr[i].Hdr.SetIovlen(1)
		b.outHdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.outNam[i]))
	}
	return b
}

func (b *rawBatch) read() (int, error) {
	for i := range b.inHdr {
		b.inHdr[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.inHdr[i].Hdr.Flags = 0
	}
	for {
		if b.s.down.Load() {
			return 0, net.ErrClosed
		}
		// Under load queries are waiting: take them without telling the
		// scheduler (rawCall). Only an empty socket costs a blocking call.
		n, e := rawCall(unix.SYS_RECVMMSG, b.s.fd, unsafe.Pointer(&b.inHdr[0]), len(b.inHdr), unix.MSG_DONTWAIT)
		if e == unix.EAGAIN {
			n, e = blockingCall(unix.SYS_RECVMMSG, b.s.fd, unsafe.Pointer(&b.inHdr[0]), len(b.inHdr), unix.MSG_WAITFORONE)
		}
		switch {
		case e == unix.EINTR || e == unix.EAGAIN:
			continue
		case e != 0:
			return 0, e
		case n == 0 || b.s.down.Load(): // woken by Shutdown
			return 0, net.ErrClosed
		}
		return n, nil
	}
}

func (b *rawBatch) in(i int) ([]byte, netip.AddrPort) {
	name := &b.inName[i]
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(name))
	port := binary.BigEndian.Uint16(raw[2:4])
	var a netip.Addr
	if name.Family == unix.AF_INET {
		a = netip.AddrFrom4([4]byte(raw[4:8]))
	} else {
		a = netip.AddrFrom16(name.Addr)
	}
	return b.bufs[i][:b.inHdr[i].Len], netip.AddrPortFrom(a, port)
}

func (b *rawBatch) queue(reply []byte, to netip.AddrPort) {
	i := b.out
	b.out++
	b.outIov[i].Base = unsafe.SliceData(reply)
	b.outIov[i].SetLen(len(reply))
	name := &b.outNam[i]
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(name))
	*name = unix.RawSockaddrInet6{}
	if a := to.Addr(); a.Is4() {
		name.Family = unix.AF_INET
		a4 := a.As4()
		copy(raw[4:8], a4[:])
		b.outHdr[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	} else {
		name.Family = unix.AF_INET6
		name.Addr = a.As16()
		b.outHdr[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	binary.BigEndian.PutUint16(raw[2:4], to.Port())
}

func (b *rawBatch) flush() error {
	defer func() { b.out = 0 }()
	for sent := 0; sent < b.out; {
		// the send buffer has room but when the kernel is behind: then,
		// and only then, wait in a blocking call
		n, e := rawCall(unix.SYS_SENDMMSG, b.s.fd, unsafe.Pointer(&b.outHdr[sent]), b.out-sent, unix.MSG_DONTWAIT)
		if e == unix.EAGAIN {
			n, e = blockingCall(unix.SYS_SENDMMSG, b.s.fd, unsafe.Pointer(&b.outHdr[sent]), b.out-sent, 0)
		}
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EBADF || b.s.down.Load():
			return net.ErrClosed
		case e != 0:
			sent++ // skip the datagram that failed (e.g. the client went away)
			continue
		}
		sent += n
	}
	return nil
}

// rawCall makes a recvmmsg or sendmmsg that does not block (MSG_DONTWAIT)
// without entering the scheduler's system-call state. A goroutine in a
// system call loses its P to sysmon after 20 µs, and a sendmmsg of a
// batch takes longer than that: every batch then cost a hand-off, a
// spinning thread woken and parked again, and sysmon polling every 20 µs
// on the server's CPU — measured, 0.1 context switches per answer
// against NSD's 0.014. A call that cannot block returns within the
// batch's time, so the P is not needed elsewhere meanwhile.
func rawCall(trap uintptr, fd int, msgs unsafe.Pointer, n, flags int) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(trap, uintptr(fd), uintptr(msgs), uintptr(n), uintptr(flags), 0, 0)
	return int(r), e
}

// blockingCall is rawCall for a call that may wait: the runtime hands the
// P to other goroutines meanwhile.
func blockingCall(trap uintptr, fd int, msgs unsafe.Pointer, n, flags int) (int, syscall.Errno) {
	r, _, e := syscall.Syscall6(trap, uintptr(fd), uintptr(msgs), uintptr(n), uintptr(flags), 0, 0)
	return int(r), e
}
