package labs

import (
	"context"
	"fmt"
	"strings"
)

// Fault is one lab: what it teaches and how to make it.
type Fault struct {
	Name    string
	Teaches string
	// Symptom is what to try once it is broken (commands for people).
	Symptom string
	// Flush: the fault leaves answers in the resolver's cache, so break
	// flushes it (the fault shows at once) and so does fix.
	Flush bool
	// Break makes the fault, recording each change in b as it goes.
	Break func(ctx context.Context, e *Env, b *Broken) error
}

// Faults are the labs, in the order `break --list` shows them (the
// DNSSEC ones, dnssec.go, last).
func Faults() []Fault {
	return append([]Fault{
		{
			Name:    "lame-delegation",
			Teaches: "a delegation to a name server that does not serve the zone: it answers with a referral (no aa flag) and resolvers give SERVFAIL",
			Symptom: "dig @127.0.0.1 -p 1053 www.sub.example.test   # SERVFAIL\n" +
				"dig @127.0.3.1 -p 1053 www.sub.example.test +norec   # the NS named by the delegation: no aa, a referral to itself",
			Flush: true,
			Break: rrsetFault(RRset{Zone: "example.test.", Name: "sub", Type: "NS", Data: []string{"ns1.example.test."}}),
		},
		{
			Name:    "missing-glue",
			Teaches: "the IPv4 glue of a delegation is missing (only an IPv6 address the resolver cannot use is left): the name server lies inside the child zone, so its address can only be asked of the child itself",
			Symptom: "dig @127.0.0.1 -p 1053 www.sub.example.test   # SERVFAIL\n" +
				"dig @127.0.3.1 -p 1053 www.sub.example.test +norec   # the referral: NS ns1.sub.example.test, additional only AAAA fd00::53",
			Flush: true,
			Break: func(ctx context.Context, e *Env, b *Broken) error {
				// dnsd, like named-checkzone, refuses a delegation to an
				// in-zone name server with no address at all: the AAAA goes
				// in first, then the A goes
				if err := e.changeRRset(ctx, b, RRset{Zone: "example.test.", Name: "ns1.sub", Type: "AAAA", Data: []string{"fd00::53"}}); err != nil {
					return err
				}
				return rrsetFault(RRset{Zone: "example.test.", Name: "ns1.sub", Type: "A"})(ctx, e, b)
			},
		},
		{
			Name:    "wrong-glue",
			Teaches: "glue that gives the child's name server a wrong address: the referral looks right, but nothing answers there",
			Symptom: "dig @127.0.0.1 -p 1053 www.sub.example.test   # SERVFAIL\n" +
				"dig @127.0.3.1 -p 1053 www.sub.example.test +norec   # additional: ns1.sub.example.test A 127.0.4.99\n" +
				"dig @127.0.4.99 -p 1053 www.sub.example.test   # no server there",
			Flush: true,
			Break: rrsetFault(RRset{Zone: "example.test.", Name: "ns1.sub", Type: "A", Data: []string{"127.0.4.99"}}),
		},
		{
			Name:    "cname-loop",
			Teaches: "alias -> alias2 -> alias: a CNAME chain that never reaches an address; the authoritative server shows the loop, resolvers give SERVFAIL",
			Symptom: "dig @127.0.0.1 -p 1053 alias.example.test   # SERVFAIL\n" +
				"dig @127.0.3.1 -p 1053 alias.example.test +norec   # alias CNAME alias2, alias2 CNAME alias",
			Flush: true,
			Break: rrsetFault(RRset{Zone: "example.test.", Name: "alias2", Type: "CNAME", Data: []string{"alias.example.test."}}),
		},
		{
			Name:    "ttl-too-long",
			Teaches: "a record moved while caches hold it for a day: the authoritative servers give the new address, clients of the resolver the old one until the TTL runs out",
			Symptom: "dig @127.0.0.1 -p 1053 web.example.test   # 127.0.0.1, TTL about 86400: the cached, old answer\n" +
				"dig @127.0.3.1 -p 1053 web.example.test +norec   # 127.0.0.2: the new one",
			Flush: true,
			Break: breakTTL,
		},
		{
			Name:    "dead-backend",
			Teaches: "a web server that crashed (b2): health checks take it out of the pool after fall x interval; requests in that window fail or are retried",
			Symptom: "curl -s 127.0.0.1:9002/   # connection refused\n" +
				"curl -s 127.0.0.1:8404/api/v1/pools/web/backends/b2   # state down\n" +
				"for i in 1 2 3 4 5 6; do curl -s 127.0.0.1:8080/; done   # b1 and b3 only",
			Break: func(ctx context.Context, e *Env, b *Broken) error {
				return e.setPart(ctx, b, "b2", "killed", true)
			},
		},
		{
			Name:    "slow-backend",
			Teaches: "a web server that answers, but slowly (b3, +2s): it passes its health checks, so round robin keeps sending every third request to it",
			Symptom: "for i in 1 2 3; do curl -s -o /dev/null -w '%{time_total}s %header{x-lb-backend}\\n' 127.0.0.1:8080/; done   # one of three takes 2 s",
			Break: func(ctx context.Context, e *Env, b *Broken) error {
				return e.setKnobs(ctx, b, "b3", map[string]any{"latency": e.SlowLatency.String()}, false)
			},
		},
		{
			Name:    "flapping-health",
			Teaches: "a web server whose health check passes and fails by turns (b1, every 10 s): the balancer's rise and fall counts decide how often it goes in and out",
			Symptom: "curl -s 127.0.0.1:9001/healthz   # ok, then unhealthy 10 s later\n" +
				"curl -s 127.0.0.1:8404/api/v1/pools/web/backends/b1   # state_changes keeps growing",
			Break: func(ctx context.Context, e *Env, b *Broken) error {
				return e.setKnobs(ctx, b, "b1", map[string]any{"flap": e.FlapPeriod.String()}, true)
			},
		},
		{
			Name:    "expired-cert",
			Teaches: "the HTTPS frontend serves an expired certificate (from the demo CA, loaded while valid, never renewed): every verifying client refuses the connection",
			Symptom: "curl -s --cacert var/pki/ca.pem https://127.0.0.1:8443/   # certificate has expired\n" +
				"openssl s_client -connect 127.0.0.1:8443 </dev/null 2>/dev/null | openssl x509 -noout -enddate",
			Break: breakCert,
		},
		{
			Name:    "region-down",
			Teaches: "a whole region (the EU lbd, 127.0.10.1) goes away: GeoDNS health checks notice and send European clients to another region",
			Symptom: "curl -s 127.0.10.1:8080/   # connection refused\n" +
				"dig @127.0.0.1 -p 1053 www.example.test +subnet=127.0.10.0/24 +short   # no 127.0.10.1\n" +
				"curl -s '127.0.0.1:9153/api/v1/geo/pools?limit=100'   # 127.0.10.1: available false",
			Flush: true,
			Break: func(ctx context.Context, e *Env, b *Broken) error {
				if err := e.setPart(ctx, b, "lbd-eu", "stopped", false); err != nil {
					return err
				}
				// once GeoDNS has seen it go, answers cached before are flushed
				// (else they name the dead region for their TTL, 20 s)
				if err := e.waitGeo(ctx, "lbd-eu", false); err != nil {
					return err
				}
				if err := e.flush(ctx, ""); err != nil {
					return err
				}
				fmt.Fprintln(e.Out, "  GeoDNS counts 127.0.10.1 down; resolver cache flushed: the fault shows at once")
				return nil
			},
		},
	}, dnssecFaults()...)
}

// rrsetFault changes one record set and flushes the resolver's cache, so
// the fault shows at once rather than when the good answers cached before
// it expire.
func rrsetFault(to RRset) func(context.Context, *Env, *Broken) error {
	return func(ctx context.Context, e *Env, b *Broken) error {
		if err := e.changeRRset(ctx, b, to); err != nil {
			return err
		}
		if err := e.flush(ctx, ""); err != nil {
			return err
		}
		fmt.Fprintln(e.Out, "  resolver cache flushed: the fault shows at once")
		return nil
	}
}

// Lookup finds a fault by name.
func Lookup(name string) (Fault, error) {
	var names []string
	for _, f := range Faults() {
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	return Fault{}, fmt.Errorf("no fault lab %q; there are: %s (netsim break --list says what each teaches)", name, strings.Join(names, ", "))
}
