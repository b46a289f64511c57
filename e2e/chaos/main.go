// Command chaos runs one fault of the chaos suite (e2e/chaos.sh) against a
// running netsim: it sends HTTP load with netsim's own generator
// (scenario.Generator) and DNS load to the resolver, runs the fault command
// and the heal command at the given times (nft rules, the control API's
// part kill, SIGHUP: from outside the daemons), and prints one table row per
// kind of traffic: sent, failed, served stale, outage, recovery, p99. It
// exits 1 when a row misses its expectation, 2 when it could not run.
//
//	go run ./e2e/chaos --name "backend crash" --duration 15s \
//	    --http-rate 200 --fault-at 3s --fault 'part b2 killed' --heal-at 9s --heal 'part b2 running' \
//	    --http-max-failed 0
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"netsim/internal/cli"
	"netsim/internal/tick"
	"netsim/scenario"
)

func main() { os.Exit(run()) }

// options are the command line.
type options struct {
	name     string
	duration time.Duration
	table    string
	records  string

	httpTarget, httpResolver string
	httpRate                 float64
	httpClients              int
	httpRegions              string
	httpTimeout              time.Duration
	httpLim                  limits

	dnsResolver, dnsNames, dnsRandom, dnsFrom string
	dnsRate                                   float64
	dnsTimeout, staleTTL                      time.Duration
	dnsLim                                    limits

	fault, heal     string
	faultAt, healAt time.Duration
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&o.name, "name", "", "the fault, as the table names it")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "how long the load runs")
	fs.StringVar(&o.records, "records", "", "write every request and query to this file (JSON Lines: traffic, at_s, latency_ms, failed, stale, what, why)")
	fs.StringVar(&o.table, "table", "", "append the rows to this file (a Markdown table; the header goes first into an empty file)")
	fs.StringVar(&o.httpTarget, "http-target", "http://127.0.0.1:8080/", "URL of the HTTP load (GET, an idempotent request)")
	fs.StringVar(&o.httpResolver, "http-resolver", "127.0.0.1:1053", "resolver for the target's name")
	fs.Float64Var(&o.httpRate, "http-rate", 0, "HTTP requests per second (0: no HTTP load)")
	fs.IntVar(&o.httpClients, "http-clients", 20, "simulated browsers, each with its own connections")
	fs.StringVar(&o.httpRegions, "http-regions", "", "comma-separated regions the clients stand in (eu, na, as: source 127.0.10.x, …)")
	fs.DurationVar(&o.httpTimeout, "http-timeout", 10*time.Second, "one request's limit")
	fs.IntVar(&o.httpLim.maxFailed, "http-max-failed", -1, "expect at most this many failed requests (-1: not checked)")
	fs.DurationVar(&o.httpLim.maxP99, "http-max-p99", 0, "expect HTTP p99 latency at most this (0: not checked)")
	fs.DurationVar(&o.httpLim.maxOutage, "http-max-outage", 0, "expect the last failed request during the fault at most this long after it began (0: not checked)")
	fs.StringVar(&o.dnsResolver, "dns-resolver", "127.0.0.1:1053", "the resolver the DNS load asks")
	fs.Float64Var(&o.dnsRate, "dns-rate", 0, "DNS queries per second (0: no DNS load)")
	fs.StringVar(&o.dnsNames, "dns-names", "www.example.test,canary.example.test", "comma-separated names asked in turn (type A)")
	fs.StringVar(&o.dnsRandom, "dns-random", "", "a wildcard zone: every other query asks a new name below it (a cache miss)")
	fs.StringVar(&o.dnsFrom, "dns-from", "127.0.0.1,127.0.10.9,127.0.20.9", "comma-separated source addresses, in turn")
	fs.DurationVar(&o.dnsTimeout, "dns-timeout", 5*time.Second, "one query's limit (one try, no retry)")
	fs.DurationVar(&o.staleTTL, "stale-ttl", 30*time.Second, "the resolver's stale_answer_ttl: an answer with exactly this TTL counts stale (0: only EDE 3 does)")
	fs.IntVar(&o.dnsLim.maxFailed, "dns-max-failed", -1, "expect at most this many failed queries (-1: not checked)")
	fs.IntVar(&o.dnsLim.minStale, "dns-min-stale", 0, "expect at least this many stale answers")
	fs.DurationVar(&o.dnsLim.maxP99, "dns-max-p99", 0, "expect DNS p99 latency at most this (0: not checked)")
	fs.DurationVar(&o.dnsLim.maxOutage, "dns-max-outage", 0, "expect the last failed or stale answer during the fault at most this long after it began (0: not checked)")
	fs.StringVar(&o.fault, "fault", "", "shell command (bash -c) that makes the fault")
	fs.DurationVar(&o.faultAt, "fault-at", 3*time.Second, "when the fault command runs, after the load starts")
	fs.StringVar(&o.heal, "heal", "", "shell command that ends the fault (empty: the fault ends when its command returns)")
	fs.DurationVar(&o.healAt, "heal-at", 0, "when the heal command runs, after the load starts")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.name == "":
		return o, fmt.Errorf("--name is required")
	case o.httpRate <= 0 && o.dnsRate <= 0:
		return o, fmt.Errorf("--http-rate %v and --dns-rate %v: at least one must be positive", o.httpRate, o.dnsRate)
	case o.heal != "" && o.healAt < o.faultAt:
		return o, fmt.Errorf("--heal-at %v is before --fault-at %v; want it after", o.healAt, o.faultAt)
	case o.fault != "" && o.faultAt >= o.duration:
		return o, fmt.Errorf("--fault-at %v is past --duration %v; want it inside the load", o.faultAt, o.duration)
	}
	return o, nil
}

