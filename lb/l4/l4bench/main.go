// Command l4bench is the load side and the lbd-L4 side of bench/lb-l4.sh:
//
//	l4bench proxy    -listen 127.0.0.1:19000 -backends 127.0.0.1:19101,127.0.0.1:19102
//	l4bench sink     -listen 127.0.0.1:19101        # discards, closes on EOF
//	l4bench echo     -listen 127.0.0.1:19101        # echoes
//	l4bench send     -addr 127.0.0.1:19000 -bytes 1073741824 -streams 1
//	l4bench connrate -addr 127.0.0.1:19000 -c 32 -d 10s
//	l4bench idle     -addr 127.0.0.1:18080 -n 10000   # HTTP keep-alive, then idle until killed
//
// It is a benchmark tool, not part of lbd.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"netsim/internal/benchtool"
	"netsim/internal/health"
	"netsim/lb/l4"
)

func main() {
	fs := flag.NewFlagSet("l4bench", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:19000", "listen address")
	backends := fs.String("backends", "", "comma-separated backend addresses (proxy)")
	policy := fs.String("policy", "round_robin", "balancing policy (proxy)")
	addr := fs.String("addr", "127.0.0.1:19000", "address to load (send, connrate)")
	n := fs.Int64("bytes", 1<<30, "bytes to send, split over the streams (send)")
	streams := fs.Int("streams", 1, "parallel connections (send)")
	conc := fs.Int("c", 32, "concurrent connections (connrate), concurrent opens (idle)")
	dur := fs.Duration("d", 10*time.Second, "duration (connrate)")
	idleN := fs.Int("n", 10000, "connections to open and leave idle (idle)")
	benchtool.Main(fs, map[string]func(context.Context) error{
		"proxy": func(ctx context.Context) error { return proxy(ctx, *listen, *backends, *policy) },
		"sink": func(ctx context.Context) error {
			// 1 MiB reads: io.Discard's 8 KiB ones would make the sink,
			// not the proxy, the bottleneck of the bulk test.
			return serve(ctx, *listen, func(c net.Conn) { _, _ = io.CopyBuffer(io.Discard, onlyReader{c}, make([]byte, 1<<20)) })
		},
		"echo":     func(ctx context.Context) error { return serve(ctx, *listen, func(c net.Conn) { _, _ = io.Copy(c, c) }) },
		"send":     func(context.Context) error { return send(*addr, *n, *streams) },
		"connrate": func(context.Context) error { return connrate(*addr, *conc, *dur) },
		"idle":     func(ctx context.Context) error { return idle(ctx, *addr, *idleN, *conc) },
	})
}

func proxy(ctx context.Context, listen, backends, policy string) error {
	p := l4.Pool{Name: "bench", Policy: policy, Health: l4.Health{Config: health.Config{Interval: 2 * time.Second}}}
	for i, a := range strings.Split(backends, ",") {
		p.Backends = append(p.Backends, l4.Backend{ID: fmt.Sprintf("b%d", i+1), Address: strings.TrimSpace(a)})
	}
	s, err := l4.New(l4.Config{
		Pools:        []l4.Pool{p},
		Frontends:    []l4.Frontend{{Name: "tcp", Listen: listen, Pool: "bench", MaxConns: 4000}},
		DrainTimeout: time.Second,
	}, l4.Options{})
	if err != nil {
		return err
	}
	return s.Serve(ctx, func(_ string, a net.Addr) { fmt.Println("ready", a) })
}

func serve(ctx context.Context, listen string, h func(net.Conn)) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			h(c)
		}()
	}
}

// send pushes n bytes through addr over streams connections at once and
// prints the aggregate rate once every stream's sink has closed.
func send(addr string, n int64, streams int) error {
	if streams < 1 {
		return fmt.Errorf("-streams %d: want at least 1", streams)
	}
	start := time.Now()
	type result struct {
		err  error
		took time.Duration
	}
	res := make(chan result, streams)
	for i := range streams {
		share := n / int64(streams)
		if i == 0 {
			share += n % int64(streams)
		}
		go func() {
			err := sendOne(addr, share)
			res <- result{err, time.Since(start)}
		}()
	}
	var first error
	var firstDone time.Duration
	for i := range streams {
		r := <-res
		if r.err != nil && first == nil {
			first = r.err
		}
		if i == 0 {
			firstDone = r.took
		}
	}
	if first != nil {
		return first
	}
	el := time.Since(start)
	// The first stream's end against the last's shows how evenly the
	// proxy served them.
	fmt.Printf("bytes %d seconds %.3f MiB/s %.1f first_done %.3f\n", n, el.Seconds(), float64(n)/el.Seconds()/(1<<20), firstDone.Seconds())
	return nil
}

func sendOne(addr string, n int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	for sent := int64(0); sent < n; {
		k := min(int64(len(buf)), n-sent)
		w, err := c.Write(buf[:k])
		sent += int64(w)
		if err != nil {
			return err
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c) // the sink closes after reading everything
	return nil
}

func connrate(addr string, conc int, d time.Duration) error {
	r := benchtool.Loop(conc, d, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if tc, isTCP := c.(*net.TCPConn); isTCP {
			_ = tc.SetLinger(0) // RST: avoid exhausting ports with TIME_WAIT
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte{'x'}); err != nil {
			return err
		}
		_, err = io.ReadFull(c, make([]byte, 1))
		return err
	})
	if r.OK == 0 {
		return fmt.Errorf("no connection succeeded: %v", r.First)
	}
	fmt.Println(r.Line("conns"))
	return nil
}

// onlyReader hides a connection's WriteTo so that io.CopyBuffer uses the
// buffer it is given.
type onlyReader struct{ io.Reader }
