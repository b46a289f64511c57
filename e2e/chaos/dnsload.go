package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// dnsLoad is an open loop of DNS queries to one resolver: query i goes out
// at start + i/Rate whatever happened to the ones before, and its latency
// counts from that intended time (no coordinated omission), as netsim's
// HTTP load generator does (scenario.Generator).
type dnsLoad struct {
	Resolver string        // host:port
	Rate     float64       // queries per second
	Duration time.Duration // how long the loop sends
	Timeout  time.Duration // one try; past it the query failed
	Names    []string      // asked in turn (type A)
	// Random, when set, is a zone whose wildcard answers every name: every
	// other query asks a fresh name below it, a cache miss that the
	// resolver must take to the authoritative servers.
	Random string
	From   []netip.Addr // source addresses, in turn (empty: the kernel's choice)
	// StaleTTL is the TTL the resolver gives answers served stale (RFC 8767
	// §4, stale_answer_ttl); an answer carrying exactly it for a name whose
	// records live shorter is counted stale even without an EDE code 3.
	StaleTTL uint32
	Sink     func(sample)
}

// Run sends the load and returns once every query has ended (or ctx ends).
func (l *dnsLoad) Run(ctx context.Context, start time.Time) error {
	if l.Rate <= 0 || l.Duration <= 0 {
		return fmt.Errorf("dns load: rate %v and duration %v must both be positive", l.Rate, l.Duration)
	}
	if len(l.Names) == 0 && l.Random == "" {
		return fmt.Errorf("dns load: no names to ask (--dns-names or --dns-random)")
	}
	total := int(l.Rate * l.Duration.Seconds())
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range total {
		intended := start.Add(time.Duration(float64(i) / l.Rate * float64(time.Second)))
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Sink(l.one(ctx, i, start, intended))
		}()
	}
	return nil
}

// name is the name query i asks: with Random set, every other query asks a
// name never asked before.
func (l *dnsLoad) name(i int) string {
	if l.Random != "" && (len(l.Names) == 0 || i%2 == 1) {
		return fmt.Sprintf("q%d-%d.%s", i, time.Now().UnixNano()%1e6, dns.Fqdn(l.Random))
	}
	return dns.Fqdn(l.Names[i%len(l.Names)])
}

func (l *dnsLoad) one(ctx context.Context, i int, start, intended time.Time) sample {
	name := l.name(i)
	s := sample{at: intended.Sub(start), what: name}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: l.Timeout}
	if len(l.From) > 0 {
		src := l.From[i%len(l.From)]
		c.Dialer = &net.Dialer{Timeout: l.Timeout, LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		s.what = name + " from " + src.String()
	}
	r, _, err := c.ExchangeContext(ctx, m, l.Resolver)
	s.latency = time.Since(intended)
	switch {
	case err != nil:
		s.failed, s.why = true, "no answer: "+err.Error()
	case r.Rcode != dns.RcodeSuccess:
		s.failed, s.why = true, dns.RcodeToString[r.Rcode]+ede(r)
	case len(r.Answer) == 0:
		s.failed, s.why = true, "NOERROR without an answer"+ede(r)
	default:
		s.stale = l.isStale(r)
	}
	return s
}

// isStale: the answer carries EDE 3 (Stale Answer, RFC 8914), or every
// record carries exactly the stale TTL.
func (l *dnsLoad) isStale(r *dns.Msg) bool {
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok && e.InfoCode == dns.ExtendedErrorCodeStaleAnswer {
				return true
			}
		}
	}
	if l.StaleTTL == 0 {
		return false
	}
	for _, rr := range r.Answer {
		if rr.Header().Ttl != l.StaleTTL {
			return false
		}
	}
	return true
}

// ede is the answer's Extended DNS Errors, for a failure's description.
func ede(r *dns.Msg) string {
	o := r.IsEdns0()
	if o == nil {
		return ""
	}
	out := ""
	for _, opt := range o.Option {
		if e, ok := opt.(*dns.EDNS0_EDE); ok {
			out += fmt.Sprintf(" (EDE %d %s: %s)", e.InfoCode, dns.ExtendedErrorCodeToString[e.InfoCode], e.ExtraText)
		}
	}
	return out
}
