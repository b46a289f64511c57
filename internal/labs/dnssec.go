package labs

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The DNSSEC labs: a chain of trust broken at each of its links — the DS
// at the parent, the signatures, the keys — and a delegation made
// insecure on purpose (which is not an error: the answers lose ad, they
// do not fail).

const (
	dsSymptom = "dig @127.0.2.1 -p 1053 example.test DS +norec   # the DS that test. holds (key tag, digest)\n" +
		"dig @127.0.3.1 -p 1053 example.test DNSKEY +norec +multi   # the keys it should vouch for (; KSK; key id = …)"
	cdSymptom = "dig @127.0.0.1 -p 1053 www.example.test +dnssec +cd   # checking disabled: the data, without ad"
)

func dnssecFaults() []Fault {
	return []Fault{
		{
			Name: "bad-ds",
			Teaches: "the DS that test. holds for example.test. no longer matches example.test.'s key-signing key (a registrar typo, a key rolled without telling the parent): " +
				"the chain of trust from the root breaks there, and validating resolvers give SERVFAIL",
			Symptom: "dig @127.0.0.1 -p 1053 www.example.test +dnssec   # SERVFAIL, EDE 9 (DNSKEY Missing): no DNSKEY matches the DS\n" +
				cdSymptom + "\n" + dsSymptom,
			Flush: true,
			Break: breakDS,
		},
		{
			Name: "expired-signatures",
			Teaches: "example.test.'s signer runs with its clock 30 days behind (NTP broken on the signing host): every signature it makes expired long ago, " +
				"so the data is there but validators refuse it",
			Symptom: "dig @127.0.0.1 -p 1053 www.example.test +dnssec   # SERVFAIL, EDE 7 (Signature Expired)\n" +
				cdSymptom + "\n" +
				"dig @127.0.3.1 -p 1053 www.example.test +dnssec +norec   # RRSIG ... <expiration> <inception>: both in the past\n" +
				"curl -s 127.0.0.1:9153/api/v1/dnssec/zones/example.test.   # clock_offset -720h",
			Flush: true,
			Break: func(ctx context.Context, e *Env, b *Broken) error {
				if err := e.setSignerClock(ctx, b, "example.test.", "-720h"); err != nil {
					return err
				}
				return e.flushed(ctx)
			},
		},
		{
			Name: "missing-dnskey",
			Teaches: "example.test.'s DNSKEY records were deleted from the zone while its data stays signed: the DS at the parent points at a key nobody can fetch, " +
				"and no signature can be checked",
			Symptom: "dig @127.0.0.1 -p 1053 www.example.test +dnssec   # SERVFAIL, EDE 9 (DNSKEY Missing)\n" +
				"dig @127.0.3.1 -p 1053 example.test DNSKEY +dnssec +norec   # NODATA: an NSEC without DNSKEY in its type list\n" +
				cdSymptom,
			Flush: true,
			Break: rrsetFault(RRset{Zone: "example.test.", Name: "@", Type: "DNSKEY"}),
		},
		{
			Name: "unsigned-delegation",
			Teaches: "test. no longer holds a DS for example.test. (the parent was never told of the keys): the delegation is insecure, proved by test.'s signed NSEC, " +
				"so answers still resolve but lose ad — insecure, not bogus",
			Symptom: "dig @127.0.0.1 -p 1053 www.example.test +dnssec   # NOERROR, but no ad flag\n" +
				"dig @127.0.2.1 -p 1053 example.test DS +dnssec +norec   # NODATA: the NSEC of example.test. lists NS, no DS\n" +
				"delv @127.0.0.1 -p 1053 -a var/root.key www.example.test   # unsigned answer",
			Flush: true,
			Break: rrsetFault(RRset{Zone: "test.", Name: "example", Type: "DS"}),
		},
	}
}

// breakDS changes the digest of example.test.'s DS at test.: same key
// tag and algorithm, a digest of no key.
func breakDS(ctx context.Context, e *Env, b *Broken) error {
	cur, err := e.neededRRset(ctx, "test.", "example", "DS", "is dnsd signing (dnssec.enabled)?")
	if err != nil {
		return err
	}
	to := RRset{Zone: "test.", Name: "example", Type: "DS", TTL: cur.TTL}
	for _, d := range cur.Data {
		f := strings.Fields(d)
		if len(f) < 4 {
			return fmt.Errorf("DS %q: want key tag, algorithm, digest type and digest", d)
		}
		f[3] = strings.Repeat("BAD0", len(strings.Join(f[3:], ""))/4)
		to.Data = append(to.Data, strings.Join(f[:4], " "))
	}
	return rrsetFault(to)(ctx, e, b)
}

// setSignerClock moves a zone's signer clock through dnsd's DNSSEC API,
// recording how to put it back.
func (e *Env) setSignerClock(ctx context.Context, b *Broken, zone, offset string) error {
	var was struct {
		ClockOffset string `json:"clock_offset"`
	}
	u := e.dnsURL("/api/v1/dnssec/zones/" + url.PathEscape(zone))
	if err := e.call(ctx, http.MethodGet, u, "", nil, &was); err != nil {
		return fmt.Errorf("%w (is dnsd signing %s? dnssec.enabled)", err, zone)
	}
	if err := e.patchSignerClock(ctx, zone, offset); err != nil {
		return err
	}
	b.Undo = append(b.Undo, Step{Signer: &SignerClock{Zone: zone, ClockOffset: was.ClockOffset}})
	fmt.Fprintf(e.Out, "  %s signer clock: %s -> %s\n", zone, was.ClockOffset, offset)
	return nil
}

func (e *Env) patchSignerClock(ctx context.Context, zone, offset string) error {
	u := e.dnsURL("/api/v1/dnssec/zones/" + url.PathEscape(zone))
	return e.call(ctx, http.MethodPatch, u, e.DNSToken, map[string]string{"clock_offset": offset}, nil)
}

// flushed flushes the resolver's cache and says so.
func (e *Env) flushed(ctx context.Context) error {
	if err := e.flush(ctx, ""); err != nil {
		return err
	}
	fmt.Fprintln(e.Out, "  resolver cache flushed: the fault shows at once")
	return nil
}
