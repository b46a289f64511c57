// Command scale is the load of `make scale-demo` (e2e/scale.sh). Run in a
// client's network namespace, it sends an open-loop load to a name through
// the demo's resolver with the scenarios' load generator (a new connection
// per request; on a failed connect it tries the next address of the DNS
// answer, as curl does), and beside it one sticky client (a cookie jar and
// a kept-alive connection). Part way it kills the lbd instance the sticky
// client is on, then reports what was lost and where the sticky client
// went. It exits 1 when a request failed, the sticky client did not move
// to another instance, or its backend changed.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"netsim/scenario"
)

type options struct {
	target, resolver string
	primary          string // GeoDNS server asked directly after the kill
	rate             float64
	duration         time.Duration
	clients          int
	killAfter        time.Duration
	signal           string
	pids             map[string]string // instance address → lbd pid
}

func main() {
	var o options
	fs := pflag.NewFlagSet("scale", pflag.ExitOnError)
	fs.StringVar(&o.target, "target", "http://www.example.test/", "URL; its host is resolved through --resolver")
	fs.StringVar(&o.resolver, "resolver", "198.18.0.53:53", "DNS resolver host:port")
	fs.StringVar(&o.primary, "primary", "198.18.0.1:53", "GeoDNS server asked after the kill until its answer leaves the killed instance out")
	fs.Float64Var(&o.rate, "rate", 200, "requests per second of the load (the sticky client adds 10)")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "how long the load runs")
	fs.IntVar(&o.clients, "clients", 16, "clients of the load")
	fs.DurationVar(&o.killAfter, "kill-after", 3*time.Second, "when the sticky client's lbd instance is killed")
	fs.StringVar(&o.signal, "signal", "TERM", "signal sent to it: TERM (lbd drains) or KILL")
	fs.StringToStringVar(&o.pids, "pid", nil, "lbd instances: address=pid, repeated")
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(2)
	}
	if !rep.print(os.Stdout) {
		os.Exit(1)
	}
}

// collector keeps the records of one generator.
type collector struct {
	mu   sync.Mutex
	recs []scenario.Record
}

func (c *collector) add(r scenario.Record) {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
}

// last is the instance (address, no port) of the latest successful record.
func (c *collector) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.recs) - 1; i >= 0; i-- {
		if c.recs[i].OK() && c.recs[i].Frontend != "" {
			return host(c.recs[i].Frontend)
		}
	}
	return ""
}

func host(hp string) string {
	h, _, err := net.SplitHostPort(hp)
	if err != nil {
		return hp
	}
	return h
}

