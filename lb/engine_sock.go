package lb

import (
	"io"
	"net"
	"os"
	"syscall"
)

// sockIO is how the fast engine reads and writes a plain TCP connection
// (a client's or a backend's): its bufio.Reader and bufio.Writer sit on
// it instead of on the net.Conn. On Linux it calls recvfrom and sendto
// itself, through the connection's RawConn, as raw system calls: these
// sockets are non-blocking (a call never waits; the netpoller does, when
// one finds nothing to read or no room to write), and a call the runtime
// does not know about is one it does not hand the P away during. Under
// load a write to a loopback socket runs the receiver's network stack
// and often lasts over 20 µs: sysmon then took the P and woke another
// thread for it, which cost two thread switches and a futex round trip,
// several times per hundred requests (HAProxy has no such hand-off).
// recvfrom and sendto also skip the file layer that read and write go
// through. Elsewhere, and for any other net.Conn (TLS, pipes in tests),
// it is the connection's own Read and Write.
type sockIO struct {
	nc   net.Conn
	rc   syscall.RawConn // nil: nc's own Read and Write
	r, w sockOp          // apart: a tunnel reads and writes at once
}

// sockOp is one direction's call in progress: what the RawConn callback
// works on (a method value made once, so that a call allocates nothing).
type sockOp struct {
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newSockIO(nc net.Conn) *sockIO {
	s := &sockIO{nc: nc}
	s.rawInit()
	return s
}

func (s *sockIO) Read(p []byte) (int, error) {
	if s.rc == nil {
		return s.nc.Read(p)
	}
	n, errno, err := s.call(&s.r, p, false)
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, s.opError("read", "recvfrom", errno)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *sockIO) Write(p []byte) (int, error) {
	if s.rc == nil {
		return s.nc.Write(p)
	}
	n, errno, err := s.call(&s.w, p, true)
	if err == nil && errno != 0 {
		err = s.opError("write", "sendto", errno)
	}
	return n, err
}

// call runs one raw recvfrom (o is s.r) or sendto (o is s.w) on p, waiting
// in the netpoller while the socket has nothing to read or no room; a
// deadline or a close ends the wait (err).
func (s *sockIO) call(o *sockOp, p []byte, write bool) (n int, errno syscall.Errno, err error) {
	if len(p) == 0 {
		return 0, 0, nil
	}
	o.p, o.n, o.errno = p, 0, 0
	if write {
		err = s.rc.Write(o.fn)
	} else {
		err = s.rc.Read(o.fn)
	}
	n, errno = o.n, o.errno
	o.p = nil
	return n, errno, err
}

// WriteTo lets io.Copy from a bufio.Reader on s (the WebSocket tunnel)
// use the connection's own WriteTo (splice between two sockets).
func (s *sockIO) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, s.nc)
}

// opError is what net.Conn's Read or Write would return for errno.
func (s *sockIO) opError(op, call string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(), Err: os.NewSyscallError(call, errno)}
}

// sockConn is a net.Conn whose reads and writes go through sockIO, for
// crypto/tls to sit on (HTTPS frontends on the fast engine, re-encrypted
// backends): TLS records then take the same raw system calls.
type sockConn struct {
	net.Conn // Close, addresses and deadlines: the connection's own
	sock     *sockIO
}

// newSockConn wraps nc when sockIO takes the raw path for it; otherwise
// it returns nc.
func newSockConn(nc net.Conn) net.Conn {
	s := newSockIO(nc)
	if s.rc == nil {
		return nc
	}
	return &sockConn{Conn: nc, sock: s}
}

func (c *sockConn) Read(p []byte) (int, error)  { return c.sock.Read(p) }
func (c *sockConn) Write(p []byte) (int, error) { return c.sock.Write(p) }

// CloseWrite and SyscallConn are the wrapped connection's (a TCP
// connection has both).
func (c *sockConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *sockConn) SyscallConn() (syscall.RawConn, error) { return c.sock.rc, nil }

// sockListener wraps the connections it accepts in sockConn (under the
// TLS listener of a fast-engine frontend).
type sockListener struct{ net.Listener }

func (l sockListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newSockConn(c), nil
}
