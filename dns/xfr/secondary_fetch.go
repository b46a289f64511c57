package xfr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/zones"
)

// upstream is how a secondary talks to its primaries: a seam, so the
// timer tests run without a network.
type upstream interface {
	// serial asks primary for the zone's SOA serial.
	serial(ctx context.Context, primary string, f *follow) (uint32, error)
	// transfer fetches the zone from primary: by IXFR from have when
	// there is a copy, falling back to AXFR when the primary refuses
	// IXFR or its answer does not apply; by AXFR otherwise. It returns
	// the new zone (have itself when the primary has nothing newer) and
	// how it came: "ixfr", "axfr" (answered as asked) or "ixfr-axfr" (an
	// IXFR answered with the whole zone, RFC 1995 §4: the primary's
	// journal did not reach back to have).
	transfer(ctx context.Context, primary string, f *follow, have *zones.Zone) (*zones.Zone, string, error)
}

// netUpstream is the upstream over the network: SOA over UDP (TCP when
// truncated), transfers over TCP, all signed with the zone's key.
type netUpstream struct {
	keys    *Keyring
	timeout time.Duration
	log     *zap.Logger
}

func (u *netUpstream) sign(m *dns.Msg, f *follow) map[string]string {
	if f.key == "" {
		return nil
	}
	if m.IsTsig() != nil { // signed before (UDP, then TCP): signed afresh
		m.Extra = m.Extra[:len(m.Extra)-1]
	}
	m.SetTsig(f.key, dns.HmacSHA256, 300, u.keys.now().Unix())
	return map[string]string{f.key: u.keys.secrets[f.key]}
}

func (u *netUpstream) serial(ctx context.Context, primary string, f *follow) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(f.origin, dns.TypeSOA)
	m.RecursionDesired = false
	r, err := u.exchange(ctx, "udp", m, primary, f)
	if err == nil && r.Truncated {
		r, err = u.exchange(ctx, "tcp", m, primary, f)
	}
	if err != nil {
		return 0, fmt.Errorf("SOA query for %s to %s: %w", f.origin, primary, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return 0, fmt.Errorf("SOA query for %s to %s: answered %s, want NOERROR", f.origin, primary, dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && dns.CanonicalName(soa.Hdr.Name) == f.origin {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("SOA query for %s to %s: no SOA of the zone in the answer (authoritative: %v)", f.origin, primary, r.Authoritative)
}

// exchange sends m and reads the reply; cancelling ctx ends the wait.
func (u *netUpstream) exchange(ctx context.Context, network string, m *dns.Msg, primary string, f *follow) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: u.timeout}
	c.TsigSecret = u.sign(m, f)
	conn, err := c.DialContext(ctx, primary)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return r, err
}

func (u *netUpstream) transfer(ctx context.Context, primary string, f *follow, have *zones.Zone) (*zones.Zone, string, error) {
	if have != nil {
		nz, how, err := u.ixfr(ctx, primary, f, have)
		if err == nil {
			return nz, how, nil
		}
		if ctx.Err() != nil {
			return nil, "", err
		}
		u.log.Info("IXFR failed; falling back to AXFR", zap.String("zone", f.origin), zap.String("primary", primary), zap.Error(err))
	}
	m := new(dns.Msg)
	m.SetAxfr(f.origin)
	rrs, err := u.run(ctx, primary, f, m)
	if err != nil {
		return nil, "", fmt.Errorf("AXFR of %s from %s: %w", f.origin, primary, err)
	}
	nz, err := fromRecords(f, rrs[:len(rrs)-1])
	if err != nil {
		return nil, "", fmt.Errorf("AXFR of %s from %s: %w", f.origin, primary, err)
	}
	return nz, "axfr", nil
}

// ixfr asks for the changes since have (RFC 1995) and applies them.
func (u *netUpstream) ixfr(ctx context.Context, primary string, f *follow, have *zones.Zone) (*zones.Zone, string, error) {
	m := new(dns.Msg)
	m.SetIxfr(f.origin, have.SOA.Serial, have.SOA.Ns, have.SOA.Mbox)
	rrs, err := u.run(ctx, primary, f, m)
	if err != nil {
		return nil, "", fmt.Errorf("IXFR of %s from %s: %w", f.origin, primary, err)
	}
	nz, how, err := applyIXFR(f, have, rrs)
	if err != nil {
		return nil, "", fmt.Errorf("IXFR of %s from %s: %w", f.origin, primary, err)
	}
	return nz, how, nil
}

// run sends a transfer request over TCP and gathers the records of the
// answer; it checks that they start with the zone's SOA and, but for an
// IXFR answered with the SOA alone, end with it.
func (u *netUpstream) run(ctx context.Context, primary string, f *follow, m *dns.Msg) ([]dns.RR, error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", primary)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() }) // cancellation ends a blocked read
	defer stop()
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: c}, ReadTimeout: u.timeout, WriteTimeout: u.timeout}
	tr.TsigSecret = u.sign(m, f)
	ch, err := tr.In(m, primary)
	if err != nil {
		c.Close()
		return nil, err
	}
	var rrs []dns.RR
	var first error
	for env := range ch { // drained to the end: the reader closes it
		if env.Error != nil && first == nil {
			first = env.Error // an error rcode (REFUSED, NOTIMP…) too
		}
		if first == nil {
			rrs = append(rrs, env.RR...)
		}
	}
	if first != nil {
		return nil, first
	}
	if len(rrs) == 0 {
		return nil, errors.New("empty answer")
	}
	soa, ok := rrs[0].(*dns.SOA)
	if !ok || dns.CanonicalName(soa.Hdr.Name) != f.origin {
		return nil, fmt.Errorf("the answer starts with %s, want the SOA of %s", rrs[0].Header().Name, f.origin)
	}
	if len(rrs) > 1 {
		last, ok := rrs[len(rrs)-1].(*dns.SOA)
		if !ok || last.Serial != soa.Serial {
			return nil, errors.New("the answer does not end with the zone's SOA: cut short")
		}
	}
	return rrs, nil
}

