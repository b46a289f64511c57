//go:build !linux

package server

import (
	"net"
	"net/netip"
)

// listenUDP binds a UDP socket with the buffers the system gives (the
// sizes are Linux's concern here) and one socket per listener.
func listenUDP(addr netip.AddrPort, _ bool) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(udpRecvBuffer)
	_ = c.SetWriteBuffer(udpSendBuffer)
	return c, nil
}

const canReusePort = false
