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
			sink := testutil.Listen(b)
			testutil.Serve(b, sink, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
			cfg := Config{
				Pools:     []Pool{{Name: "sink", Backends: []Backend{{ID: "s", Address: sink.Addr().String()}}, Health: Health{Disabled: true}}},
				Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "sink"}},
			}
			s, err := New(cfg, Options{Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			if mode == "userspace" {
				s.pipes = nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			addrc := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, func(_ string, a net.Addr) { addrc <- a.String() }) }()
			addr := <-addrc
			buf := make([]byte, 1<<20)
			const perIter = 64 << 20
			b.SetBytes(perIter)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < perIter; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				c.(*net.TCPConn).CloseWrite()
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(io.Discard, c) // wait for the proxy's close
				c.Close()
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}

// BenchmarkConnection is the accept and dial path: per iteration a client
// connects through the proxy to an echo backend, sends one byte, reads it
// back and resets the connection (l4bench connrate's loop, one client).
// allocs/op counts the proxy's allocations and the client's and backend's
// (about 15 of them: dial, accept, the echo goroutine); profile with
// -cpuprofile/-memprofile and focus on netsim/lb/l4.
func BenchmarkConnection(b *testing.B) {
	echo := testutil.Listen(b)
	testutil.Serve(b, echo, func(c net.Conn) { _, _ = io.Copy(c, c) })
	cfg := Config{
		Pools:     []Pool{{Name: "echo", Backends: []Backend{{ID: "e", Address: echo.Addr().String()}}, Health: Health{Disabled: true}}},
		Frontends: []Frontend{{Name: "tcp", Listen: "127.0.0.1:0", Pool: "echo"}},
	}
	s, err := New(cfg, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, func(_ string, a net.Addr) { addrc <- a.String() }) }()
	addr := <-addrc
	buf := []byte{'x'}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.StopTimer()
	cancel()
	<-done
}