// applyIXFR turns an IXFR answer into the new zone: the SOA alone (have
// is current), a list of changes (RFC 1995 §4: old SOA, deletions, new
// SOA, additions), or the whole zone as AXFR sends it.
func applyIXFR(f *follow, have *zones.Zone, rrs []dns.RR) (*zones.Zone, string, error) {
	cur := rrs[0].(*dns.SOA)
	if len(rrs) == 1 {
		return have, "uptodate", nil
	}
	if len(rrs) < 3 {
		return nil, "", fmt.Errorf("%d records: too few for a transfer", len(rrs))
	}
	if _, ok := rrs[1].(*dns.SOA); !ok {
		nz, err := fromRecords(f, rrs[:len(rrs)-1])
		return nz, "ixfr-axfr", err
	}
	z := have
	i := 1
	for i < len(rrs)-1 {
		old, ok := rrs[i].(*dns.SOA)
		if !ok || old.Serial != z.SOA.Serial {
			return nil, "", fmt.Errorf("a change from serial %s does not follow serial %d", rrs[i].String(), z.SOA.Serial)
		}
		i++
		var del, add []dns.RR
		for ; i < len(rrs) && rrs[i].Header().Rrtype != dns.TypeSOA; i++ {
			del = append(del, rrs[i])
		}
		if i >= len(rrs)-1 {
			return nil, "", errors.New("a change without its new SOA")
		}
		nsoa := rrs[i].(*dns.SOA)
		i++
		for ; i < len(rrs)-1 && rrs[i].Header().Rrtype != dns.TypeSOA; i++ {
			add = append(add, rrs[i])
		}
		nz, err := z.Patch(del, add, nsoa)
		if err != nil {
			return nil, "", err
		}
		z = nz
	}
	if z.SOA.Serial != cur.Serial {
		return nil, "", fmt.Errorf("the changes end at serial %d, want %d", z.SOA.Serial, cur.Serial)
	}
	z.File = f.file
	return z, "ixfr", nil
}

// fromRecords builds the zone from a transfer's records (the closing SOA
// left out), checked as a zone file is at load.
func fromRecords(f *follow, rrs []dns.RR) (*zones.Zone, error) {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	z, err := zones.Parse(strings.NewReader(b.String()), f.origin, f.file, false)
	if err != nil {
		return nil, err
	}
	return z, nil
}
