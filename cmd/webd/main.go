// Command webd starts one or more sample web servers: each answers with its
// id and version and has knobs to rehearse failures behind a load balancer.
//
//	webd --listen 127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003 --id b1,b2,b3 --version v1
//	webd --count 3 --base-port 9001 --latency 20ms --jitter 10ms
//
// SIGTERM or SIGINT shuts every server down gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"netsim/internal/cli"
	"netsim/internal/webd"
)

type config struct {
	listen    string
	ids       string
	versions  string
	count     int
	host      string
	basePort  int
	latency   time.Duration
	jitter    time.Duration
	errorRate float64
	unhealthy bool
	hang      bool
	capacity  int64
	seed      uint64
	token     string
	drain     time.Duration
	h2c       bool
	logFormat string
	logLevel  string
}

func main() { cli.Main(newRoot()) }

// newRoot is the webd command: its flags describe the servers to start.
func newRoot() *cobra.Command {
	var c config
	root := cli.Root("webd", "sample web servers with latency, error and health knobs (SIGTERM drains and exits)",
		func(*cobra.Command) error { return run(c) })
	root.Example = "  webd --listen 127.0.0.1:9001,127.0.0.1:9002 --id b1,b2 --version v1\n" +
		"  webd --count 3 --base-port 9001 --latency 20ms --jitter 10ms"
	fs := root.Flags()
	fs.StringVar(&c.listen, "listen", "", "comma-separated listen addresses, one server each (overrides --count/--base-port)")
	fs.StringVar(&c.ids, "id", "", "comma-separated server ids (default b1, b2, …)")
	fs.StringVar(&c.versions, "version", "v1", "version reported; one for all or comma-separated per server")
	fs.IntVar(&c.count, "count", 1, "number of servers when --listen is not given")
	fs.StringVar(&c.host, "host", "127.0.0.1", "address for --count servers")
	fs.IntVar(&c.basePort, "base-port", 9001, "first port for --count servers")
	fs.DurationVar(&c.latency, "latency", 0, "added latency per request")
	fs.DurationVar(&c.jitter, "jitter", 0, "extra random latency in [0, jitter)")
	fs.Float64Var(&c.errorRate, "error-rate", 0, "fraction 0..1 of requests answered 500")
	fs.BoolVar(&c.unhealthy, "unhealthy", false, "start with /healthz failing (503)")
	fs.BoolVar(&c.hang, "hang", false, "start with requests hanging")
	fs.Int64Var(&c.capacity, "capacity", 100, "in-flight requests that count as 100% load in /load")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed for jitter and errors (0: random); server i uses seed+i")
	fs.StringVar(&c.token, "admin-token", os.Getenv("WEBD_ADMIN_TOKEN"), "bearer token required by POST /admin/config (env WEBD_ADMIN_TOKEN; empty: open)")
	fs.DurationVar(&c.drain, "drain-timeout", 30*time.Second, "how long in-flight requests get to finish at shutdown")
	fs.BoolVar(&c.h2c, "h2c", false, "also serve HTTP/2 without TLS")
	cli.LogFlags(fs, &c.logFormat, &c.logLevel)
	return root
}

func run(c config) error {
	opts, addrs, err := c.servers()
	if err != nil {
		return err
	}
	return cli.WithLogger(c.logFormat, c.logLevel, func(log *zap.Logger) error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		g, gctx := errgroup.WithContext(ctx)
		for i := range opts {
			opts[i].Log = log
			s := webd.New(opts[i])
			addr := addrs[i]
			g.Go(func() error {
				err := s.ListenAndServe(gctx, addr, nil)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", s.ID(), addr, err)
				}
				return nil
			})
		}
		return g.Wait()
	})
}

// servers turns the flags into one Options and address per server.
func (c *config) servers() ([]webd.Options, []string, error) {
	var addrs []string
	if c.listen != "" {
		for a := range strings.SplitSeq(c.listen, ",") {
			a = strings.TrimSpace(a)
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, nil, fmt.Errorf("--listen %q: %v", a, err)
			}
			addrs = append(addrs, a)
		}
	} else {
		if c.count < 1 || c.count > 1000 {
			return nil, nil, fmt.Errorf("--count must be 1..1000, got %d", c.count)
		}
		if c.basePort < 0 || c.basePort+c.count-1 > 65535 || (c.basePort == 0 && c.count > 1) {
			return nil, nil, fmt.Errorf("--base-port %d with --count %d leaves the port range", c.basePort, c.count)
		}
		for i := range c.count {
			port := c.basePort + i
			if c.basePort == 0 {
				port = 0
			}
			addrs = append(addrs, net.JoinHostPort(c.host, strconv.Itoa(port)))
		}
	}
	n := len(addrs)
	ids := cli.List(c.ids)
	if len(ids) == 0 {
		for i := range n {
			ids = append(ids, "b"+strconv.Itoa(i+1))
		}
	}
	if len(ids) != n {
		return nil, nil, fmt.Errorf("--id has %d ids for %d servers", len(ids), n)
	}
	versions := cli.List(c.versions)
	switch len(versions) {
	case 0:
		return nil, nil, errors.New("--version must not be empty")
	case 1:
		for len(versions) < n {
			versions = append(versions, versions[0])
		}
	case n:
	default:
		return nil, nil, fmt.Errorf("--version has %d versions for %d servers: give one or %d", len(versions), n, n)
	}
	if c.latency < 0 || c.latency > webd.MaxDelay || c.jitter < 0 || c.jitter > webd.MaxDelay {
		return nil, nil, fmt.Errorf("--latency and --jitter must be 0..%s", webd.MaxDelay)
	}
	if !(c.errorRate >= 0 && c.errorRate <= 1) {
		return nil, nil, fmt.Errorf("--error-rate must be between 0 and 1, got %v", c.errorRate)
	}
	if c.capacity < 1 {
		return nil, nil, fmt.Errorf("--capacity must be at least 1, got %d", c.capacity)
	}
	seen := map[string]bool{}
	opts := make([]webd.Options, n)
	for i := range n {
		if seen[ids[i]] {
			return nil, nil, fmt.Errorf("--id %q given twice", ids[i])
		}
		seen[ids[i]] = true
		o := webd.Options{
			ID: ids[i], Version: versions[i],
			Latency: c.latency, Jitter: c.jitter, ErrorRate: c.errorRate,
			Unhealthy: c.unhealthy, Hang: c.hang, Capacity: c.capacity,
			AdminToken: c.token, DrainTimeout: c.drain, H2C: c.h2c,
		}
		if c.seed != 0 {
			o.Rand = rand.NewPCG(c.seed+uint64(i), 0x9e3779b97f4a7c15)
		}
		opts[i] = o
	}
	return opts, addrs, nil
}
