package l4

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/testutil"
)

// BenchmarkThroughput pushes 64 MiB per iteration through the proxy to a
// sink that discards it. "splice" is the real path; "userspace" hides the
// sockets' ReadFrom so io.Copy moves the bytes through a Go buffer. Profile
// with -cpuprofile: the splice run spends its time in syscall.Splice, the
// userspace run in read/write syscalls and memmove.
func BenchmarkThroughput(b *testing.B) {
	for _, mode := range []string{"splice", "userspace"} {
		b.Run(mode, func(b *testing.B) {
			addr := benchProxy(b, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }, mode == "userspace")
			buf := make([]byte, 1<<20)
			const perIter = 64 << 20
			b.SetBytes(perIter)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c := benchDial(b, addr)
				for sent := 0; sent < perIter; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				_ = c.CloseWrite()
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(io.Discard, c) // wait for the proxy's close
				c.Close()
			}
			b.StopTimer()
		})
	}
}

// BenchmarkConnection is the accept and dial path: per iteration a client
// connects through the proxy to an echo backend, sends one byte, reads it
// back and resets the connection (l4bench connrate's loop, one client).
// allocs/op counts the proxy's allocations and the client's and backend's
// (of 68 on 2026-12-01, about 40 were the proxy's: 17 in net's dial, 6 in
// its accept); profile with -cpuprofile/-memprofile and focus on
// netsim/lb/l4.
func BenchmarkConnection(b *testing.B) {
	addr := benchProxy(b, func(c net.Conn) { _, _ = io.Copy(c, c) }, false)
	buf := []byte{'x'}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := benchDial(b, addr)
		_ = c.SetLinger(0)
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.StopTimer()
}

// benchProxy starts a Server in front of one backend that serves each
// connection with h, and returns the frontend's address; the server stops
// with the benchmark. userspace takes the pipes away (io.Copy).
func benchProxy(b *testing.B, h func(net.Conn), userspace bool) string {
	be := testutil.Listen(b)
	testutil.Serve(b, be, h)
	cfg := Config{
		Pools:     []Pool{{Name: "p", Backends: []Backend{{ID: "b", Address: be.Addr().String()}}, Health: Health{Disabled: true}}},
		Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "p"}},
	}
	s, err := New(cfg, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	if userspace {
		s.pipes = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, func(_ string, a net.Addr) { addrc <- a.String() }) }()
	b.Cleanup(func() { cancel(); <-done })
	return <-addrc
}

func benchDial(b *testing.B, addr string) *net.TCPConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return c.(*net.TCPConn)
}
