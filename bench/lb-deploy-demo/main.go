// Command lb-deploy-demo rehearses a rolling deploy behind lbd, in one
// process: three webd backends at v1 behind an lbd with the default pool
// settings, a steady load (default 200 requests/s for 30 s), and a deploy
// driven through lbd's admin REST API the way a script would drive it —
// for b1, b2, b3 in turn: drain, wait for in-flight 0, stop, start as v2,
// wait until healthy, undrain. It then measures how long a backend whose
// /healthz starts failing keeps getting traffic. It prints the counts.
//
//	go run ./bench/lb-deploy-demo
//	go run ./bench/lb-deploy-demo -rate 400 -duration 45s -interval 1s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"netsim/internal/api"
	"netsim/internal/listen"
	"netsim/internal/logging"
	"netsim/internal/webd"
	"netsim/lb"
)

func main() {
	rate := flag.Int("rate", 200, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "load duration (the deploy runs inside it)")
	interval := flag.Duration("interval", 2*time.Second, "health check interval (default config: 2s)")
	fall := flag.Int("fall", 3, "health check fall (default config: 3)")
	rise := flag.Int("rise", 2, "health check rise (default config: 2)")
	verbose := flag.Bool("v", false, "log lbd at info level")
	flag.DurationVar(&latency, "latency", 20*time.Millisecond, "backend latency (jitter up to the same again), so drains have work to wait for")
	flag.Parse()
	if err := run(*rate, *duration, *interval, *fall, *rise, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "deploy-demo:", err)
		os.Exit(1)
	}
}

var latency time.Duration

type backendProc struct {
	id   string
	addr string
	srv  *webd.Server
	halt func() error
}

func (b *backendProc) start(version, addr string) error {
	b.srv = webd.New(webd.Options{ID: b.id, Version: version, DrainTimeout: 10 * time.Second, Latency: latency, Jitter: latency})
	bound, halt, err := listen.Start(addr, b.srv.Serve)
	if err != nil {
		return err
	}
	b.addr, b.halt = bound.String(), halt
	return nil
}

func (b *backendProc) stop() { _ = b.halt() }

type counts struct {
	mu       sync.Mutex
	ok, fail int
	errs     map[string]int
	versions map[string]int
	last     map[string]time.Time // last response per backend
}

