// Command echo-backends runs the TCP echo servers of the L4 demo
// (netsim/internal/echo, as cmd/netsim starts them) for e2e/lbd-tls.sh:
// e1..eN on 127.0.0.1:BASE..BASE+N-1. Each greets "<id> ready" and answers
// every line as "<id>: <line>". It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"netsim/internal/echo"
)

func main() {
	count := flag.Int("count", 3, "number of servers")
	base := flag.Int("base-port", 9101, "port of e1; e2 gets the next one, …")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, *count)
	for i := 1; i <= *count; i++ {
		id, addr := fmt.Sprintf("e%d", i), fmt.Sprintf("127.0.0.1:%d", *base+i-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := (&echo.Server{ID: id}).ListenAndServe(ctx, addr, func(a net.Addr) { fmt.Printf("%s listening on %s\n", id, a) })
			if err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", id, err)
				stop()
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, "echo-backends:", err)
		os.Exit(1)
	}
}
