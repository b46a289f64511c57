package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/miekg/dns"
)

// leftOut asks server for the target's host every 50 ms until the answer
// no longer holds addr, and returns how long after since that took.
func leftOut(ctx context.Context, server, target, addr string, since time.Time) (time.Duration, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, fmt.Errorf("target %q: %v", target, err)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(u.Hostname()), dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	last := "no answer yet"
	for {
		if r, _, err := c.ExchangeContext(ctx, m, server); err == nil && len(r.Answer) > 0 {
			var in bool
			last = ""
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					in = in || a.A.String() == addr
					last += a.A.String() + " "
				}
			}
			if !in {
				return time.Since(since), nil
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			return 0, fmt.Errorf("%s still answers %s with %s15 s after the kill", server, u.Hostname(), last)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