func run(ctx context.Context, o options) (*report, error) {
	sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL}[o.signal]
	if sig == 0 {
		return nil, fmt.Errorf("--signal %q: want TERM or KILL", o.signal)
	}
	load := scenario.Load{Rate: o.rate, Duration: o.duration, Clients: o.clients, Method: "GET",
		Target: o.target, Resolver: o.resolver, Timeout: 5 * time.Second}
	sticky := load
	sticky.Rate, sticky.Clients, sticky.Cookies, sticky.KeepAlive = 10, 1, true, true
	var bulk, st collector
	gens := []*scenario.Generator{
		{Load: load, Target: o.target, Sink: bulk.add},
		{Load: sticky, Target: o.target, Sink: st.add},
	}
	rep := &report{signal: o.signal}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(gens))
	for i, g := range gens {
		wg.Go(func() { errs[i] = g.Run(ctx, start) })
	}
	select {
	case <-time.After(o.killAfter):
	case <-ctx.Done():
	}
	rep.killed = st.last()
	rep.killAt = time.Now()
	if pid, err := strconv.Atoi(o.pids[rep.killed]); err != nil {
		rep.killErr = fmt.Errorf("no pid for the sticky client's instance %q (--pid %v)", rep.killed, o.pids)
	} else if err := syscall.Kill(pid, sig); err != nil {
		rep.killErr = fmt.Errorf("kill -%s %d (lbd %s): %v", o.signal, pid, rep.killed, err)
	}
	if rep.killErr == nil {
		wg.Go(func() { rep.outAfter, rep.outErr = leftOut(ctx, o.primary, o.target, rep.killed, rep.killAt) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	rep.bulk, rep.sticky = bulk.recs, st.recs
	return rep, nil
}

// settle is how long after the kill signal the sticky client may still
// be served by the instance it was on.
const settle = time.Second

// report is what the run saw.
type report struct {
	signal       string
	killed       string
	killAt       time.Time
	killErr      error
	outAfter     time.Duration // GeoDNS answered without the killed instance this long after the kill
	outErr       error
	bulk, sticky []scenario.Record
}

// print writes the report and says whether the run passed.
func (r *report) print(w io.Writer) bool {
	ok := true
	if r.killErr != nil {
		fmt.Fprintln(w, "FAIL - kill:", r.killErr)
		ok = false
	} else {
		fmt.Fprintf(w, "killed lbd %s (SIG%s) under load\n", r.killed, r.signal)
	}
	failed, crashed, causes := 0, 0, map[string]int{}
	before, after := map[string]int{}, map[string]int{}
	for _, rec := range r.bulk {
		if !rec.OK() && r.inCrash(rec) {
			crashed++
			continue
		}
		if !rec.OK() {
			failed++
			causes[rec.Cause]++
			continue
		}
		if rec.Started.Before(r.killAt) {
			before[host(rec.Frontend)]++
		} else {
			after[host(rec.Frontend)]++
		}
	}
	fmt.Fprintf(w, "load: %d requests sent, %d failed %v; by instance before the kill %v, after %v\n", len(r.bulk), failed, causes, before, after)
	r.failures(w, r.bulk)
	if crashed > 0 {
		fmt.Fprintf(w, "  %d requests were on their way through %s when SIGKILL took it down: a crash loses them (a client that retries only a failed connect cannot get them back); not counted above\n", crashed, r.killed)
	}
	if failed > 0 || len(r.bulk) == 0 {
		ok = false
	}
	// The sticky client: every request on one backend; from a second after
	// the kill (a request sent as the signal lands is still served by the
	// draining instance on its kept-alive connection) on another instance.
	backends, sfailed := map[string]int{}, 0
	stBefore, stDuring, stAfter := map[string]int{}, map[string]int{}, map[string]int{}
	settled := r.killAt.Add(settle)
	for _, rec := range r.sticky {
		if !rec.OK() {
			sfailed++
			continue
		}
		backends[rec.Backend]++
		switch {
		case rec.Started.Before(r.killAt):
			stBefore[host(rec.Frontend)]++
		case rec.Started.Before(settled):
			stDuring[host(rec.Frontend)]++
		default:
			stAfter[host(rec.Frontend)]++
		}
	}
	fmt.Fprintf(w, "sticky client: %d requests, %d failed; instances before the kill %v, in the %v after it %v, then %v; backends %v\n",
		len(r.sticky), sfailed, stBefore, settle, stDuring, stAfter, backends)
	moved := len(stAfter) > 0 && stAfter[r.killed] == 0
	switch {
	case sfailed > 0:
		fmt.Fprintln(w, "FAIL - the sticky client lost requests")
		ok = false
	case len(backends) != 1:
		fmt.Fprintln(w, "FAIL - the sticky client changed backend")
		ok = false
	case !moved:
		fmt.Fprintln(w, "FAIL - the sticky client did not move off the killed instance")
		ok = false
	default:
		for b := range backends {
			fmt.Fprintf(w, "ok   - the sticky client moved off %s and kept backend %s\n", r.killed, b)
		}
	}
	if r.outErr != nil {
		fmt.Fprintln(w, "FAIL - GeoDNS:", r.outErr)
		ok = false
	} else if r.killErr == nil {
		fmt.Fprintf(w, "ok   - GeoDNS left %s out of its answers %v after the kill\n", r.killed, r.outAfter.Round(10*time.Millisecond))
	}
	if failed == 0 && len(r.bulk) > 0 {
		fmt.Fprintf(w, "ok   - no request of the load lost (%d sent)\n", len(r.bulk))
	}
	return ok
}

// inCrash: rec failed on the instance SIGKILL took down, sent before the
// kill had taken effect (within settle of the signal): it was connected
// there when the process died. SIGTERM drains: nothing is excused then.
func (r *report) inCrash(rec scenario.Record) bool {
	return r.signal == "KILL" && host(rec.Frontend) == r.killed && rec.Started.Before(r.killAt.Add(settle))
}

// failures writes the first few failed requests: when each started
// relative to the kill, the instance it reached, and the error.
func (r *report) failures(w io.Writer, recs []scenario.Record) {
	n := 0
	for _, rec := range recs {
		if rec.OK() {
			continue
		}
		if n++; n > 5 {
			fmt.Fprintln(w, "  …")
			return
		}
		fmt.Fprintf(w, "  failed: started %+dms from the kill, instance %q, %s: %s\n",
			rec.Started.Sub(r.killAt).Milliseconds(), host(rec.Frontend), rec.Cause, rec.Error)
	}
}
