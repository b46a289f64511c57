package l4

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"netsim/internal/testutil"
)

// tcpPair is two ends of one loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) { return testutil.TCPPair(t) }

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
// read deadline ends the wait as io.Copy's would. Small writes go through
// the user-space buffer and take no pipe; a burst that fills the buffer is
// spliced.
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
		n, err := spliceCopy(pp, dstEnd, srcEnd, 8<<20)
		done <- result{n, err}
	}()
	expect := func(want []byte) {
		t.Helper()
		got := make([]byte, len(want))
		_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(sink, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("sink read %d bytes (%v), want the %d sent, in order", len(got), err, len(want))
		}
	}
	send := func(b []byte) {
		t.Helper()
		if _, err := client.Write(b); err != nil {
			t.Fatal(err)
		}
		expect(b)
	}
	send([]byte("hello"))
	if pp.idle() != 0 {
		t.Fatalf("a 5-byte message took a pipe (%d idle in the pool), want the buffer only", pp.idle())
	}
	burst := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	send(burst)
	testutil.WaitFor(t, "the quiet direction's pipe back in the pool", 10*time.Second, func() bool { return pp.idle() == 1 })
	send([]byte("and after"))
	_ = srcEnd.SetReadDeadline(time.Now())
	r := <-done
	if want := int64(5 + len(burst) + 9); r.n != want || !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("spliceCopy returned %d, %v; want %d bytes and a deadline error", r.n, r.err, want)
	}
}

// Every mix of small and large writes arrives whole and in order while the
// copy turns between buffer and pipe, and a chunk's limit holds whichever
// way the bytes went.
func TestSpliceCopyMixedSizes(t *testing.T) {
	client, srcEnd := tcpPair(t)
	dstEnd, sink := tcpPair(t)
	var data []byte
	for i, size := range []int{1, smallBuf - 1, smallBuf, smallBuf + 1, 3, 1 << 20, 7, 200 << 10, 2} {
		data = append(data, bytes.Repeat([]byte{byte('a' + i)}, size)...)
	}
	go func() {
		for off, i := 0, 0; off < len(data); i++ {
			n := min(len(data)-off, []int{1, 5000, 70000, 3, smallBuf}[i%5])
			if _, err := client.Write(data[off : off+n]); err != nil {
				return
			}
			off += n
		}
		_ = client.CloseWrite()
	}()
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(sink); got <- b }()
	pp := &pipePool{}
	defer pp.close()
	const limit = 300 << 10
	var total int64
	for {
		n, err := spliceCopy(pp, dstEnd, srcEnd, limit)
		if err != nil || n > limit {
			t.Fatalf("chunk: %d bytes, %v; want at most %d and no error", n, err, limit)
		}
		total += n
		if n < limit {
			break // EOF
		}
	}
	_ = dstEnd.CloseWrite()
	if b := <-got; total != int64(len(data)) || !bytes.Equal(b, data) {
		t.Fatalf("copied %d, sink got %d bytes; want the %d sent, in order", total, len(b), len(data))
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

func rcvlowat(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); err != nil || gerr != nil {
		t.Fatalf("SO_RCVLOWAT: %v, %v", err, gerr)
	}
	return v
}

// While a bulk copy waits for a full dst, src is muted (SO_RCVLOWAT
// raised: no wake-up per arriving segment); once dst drains, the mark is
// back at 1 and a small message that follows is passed on at once.
func TestSpliceCopyMutesSourceWhileBlocked(t *testing.T) {
	client, srcEnd := tcpPair(t)
	dstEnd, sink := tcpPair(t)
	_ = dstEnd.SetWriteBuffer(64 << 10) // dst fills quickly while sink does not read
	_ = sink.SetReadBuffer(64 << 10)
	pp := &pipePool{}
	defer pp.close()
	go func() { _, _ = spliceCopy(pp, dstEnd, srcEnd, 1<<30) }()
	bulk := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	go func() { _, _ = client.Write(bulk) }()
	testutil.WaitFor(t, "src muted while dst is full", 10*time.Second, func() bool { return rcvlowat(t, srcEnd) > 1 })
	got := make([]byte, len(bulk))
	_ = sink.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(sink, got); err != nil || !bytes.Equal(got, bulk) {
		t.Fatalf("sink read %v; want the 8 MiB sent, in order", err)
	}
	testutil.WaitFor(t, "src unmuted once dst drained", 10*time.Second, func() bool { return rcvlowat(t, srcEnd) == 1 })
	if _, err := client.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	tail := make([]byte, 4)
	if _, err := io.ReadFull(sink, tail); err != nil || string(tail) != "tail" {
		t.Fatalf("after the bulk, sink read %q, %v; want tail", tail, err)
	}
}

// A client that resets its connection has the backend connection reset
// too, both ways the bytes may go (buffer or pipe), rather than closed
// with a FIN (HAProxy's way: no FIN exchange, no TIME_WAIT on lbd's side).
func TestResetPassedOn(t *testing.T) {
	for _, size := range []int{1, 256 << 10} {
		client, clientEnd := tcpPair(t)
		backendEnd, backend := tcpPair(t)
		s := &session{client: clientEnd, backend: backendEnd}
		pp := &pipePool{}
		defer pp.close()
		done := make(chan struct{})
		go func() { defer close(done); s.pipe(time.Minute, pp) }()
		msg := bytes.Repeat([]byte{'x'}, size)
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = backend.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(backend, make([]byte, size)); err != nil {
			t.Fatalf("%d bytes: backend read %v", size, err)
		}
		_ = client.SetLinger(0)
		_ = client.Close() // RST
		<-done
		_, err := backend.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("after %d bytes and a client reset, the backend read %v; want a reset", size, err)
		}
	}
}