func run() int {
	o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	from, err := addrs(o.dnsFrom)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: --dns-from:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var mu sync.Mutex
	var httpS, dnsS []sample
	start := time.Now().Add(100 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	if o.httpRate > 0 {
		g := &scenario.Generator{
			Load: scenario.Load{Rate: o.httpRate, Duration: o.duration, Clients: o.httpClients, Regions: cli.List(o.httpRegions),
				KeepAlive: true, Method: "GET", Target: o.httpTarget, Resolver: o.httpResolver, Timeout: o.httpTimeout},
			Target: o.httpTarget,
			Sink: func(r scenario.Record) {
				s := sample{at: r.At(), latency: r.Latency(), failed: !r.OK(), what: r.Client, why: r.Cause + " " + r.Code + " " + r.Error}
				mu.Lock()
				httpS = append(httpS, s)
				mu.Unlock()
			},
		}
		wg.Go(func() { errs <- g.Run(ctx, start) })
	}
	if o.dnsRate > 0 {
		l := &dnsLoad{Resolver: o.dnsResolver, Rate: o.dnsRate, Duration: o.duration, Timeout: o.dnsTimeout,
			Names: cli.List(o.dnsNames), Random: o.dnsRandom, From: from, StaleTTL: uint32(o.staleTTL / time.Second),
			Sink: func(s sample) {
				mu.Lock()
				dnsS = append(dnsS, s)
				mu.Unlock()
			}}
		wg.Go(func() { errs <- l.Run(ctx, start) })
	}
	fault, heal := time.Duration(-1), time.Duration(-1)
	if o.fault != "" {
		wg.Go(func() {
			f, h, err := timeline(ctx, o, start)
			fault, heal = f, h
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	failed := false
	for err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", o.name+":", err)
			failed = true
		}
	}
	if failed {
		return 2
	}

	if o.records != "" {
		if err := writeRecords(o.records, map[string][]sample{"http": httpS, "dns": dnsS}); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
	}
	var rows []string
	for _, t := range []struct {
		name string
		ss   []sample
		lim  limits
	}{{"HTTP GET", httpS, o.httpLim}, {"DNS", dnsS, o.dnsLim}} {
		if len(t.ss) == 0 {
			continue
		}
		sum := summarize(t.name, t.ss, fault, heal)
		checks := judge(sum, t.lim)
		rows = append(rows, row(o.name, sum, checks))
		for _, c := range checks {
			failed = failed || !c.ok
		}
		for _, f := range sum.firstFailed {
			fmt.Printf("    %s failure: %s\n", t.name, f)
		}
	}
	for _, r := range rows {
		fmt.Println(r)
	}
	if o.table != "" {
		if err := appendLines(o.table, rows); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
	}
	if failed {
		return 1
	}
	return 0
}

// timeline runs the fault command at faultAt and the heal command at
// healAt. fault is when the fault command started, heal when the heal
// command returned (or, with none, when the fault command did).
func timeline(ctx context.Context, o options, start time.Time) (fault, heal time.Duration, err error) {
	if err := sleepUntil(ctx, start.Add(o.faultAt)); err != nil {
		return -1, -1, err
	}
	fault = time.Since(start)
	if err := shell(ctx, "fault", o.fault); err != nil {
		return -1, -1, err
	}
	heal = time.Since(start)
	if o.heal == "" {
		return fault, heal, nil
	}
	if err := sleepUntil(ctx, start.Add(o.healAt)); err != nil {
		return -1, -1, err
	}
	if err := shell(ctx, "heal", o.heal); err != nil {
		return -1, -1, err
	}
	return fault, time.Since(start), nil
}

func sleepUntil(ctx context.Context, t time.Time) error { return tick.Sleep(ctx, time.Until(t)) }

// shell runs cmd with bash, its output on ours.
func shell(ctx context.Context, what, cmd string) error {
	c := exec.CommandContext(ctx, "bash", "-c", cmd)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s command %q: %w", what, cmd, err)
	}
	return nil
}

func addrs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range cli.List(s) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", f)
		}
		out = append(out, a)
	}
	return out, nil
}

// writeRecords writes the samples as JSON Lines, for a failure's reproduction.
func writeRecords(path string, by map[string][]sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for traffic, ss := range by {
		for _, s := range ss {
			_ = enc.Encode(map[string]any{"traffic": traffic, "at_s": s.at.Seconds(), "latency_ms": float64(s.latency) / float64(time.Millisecond),
				"failed": s.failed, "stale": s.stale, "what": s.what, "why": s.why})
		}
	}
	werr := w.Flush()
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

func appendLines(path string, lines []string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		lines = append([]string{tableHead}, lines...)
	}
	_, werr := fmt.Fprintln(f, strings.Join(lines, "\n"))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