func run(rate int, duration, interval time.Duration, fall, rise int, verbose bool) error {
	level := "warn"
	if verbose {
		level = "info"
	}
	log, err := logging.New("console", level)
	if err != nil {
		return err
	}
	var bs []*backendProc
	for i := 1; i <= 3; i++ {
		b := &backendProc{id: fmt.Sprintf("b%d", i)}
		if err := b.start("v1", "127.0.0.1:0"); err != nil {
			return err
		}
		bs = append(bs, b)
	}
	cfg := lb.DefaultConfig()
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Frontends[0].Listen = "127.0.0.1:0"
	p := &cfg.Pools[0]
	p.Health.Interval, p.Health.Fall, p.Health.Rise = interval, fall, rise
	p.Health.Timeout = min(p.Health.Timeout, interval)
	for i, b := range bs {
		p.Backends[i].Address = b.addr
	}
	srv, err := lb.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-runErr:
		return err
	}
	front := "http://" + srv.Addr("http").String()
	admin := &adminClient{base: "http://" + srv.AdminAddr().String(), token: srv.AdminToken()}
	fmt.Printf("lbd on %s, admin on %s; backends %s %s %s; health interval %v fall %d rise %d\n",
		srv.Addr("http"), srv.AdminAddr(), bs[0].addr, bs[1].addr, bs[2].addr, interval, fall, rise)

	// Steady open-loop load: one request every 1/rate, each on its own
	// goroutine (bounded by the total count), over keep-alive connections.
	c := &counts{errs: map[string]int{}, versions: map[string]int{}, last: map[string]time.Time{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256}}
	total := int(duration.Seconds() * float64(rate))
	var wg sync.WaitGroup
	loadDone := make(chan struct{})
	var sent atomic.Int64
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; i < total; i++ {
			<-tick.C
			wg.Add(1)
			sent.Add(1)
			go func() {
				defer wg.Done()
				hit(client, front, c)
			}()
		}
		wg.Wait()
	}()

	start := time.Now()
	step := func(format string, args ...any) {
		fmt.Printf("%6.2fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	time.Sleep(2 * time.Second) // let the load settle before deploying
	for _, b := range bs {
		step("%s: drain", b.id)
		if err := admin.patch(b.id, `{"state":"draining"}`); err != nil {
			return err
		}
		v, err := admin.waitFor(b.id, 30*time.Second, func(v backendView) bool { return v.InFlight == 0 && v.DrainedAt != nil })
		if err != nil {
			return err
		}
		step("%s: in-flight 0 (drained at %s)", b.id, v.DrainedAt.Format("15:04:05.000"))
		addr := b.addr
		b.stop()
		step("%s: stopped; starting v2 on %s", b.id, addr)
		if err := b.start("v2", addr); err != nil {
			return err
		}
		restarted := time.Now()
		// Healthy as lbd sees it: a check of the new process passed.
		if _, err := admin.waitFor(b.id, 30*time.Second, func(v backendView) bool {
			return v.Healthy && v.LastCheckOK && v.LastCheckAt != nil && v.LastCheckAt.After(restarted)
		}); err != nil {
			return err
		}
		if err := waitHealthz(b.addr); err != nil {
			return err
		}
		step("%s: v2 healthy; undrain", b.id)
		if err := admin.patch(b.id, `{"state":"up"}`); err != nil {
			return err
		}
	}
	step("deploy done; load continues")
	<-loadDone
	c.mu.Lock()
	fmt.Printf("\nrolling deploy under %d req/s for %v: %d requests, %d ok, %d failed; answers by version %v\n",
		rate, duration, sent.Load(), c.ok, c.fail, c.versions)
	if len(c.errs) > 0 {
		fmt.Printf("errors: %v\n", c.errs)
	}
	c.mu.Unlock()
	for _, b := range bs {
		if v := b.srv.Version(); v != "v2" {
			return fmt.Errorf("%s still on %s", b.id, v)
		}
	}
	fmt.Println("all backends on v2")

	// Health-failure reaction: b2's /healthz starts failing; how long does
	// it keep getting requests?
	res := measureEjection(client, front, bs[1], rate, interval, fall)
	fmt.Println(res)
	cancel()
	if err := <-runErr; err != nil {
		return err
	}
	for _, b := range bs {
		b.stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		return fmt.Errorf("%d failed requests", c.fail)
	}
	return nil
}

func hit(client *http.Client, front string, c *counts) {
	resp, err := client.Get(front + "/")
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.fail++
		c.errs[err.Error()]++
		return
	}
	c.ok++
	id, ver, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
	c.versions[ver]++
	c.last[id] = time.Now()
}

func measureEjection(client *http.Client, front string, b *backendProc, rate int, interval time.Duration, fall int) string {
	c := &counts{errs: map[string]int{}, versions: map[string]int{}, last: map[string]time.Time{}}
	limit := interval*time.Duration(fall) + time.Second
	b.srv.SetHealthy(false)
	failedAt := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for time.Since(failedAt) < limit+2*time.Second {
		<-tick.C
		wg.Add(1)
		go func() { defer wg.Done(); hit(client, front, c) }()
	}
	wg.Wait()
	b.srv.SetHealthy(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.last[b.id]
	took := last.Sub(failedAt)
	verdict := "within"
	if took > limit {
		verdict = "OVER"
	}
	return fmt.Sprintf("%s's /healthz failing: last request reached it %v after the failure began (interval %v × fall %d + 1s = %v: %s target); %d failed requests meanwhile",
		b.id, took.Round(time.Millisecond), interval, fall, limit, verdict, c.fail)
}

type backendView struct {
	State       string     `json:"state"`
	Healthy     bool       `json:"healthy"`
	InFlight    int64      `json:"in_flight"`
	DrainedAt   *time.Time `json:"drained_at"`
	LastCheckAt *time.Time `json:"last_check_at"`
	LastCheckOK bool       `json:"last_check_ok"`
}

type adminClient struct{ base, token string }

func (a *adminClient) patch(id, body string) error {
	_, err := api.Call(context.Background(), http.DefaultClient, http.MethodPatch, a.base+"/api/v1/pools/web/backends/"+id, a.token,
		json.RawMessage(body), nil)
	return err
}

func (a *adminClient) get(id string) (backendView, error) {
	var env struct{ Data backendView }
	_, err := api.Call(context.Background(), http.DefaultClient, http.MethodGet, a.base+"/api/v1/pools/web/backends/"+id, "", nil, &env)
	return env.Data, err
}

func (a *adminClient) waitFor(id string, d time.Duration, cond func(backendView) bool) (backendView, error) {
	deadline := time.Now().Add(d)
	for {
		v, err := a.get(id)
		if err == nil && cond(v) {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("%s: condition not reached in %v (last %+v, %v)", id, d, v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitHealthz(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/healthz not OK: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
