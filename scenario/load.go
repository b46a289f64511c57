package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Generator is the built-in load: an open loop that sends request i at
// start + i/rate whatever happened to the ones before (no coordinated
// omission: latency counts from that intended time), from Clients clients
// standing in the load's regions. It stops by itself after Duration, or,
// when End is set, goes on at the same rate past Duration until the end
// End gives once it knows it (at most Extra longer).
type Generator struct {
	Load   Load
	Target string // URL; from Load.Target or the stack's frontend
	Sink   func(Record)
	Now    func() time.Time // nil: time.Now
	// End is when the load may stop, once known (ok false: not yet);
	// nil: at Duration. Requests meant for before it are sent.
	End   func() (end time.Time, ok bool)
	Extra time.Duration // the most the load goes on past Duration waiting for End

	stalls *stallClock
}

// Stalls are the moments the generator's process got no CPU for a second
// or more (a starved machine), once Run has returned.
func (g *Generator) Stalls() []Stall {
	if g.stalls == nil {
		return nil
	}
	return g.stalls.Stalls()
}

// more reports whether request i, meant for intended, is part of the
// load: before Duration always, after it while End has not passed.
func (g *Generator) more(i, total int, intended time.Time, start time.Time) bool {
	if i < total {
		return true
	}
	if g.End == nil || intended.Sub(start) >= g.Load.Duration+g.Extra {
		return false
	}
	end, ok := g.End()
	return !ok || intended.Before(end)
}

// client is one simulated browser: a source address, its own connections
// and, when asked, its own cookie jar.
type client struct {
	name   string
	region string
	src    net.IP
	http   *http.Client
}

func (g *Generator) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// clients builds the load's clients. Client i of regions [eu na] stands in
// eu at 127.0.10.(100+i/2), the next in na at 127.0.20.(100+i/2), and so on.
func (g *Generator) clients() []*client {
	n := max(g.Load.Clients, 1)
	out := make([]*client, n)
	for i := range out {
		c := &client{name: fmt.Sprintf("c%d", i+1)}
		if len(g.Load.Regions) > 0 {
			c.region = g.Load.Regions[i%len(g.Load.Regions)]
			c.src = net.IPv4(127, 0, byte(Regions[c.region]), byte(100+(i/len(g.Load.Regions))%150))
			c.name = c.src.String()
		}
		tr := &http.Transport{
			Proxy:               nil,
			DialContext:         g.dialer(c),
			DisableKeepAlives:   !g.Load.KeepAlive,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}
		c.http = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if g.Load.Cookies {
			c.http.Jar, _ = cookiejar.New(nil)
		}
		out[i] = c
	}
	return out
}

// dnsError is a name the resolver could not resolve.
type dnsError struct{ msg string }

func (e *dnsError) Error() string { return e.msg }

// dialer resolves the host through the load's resolver (from the client's
// own address, as a browser in that region would) and tries each address
// of the answer in turn until one accepts.
func (g *Generator) dialer(c *client) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if c.src != nil {
		d.LocalAddr = &net.TCPAddr{IP: c.src}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips := []string{host}
		if net.ParseIP(host) == nil && g.Load.Resolver != "" {
			if ips, err = g.lookup(ctx, c, host); err != nil {
				return nil, err
			}
		}
		var first error
		for _, ip := range ips {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
			if err == nil {
				return conn, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}

func (g *Generator) lookup(ctx context.Context, c *client, host string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(host), dns.TypeA)
	dc := &dns.Client{Timeout: 2 * time.Second}
	if c.src != nil {
		dc.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: c.src}, Timeout: 2 * time.Second}
	}
	r, _, err := dc.ExchangeContext(ctx, m, g.Load.Resolver)
	if err != nil {
		return nil, &dnsError{fmt.Sprintf("resolving %s through %s: %v", host, g.Load.Resolver, err)}
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	if len(ips) == 0 {
		return nil, &dnsError{fmt.Sprintf("resolving %s through %s: %s, no address", host, g.Load.Resolver, dns.RcodeToString[r.Rcode])}
	}
	return ips, nil
}

// Run sends the load and returns when every request has ended, or early
// when ctx is cancelled (requests in flight then end as cancelled).
func (g *Generator) Run(ctx context.Context, start time.Time) error {
	if g.Load.Rate <= 0 || g.Load.Duration <= 0 {
		return fmt.Errorf("load: rate %v and duration %v must both be positive", g.Load.Rate, g.Load.Duration)
	}
	if _, err := url.Parse(g.Target); err != nil {
		return fmt.Errorf("load: target %q: %v", g.Target, err)
	}
	cs := g.clients()
	defer func() {
		for _, c := range cs {
			c.http.CloseIdleConnections()
		}
	}()
	total := int(g.Load.Rate * g.Load.Duration.Seconds())
	var sem chan struct{}
	if g.Load.Concurrency > 0 {
		sem = make(chan struct{}, g.Load.Concurrency)
	}
	g.stalls = newStallClock(start, g.now)
	stallCtx, stopStalls := context.WithCancel(context.Background())
	var beat sync.WaitGroup
	beat.Add(1)
	go func() { defer beat.Done(); g.stalls.run(stallCtx) }()
	defer beat.Wait()
	defer stopStalls()
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		intended := start.Add(time.Duration(float64(i) / g.Load.Rate * float64(time.Second)))
		if i >= total && (g.End == nil || intended.Sub(start) >= g.Load.Duration+g.Extra) {
			return nil
		}
		if d := intended.Sub(g.now()); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !g.more(i, total, intended, start) {
			return nil
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			rec := g.one(ctx, c, i, start, intended)
			if g.Sink != nil {
				g.Sink(rec)
			}
		}(i, cs[i%len(cs)])
	}
}

// errNoAnswer cancels a request whose timeout ran out.
var errNoAnswer = errors.New("no answer within the load's timeout")

// one sends request i and records what happened.
func (g *Generator) one(ctx context.Context, c *client, i int, start, intended time.Time) Record {
	rec := Record{Seq: i, T: intended.Sub(start).Seconds(), Intended: intended, Started: g.now(), Client: c.name, Region: c.region}
	// The timeout counts time the client could run: a starved process
	// (see stallClock) gets its stall back, so a request is not charged
	// to the stack for the seconds nobody read its answer.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop, extended := g.stalls.deadline(g.Load.Timeout, func() { cancel(errNoAnswer) })
	defer stop()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if a := info.Conn.RemoteAddr(); a != nil {
			rec.Frontend = a.String()
			rec.Resolved, _, _ = net.SplitHostPort(a.String())
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), g.Load.Method, g.Target, nil)
	if err != nil {
		rec.Cause, rec.Error = "other", err.Error()
		return rec
	}
	resp, err := c.http.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	rec.LatencyMS = float64(g.now().Sub(intended).Microseconds()) / 1000
	stop()
	rec.StalledMS = float64(extended().Microseconds()) / 1000
	if err != nil && errors.Is(context.Cause(ctx), errNoAnswer) {
		err = fmt.Errorf("no answer within %v (%w): %w", g.Load.Timeout, context.DeadlineExceeded, err)
	}
	if resp != nil {
		rec.Status = resp.StatusCode
		rec.Backend = resp.Header.Get("X-Backend-Id")
		if rec.Backend == "" {
			rec.Backend = resp.Header.Get("X-LB-Backend")
		}
		rec.Version = resp.Header.Get("X-Backend-Version")
	}
	classify(&rec, resp, body, err)
	return rec
}
