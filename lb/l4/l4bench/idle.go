package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// idle opens n connections to addr, conc at a time; on each it makes one
// HTTP/1.1 keep-alive request and reads the response, then leaves it
// open and quiet. It prints "idle N open" once all are open (or how many
// failed) and holds them until ctx ends.
func idle(ctx context.Context, addr string, n, conc int) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var mu sync.Mutex
	var failed int
	var first error
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := openIdle(addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if first == nil {
					first = err
				}
				return
			}
			conns = append(conns, c)
		})
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("%d of %d connections failed, first: %w", failed, n, first)
	}
	fmt.Printf("idle %d open\n", len(conns))
	<-ctx.Done()
	return nil
}

func openIdle(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
		err = fmt.Errorf("answer %s (close %v); want 200 and keep-alive", resp.Status, resp.Close)
	}
	if err == nil && br.Buffered() > 0 {
		err = fmt.Errorf("%d bytes after the response", br.Buffered())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
