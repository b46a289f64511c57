package l4

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// tcpPair is two ends of one loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln := testutil.Listen(t)
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(acc)
			return
		}
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := <-acc
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func (pp *pipePool) idle() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return len(pp.free)
}

// A chunk stops at its limit with a nil error; the next one ends short
// at EOF; every byte arrives in order.
func TestSpliceCopyLimitAndEOF(t *testing.T) {
	client, srcEnd := tcpPair(t) // client writes, srcEnd is what the proxy reads
	dstEnd, sink := tcpPair(t)   // the proxy writes dstEnd, sink receives
	data := make([]byte, 3<<20+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		_, _ = client.Write(data)
		_ = client.CloseWrite()
	}()
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(sink); got <- b }()

	pp := &pipePool{}
	defer pp.close()
	n, err := spliceCopy(pp, dstEnd, srcEnd, 1<<20)
	if n != 1<<20 || err != nil {
		t.Fatalf("first chunk: %d bytes, %v; want %d bytes and no error", n, err, 1<<20)
	}
	n2, err := spliceCopy(pp, dstEnd, srcEnd, 8<<20)
	if want := int64(len(data) - 1<<20); n2 != want || err != nil {
		t.Fatalf("second chunk: %d bytes, %v; want %d bytes and no error (EOF)", n2, err, want)
	}
	_ = dstEnd.CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("sink got %d bytes, want the %d sent, in order", len(b), len(data))
	}
	if pp.idle() != 1 {
		t.Fatalf("pool holds %d idle pipes after the copies, want the one they used", pp.idle())
	}
}

// A direction that goes quiet gives its pipe back while it waits, and a
// read deadline ends the wait as io.Copy's would.
func TestSpliceCopyQuietHoldsNoPipe(t *testing.T) {
	client, srcEnd := tcpPair(t)
	dstEnd, sink := tcpPair(t)
	pp := &pipePool{}
	defer pp.close()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := spliceCopy(pp, dstEnd, srcEnd, 1<<20)
		done <- result{n, err}
	}()
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sink, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("sink read %q, %v; want hello", buf, err)
	}
	testutil.WaitFor(t, "the quiet direction's pipe back in the pool", 10*time.Second, func() bool { return pp.idle() == 1 })
	_ = srcEnd.SetReadDeadline(time.Now())
	r := <-done
	if r.n != 5 || !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("spliceCopy returned %d, %v; want 5 bytes and a deadline error", r.n, r.err)
	}
}

// The pool keeps at most maxIdlePipes, closes a pipe that still holds
// bytes, and closes what it holds (and later returns) when closed.
func TestPipePoolBounds(t *testing.T) {
	pp := &pipePool{}
	var ps []*spipe
	for range maxIdlePipes + 2 {
		p, err := pp.get()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if ps[0].size != pipeSize {
		t.Logf("F_SETPIPE_SZ %d refused here; pipes have %d bytes", pipeSize, ps[0].size)
	}
	for _, p := range ps {
		pp.put(p)
	}
	if pp.idle() != maxIdlePipes {
		t.Fatalf("pool holds %d idle pipes, want the cap %d", pp.idle(), maxIdlePipes)
	}
	p, _ := pp.get()
	p.data = 1
	pp.put(p)
	if pp.idle() != maxIdlePipes-1 {
		t.Fatalf("a pipe with bytes in it went back to the pool (%d idle)", pp.idle())
	}
	pp.close()
	if pp.idle() != 0 {
		t.Fatalf("closed pool holds %d pipes", pp.idle())
	}
	q, err := pp.get()
	if err != nil {
		t.Fatal(err)
	}
	pp.put(q)
	if pp.idle() != 0 {
		t.Fatal("a closed pool took a pipe back")
	}
}
