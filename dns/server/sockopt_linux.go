//go:build linux

package server

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenUDP binds a UDP socket with receive and send buffers big enough
// for a burst (NSD and Knot size theirs the same way): SO_RCVBUFFORCE
// goes past net.core.rmem_max when the process may (CAP_NET_ADMIN),
// else SO_RCVBUF gets what rmem_max allows. With reusePort the socket
// shares its port with the listener's other UDP sockets (SO_REUSEPORT),
// one per reader, and the kernel spreads the clients over them.
func listenUDP(addr netip.AddrPort, reusePort bool) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			if reusePort {
				serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
			if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRecvBuffer) != nil {
				_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, udpRecvBuffer)
			}
			if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, udpSendBuffer) != nil {
				_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUF, udpSendBuffer)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// canReusePort: Linux spreads datagrams over SO_REUSEPORT sockets.
const canReusePort = true
