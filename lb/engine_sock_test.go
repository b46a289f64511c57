package lb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t *testing.T) (a, b net.Conn) {
	c, s := testutil.TCPPair(t)
	return c, s
}

// TestSockIO: reads and writes through sockIO behave as net.Conn's own:
// data both ways (more than a socket buffer, so that a write waits for
// room), end of stream as io.EOF, a deadline as a timeout, a close as
// net.ErrClosed, a reset as ECONNRESET.
func TestSockIO(t *testing.T) {
	a, b := tcpPair(t)
	s := newSockIO(a)
	if runtime.GOOS == "linux" && s.rc == nil {
		t.Fatal("a *net.TCPConn does not take the raw path")
	}
	if wrapped := newSockIO(&limitedTCPConn{TCPConn: a.(*net.TCPConn)}); runtime.GOOS == "linux" && wrapped.rc == nil {
		t.Fatal("a connection under max_connections_per_client does not take the raw path")
	}

	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(b, int64(len(big))))
		got <- buf
	}()
	if n, err := s.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write: %d, %v; want %d, nil", n, err, len(big))
	}
	if buf := <-got; string(buf) != string(big) {
		t.Fatalf("the peer read %d bytes, not the %d written", len(buf), len(big))
	}

	if _, err := b.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 64)
	if n, err := s.Read(p); err != nil || string(p[:n]) != "hello" {
		t.Fatalf("Read: %q, %v; want \"hello\", nil", p[:n], err)
	}
	if n, err := s.Read(p[:0]); n != 0 || err != nil {
		t.Fatalf("empty Read: %d, %v", n, err)
	}

	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if _, err := s.Read(p); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline: %v; want a timeout", err)
	}
	_ = a.SetReadDeadline(time.Time{})

	b.Close()
	if _, err := s.Read(p); err != io.EOF {
		t.Fatalf("Read after the peer closed: %v; want io.EOF", err)
	}

	a.Close()
	if _, err := s.Read(p); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v; want net.ErrClosed", err)
	}
	if _, err := s.Write(p); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v; want net.ErrClosed", err)
	}
}

// TestSockIOReset: a peer's reset is ECONNRESET, in a *net.OpError.
func TestSockIOReset(t *testing.T) {
	a, b := tcpPair(t)
	_ = b.(*net.TCPConn).SetLinger(0)
	b.Close() // sends RST
	s := newSockIO(a)
	p := make([]byte, 16)
	var err error
	testutil.WaitFor(t, "the reset", 5*time.Second, func() bool {
		_, err = s.Read(p)
		return err != nil
	})
	var op *net.OpError
	if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &op) || op.Op != "read" {
		t.Fatalf("Read after a reset: %v; want a read *net.OpError with ECONNRESET", err)
	}
}

// TestSockIOTunnelWriteTo: io.Copy from a bufio.Reader on sockIO (the
// WebSocket tunnel) carries what was buffered and then the rest.
func TestSockIOTunnelWriteTo(t *testing.T) {
	a, b := tcpPair(t)
	c, d := tcpPair(t)
	br := bufio.NewReader(newSockIO(a))
	if _, err := b.Write([]byte("head")); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Peek(4); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = b.Write([]byte("-tail"))
		b.Close()
	}()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, br)
		c.Close()
		done <- err
	}()
	got, _ := io.ReadAll(d)
	if err := <-done; err != nil || string(got) != "head-tail" {
		t.Fatalf("copied %q, %v; want \"head-tail\", nil", got, err)
	}
}

// TestSockConn: a TCP connection is wrapped (on Linux), keeping
// CloseWrite and SyscallConn; any other net.Conn is returned as it is.
func TestSockConn(t *testing.T) {
	a, b := tcpPair(t)
	c := newSockConn(a)
	if runtime.GOOS != "linux" {
		t.Skip("raw syscalls are Linux-only")
	}
	if _, ok := c.(*sockConn); !ok {
		t.Fatalf("newSockConn(%T) = %T; want *sockConn", a, c)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(b); err != nil || string(got) != "x" {
		t.Fatalf("the peer read %q, %v; want \"x\" then EOF", got, err)
	}
	if _, err := c.(syscall.Conn).SyscallConn(); err != nil {
		t.Fatal(err)
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if got := newSockConn(p1); got != p1 {
		t.Fatalf("newSockConn(a pipe) = %T; want the pipe itself", got)
	}
}
