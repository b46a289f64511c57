//go:build !linux

package server

import (
	"errors"
	"net"
	"net/netip"
)

// netSocket is a UDP socket of the net package: one datagram per read
// and per write (batches are Linux's system calls).
type netSocket struct{ *net.UDPConn }

// listenUDP binds a UDP socket with larger buffers where the system
// allows; one socket per listener here.
func listenUDP(addr netip.AddrPort, _ bool) (udpSocket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(udpRecvBuffer)
	_ = c.SetWriteBuffer(udpSendBuffer)
	return netSocket{c}, nil
}

const canReusePort = false

func (s netSocket) Port() uint16 { return uint16(s.LocalAddr().(*net.UDPAddr).Port) }
func (s netSocket) Shutdown()    { s.UDPConn.Close() }
func (s netSocket) Close() error { return nil } // closed by Shutdown: a read wakes only so

func (s netSocket) newBatch(_, size int) udpBatch { return &netBatch{s: s, buf: make([]byte, size)} }

type netBatch struct {
	s     netSocket
	buf   []byte
	n     int
	from  netip.AddrPort
	reply []byte
	to    netip.AddrPort
}

func (b *netBatch) read() (int, error) {
	n, from, err := b.s.ReadFromUDPAddrPort(b.buf)
	if err != nil {
		return 0, err
	}
	b.n, b.from, b.reply = n, from, nil
	return 1, nil
}

func (b *netBatch) in(int) ([]byte, netip.AddrPort)       { return b.buf[:b.n], b.from }
func (b *netBatch) queue(reply []byte, to netip.AddrPort) { b.reply, b.to = reply, to }

func (b *netBatch) flush() error {
	if b.reply == nil {
		return nil
	}
	_, err := b.s.WriteToUDPAddrPort(b.reply, b.to)
	b.reply = nil
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil // a failed send (the client went away) is skipped
}
