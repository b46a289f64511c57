package xfr

import (
	"github.com/miekg/dns"

	"netsim/zones"
)

// msgBudget is about how many bytes of records go in one transfer
// message (a TCP message may hold 64 KiB; smaller ones let a secondary
// start parsing sooner, as Knot and BIND send ~16 KiB).
const msgBudget = 16 << 10

// stream cuts a record sequence into transfer messages, each a reply to
// req, and hands each to send.
type stream struct {
	req  *dns.Msg
	send func(*dns.Msg) error
	cur  *dns.Msg
	size int
	msgs int
	rrs  int
}

func (s *stream) add(rr dns.RR) error {
	if s.cur == nil {
		s.cur = new(dns.Msg)
		s.cur.SetReply(s.req)
		s.cur.Authoritative = true
		if s.msgs > 0 {
			s.cur.Question = nil // RFC 5936 §2.2: only the first message must carry it
		}
	}
	s.cur.Answer = append(s.cur.Answer, rr)
	s.rrs++
	if s.size += dns.Len(rr); s.size >= msgBudget {
		return s.flush()
	}
	return nil
}

func (s *stream) flush() error {
	if s.cur == nil {
		return nil
	}
	m := s.cur
	s.cur, s.size = nil, 0
	s.msgs++
	m.Compress = true
	return s.send(m)
}

// axfr streams the whole zone: the SOA, every other record (rrs: the
// zone's records, or those of the zone signed whole), the SOA again (RFC
// 5936 §2.2).
func axfr(s *stream, z *zones.Zone, rrs []dns.RR) error {
	if err := s.add(z.SOA); err != nil {
		return err
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			continue
		}
		if err := s.add(rr); err != nil {
			return err
		}
	}
	if err := s.add(z.SOA); err != nil {
		return err
	}
	return s.flush()
}

// ixfrKind says what an IXFR request gets.
type ixfrKind int

const (
	ixfrUpToDate ixfrKind = iota // the client has the current serial (or a later one): the SOA alone
	ixfrDiffs                    // the journal reaches back to the client's serial
	ixfrFull                     // it does not: the whole zone, AXFR-style (RFC 1995 §4)
)

// ixfrPlan decides, for a client at serial have.
func ixfrPlan(z *zones.Zone, j *Journal, have uint32) (ixfrKind, []Entry) {
	if have == z.SOA.Serial || zones.SerialLess(z.SOA.Serial, have) {
		return ixfrUpToDate, nil
	}
	if j != nil {
		if es, ok := j.Since(have); ok && es[len(es)-1].New.Serial == z.SOA.Serial {
			return ixfrDiffs, es
		}
	}
	return ixfrFull, nil
}

// ixfr streams the changes since the client's serial (RFC 1995 §4): the
// current SOA, then per change the old SOA, deletions, new SOA,
// additions; the current SOA closes it.
func ixfr(s *stream, z *zones.Zone, es []Entry) error {
	if err := s.add(z.SOA); err != nil {
		return err
	}
	for _, e := range es {
		for _, group := range [][]dns.RR{{e.Old}, e.Del, {e.New}, e.Add} {
			for _, rr := range group {
				if err := s.add(rr); err != nil {
					return err
				}
			}
		}
	}
	if err := s.add(z.SOA); err != nil {
		return err
	}
	return s.flush()
}

// ZoneSigner returns what a transfer of a zone signed here carries: its
// records with their RRSIGs and the full NSEC (or NSEC3) chain, built
// once per zone version (dnssec.Signer.SignZone). signed is false for a
// zone not signed here: it goes out as it is.
type ZoneSigner func(z *zones.Zone) (rrs []dns.RR, signed bool, err error)

// SignZonesWith makes transfers carry signed zones whole; set before the
// listeners start.
func (s *Service) SignZonesWith(f ZoneSigner) { s.signer = f }

// records is what a transfer of z carries, and whether z is signed.
func (s *Service) records(z *zones.Zone) ([]dns.RR, bool, error) {
	if s.signer != nil {
		if rrs, signed, err := s.signer(z); err != nil || signed {
			return rrs, signed, err
		}
	}
	return z.Records(), false, nil
}
