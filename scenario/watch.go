package scenario

import (
	"context"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSSample is one look at a watched name through the resolver: what a
// client there was answered and how long the resolver will keep it.
type DNSSample struct {
	T      float64 `json:"t"` // seconds since the load started
	Name   string  `json:"name"`
	Region string  `json:"region,omitempty"`
	Answer string  `json:"answer"` // the addresses, sorted, space-separated; an rcode when none
	TTL    int     `json:"ttl"`    // seconds left, as the resolver answered
	Err    string  `json:"error,omitempty"`
}

// Key is the lane the sample belongs to.
func (s DNSSample) Key() string {
	if s.Region == "" {
		return s.Name
	}
	return s.Name + " (" + s.Region + ")"
}

// watcher asks the resolver for each watched name every Every until ctx
// ends; the samples are read after it has returned.
type watcher struct {
	resolver string
	watch    []Watch
	every    time.Duration
	since    func() time.Duration
	samples  []DNSSample
}

func (w *watcher) run(ctx context.Context) {
	if len(w.watch) == 0 || w.resolver == "" {
		return
	}
	every := w.every
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, wt := range w.watch {
			s := resolveOnce(ctx, w.resolver, wt.Name, regionSource(wt.Region, 99))
			s.T, s.Region = w.since().Seconds(), wt.Region
			if ctx.Err() != nil {
				return
			}
			w.samples = append(w.samples, s)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// regionSource is host n of a region's client network; nil for "".
func regionSource(region string, n byte) net.IP {
	oct, ok := Regions[region]
	if !ok {
		return nil
	}
	return net.IPv4(127, 0, byte(oct), n)
}

// resolveOnce asks the resolver for name's A records from src (nil: any).
func resolveOnce(ctx context.Context, resolver, name string, src net.IP) DNSSample {
	s := DNSSample{Name: strings.TrimSuffix(name, ".")}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: 2 * time.Second}
	if src != nil {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: src}, Timeout: 2 * time.Second}
	}
	r, _, err := c.ExchangeContext(ctx, m, resolver)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	var addrs []string
	s.TTL = -1
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
			if s.TTL < 0 || int(a.Hdr.Ttl) < s.TTL {
				s.TTL = int(a.Hdr.Ttl)
			}
		}
	}
	s.TTL = max(s.TTL, 0)
	sort.Strings(addrs)
	s.Answer = strings.Join(addrs, " ")
	if s.Answer == "" {
		s.Answer = dns.RcodeToString[r.Rcode]
	}
	return s
}
