package labs

import (
	"context"
	"fmt"

	"github.com/miekg/dns"
)

// longTTL is what ttl-too-long sets: a day (the resolver's max_ttl).
const longTTL = 86400

// breakTTL raises web.example.test's TTL to a day, lets a client ask for
// it through the resolver (the answer is now cached for a day), then moves
// the record to another address.
func breakTTL(ctx context.Context, e *Env, b *Broken) error {
	was, err := e.neededRRset(ctx, "example.test.", "web", "A", "ttl-too-long moves the demo zone's")
	if err != nil {
		return err
	}
	if err := e.changeRRset(ctx, b, RRset{Zone: "example.test.", Name: "web", Type: "A", TTL: longTTL, Data: was.Data}); err != nil {
		return err
	}
	if err := e.flush(ctx, "web.example.test."); err != nil {
		return err
	}
	r, err := Query(ctx, e.Resolver, "web.example.test.", dns.TypeA, true, "")
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return fmt.Errorf("the resolver answered web.example.test A with %s and %d records; want the address, to cache", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	fmt.Fprintf(e.Out, "  a client asked the resolver: %s (cached for a day)\n", r.Answer[0].String())
	return e.changeRRset(ctx, b, RRset{Zone: "example.test.", Name: "web", Type: "A", TTL: longTTL, Data: []string{"127.0.0.2"}})
}
