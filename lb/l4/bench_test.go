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
