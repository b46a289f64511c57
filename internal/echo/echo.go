// Package echo is a TCP sample backend for the L4 load balancer: it greets
// each connection with its id ("e1 ready") and echoes every line back
// prefixed with the id, so `nc` through the proxy shows which backend it
// reached.
package echo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"netsim/internal/listen"
)

// Server is one echo backend.
type Server struct {
	ID string
	// Idle closes a connection with no line for this long (0: 5 minutes).
	Idle time.Duration
}

// ListenAndServe serves addr until ctx ends, then closes every connection.
// ready, if set, gets the bound address.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	return listen.AndServe(ctx, addr, ready, s.Serve)
}

// Serve accepts on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	idle := s.Idle
	if idle <= 0 {
		idle = 5 * time.Minute
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); c.Close() }()
			s.serveConn(c, idle)
		}()
	}
}

func (s *Server) serveConn(c net.Conn, idle time.Duration) {
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "%s ready\n", s.ID)
	if w.Flush() != nil {
		return
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idle))
		if !sc.Scan() {
			return
		}
		fmt.Fprintf(w, "%s: %s\n", s.ID, sc.Bytes())
		if w.Flush() != nil {
			return
		}
	}
}
