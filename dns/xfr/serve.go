package xfr

import (
	"context"
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"netsim/zones"
)

// Listener is the service as one listener offers it: for the zones that
// listener serves. It implements dns/server's Extension.
type Listener struct {
	s     *Service
	zones map[string]bool
}

// For returns the service for a listener serving origins.
func (s *Service) For(origins []string) *Listener {
	l := &Listener{s: s, zones: map[string]bool{}}
	for _, o := range origins {
		l.zones[dns.CanonicalName(o)] = true
	}
	return l
}

// ServeExt answers an UPDATE, a NOTIFY, or a transfer request (over TCP
// one message per send; over UDP an IXFR gets the SOA alone, RFC 1995
// §2, and the client comes back over TCP).
func (l *Listener) ServeExt(ctx context.Context, pkt []byte, client netip.Addr, tcp bool, send func([]byte) error) {
	s := l.s
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		m := new(dns.Msg)
		m.Id, m.Response, m.Rcode = binary.BigEndian.Uint16(pkt), true, dns.RcodeFormatError
		m.Opcode = int(pkt[2]>>3) & 0xF
		if b, err := m.Pack(); err == nil {
			_ = send(b)
		}
		return
	}
	sig, key, terr := s.keys.Verify(pkt, req)
	origin := ""
	if len(req.Question) == 1 {
		origin = dns.CanonicalName(req.Question[0].Name)
	}
	what := dns.OpcodeToString[req.Opcode]
	if req.Opcode == dns.OpcodeQuery && len(req.Question) == 1 {
		what = dns.TypeToString[req.Question[0].Qtype]
	}
	reply := func(rcode int) {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		b, err := sig.Pack(m)
		if err != nil {
			s.log.Error("packing a reply", zap.String("zone", origin), zap.Error(err))
			return
		}
		_ = send(b)
	}
	if terr != 0 {
		s.log.Warn("TSIG check failed: refused, nothing changed", zap.String("request", what), zap.String("zone", origin),
			zap.Stringer("client", client), zap.String("key", key), zap.String("tsig_error", dns.RcodeToString[int(terr)]))
		s.count(req, what, "notauth")
		reply(dns.RcodeNotAuth)
		return
	}
	if req.Opcode == dns.OpcodeNotify {
		rcode := dns.RcodeNotImplemented // not a zone dnsd follows as a secondary
		if sec := s.secondary; sec != nil && len(req.Question) == 1 {
			var soa *dns.SOA
			if len(req.Answer) > 0 {
				soa, _ = req.Answer[0].(*dns.SOA)
			}
			if rc := sec.notified(origin, client, key, soa); rc >= 0 {
				rcode = rc
			}
		}
		reply(rcode)
		return
	}
	if len(req.Question) != 1 {
		reply(dns.RcodeFormatError)
		return
	}
	z := s.store.Zone(origin)
	if !l.zones[origin] || z == nil {
		s.count(req, what, "notauth")
		reply(dns.RcodeNotAuth) // not a zone this listener is authoritative for
		return
	}
	rules := s.rules[origin]
	switch req.Opcode {
	case dns.OpcodeUpdate:
		rcode := l.update(req, origin, rules, client, key)
		s.metrics.updates.WithLabelValues(rcodeName(rcode)).Inc()
		reply(rcode)
	case dns.OpcodeQuery:
		q := req.Question[0]
		if q.Qtype != dns.TypeAXFR && q.Qtype != dns.TypeIXFR || q.Qclass != dns.ClassINET {
			reply(dns.RcodeRefused)
			return
		}
		if rules == nil || !allowed(rules.acl, client, key) {
			s.log.Warn("zone transfer refused: no allow_transfer rule matches", zap.String("zone", origin), zap.String("request", what),
				zap.Stringer("client", client), zap.String("key", key))
			s.count(req, what, "refused")
			reply(dns.RcodeRefused)
			return
		}
		l.transfer(req, z, tcp, sig, send)
	default:
		reply(dns.RcodeNotImplemented)
	}
}

func (s *Service) count(req *dns.Msg, what, result string) {
	switch req.Opcode {
	case dns.OpcodeUpdate:
		s.metrics.updates.WithLabelValues(result).Inc()
	case dns.OpcodeQuery:
		s.metrics.transfers.WithLabelValues(what, result).Inc()
	}
}

func rcodeName(rc int) string {
	if n, ok := dns.RcodeToString[rc]; ok {
		return n
	}
	return "other"
}

func (l *Listener) update(req *dns.Msg, origin string, rules *zoneRules, client netip.Addr, key string) int {
	s := l.s
	refused := func(rcode int, why string) int {
		s.log.Warn("update refused, nothing changed", zap.String("zone", origin), zap.Stringer("client", client), zap.String("key", key),
			zap.String("rcode", dns.RcodeToString[rcode]), zap.String("why", why), zap.String("update", describe(req.Ns)))
		return rcode
	}
	switch {
	case req.Question[0].Qtype != dns.TypeSOA:
		return refused(dns.RcodeFormatError, "the zone section must ask for the zone's SOA")
	case rules == nil || len(rules.policy) == 0:
		return refused(dns.RcodeRefused, "the zone takes no updates (primary.zones[].update is empty)")
	case key == "":
		return refused(dns.RcodeRefused, "updates must be signed with a TSIG key")
	}
	if err := prescan(origin, req.Ns); err != nil {
		return refused(err.(*rcodeError).rcode, err.Error())
	}
	for _, rr := range req.Ns {
		h := rr.Header()
		if !permits(rules.policy, key, dns.CanonicalName(h.Name), h.Rrtype) {
			return refused(dns.RcodeRefused, "key "+key+" may not change "+h.Name+" "+dns.TypeToString[h.Rrtype])
		}
	}
	rcode, serial, err := s.update(origin, req.Answer, req.Ns)
	if err != nil {
		if rcode == dns.RcodeServerFailure {
			s.log.Error("update failed, nothing changed", zap.String("zone", origin), zap.String("key", key), zap.Error(err))
			return rcode
		}
		return refused(rcode, err.Error())
	}
	if serial != 0 {
		s.log.Info("zone updated", zap.String("zone", origin), zap.Stringer("client", client), zap.String("key", key),
			zap.Uint32("serial", serial), zap.String("update", describe(req.Ns)))
	}
	return rcode
}

func (l *Listener) transfer(req *dns.Msg, z *zones.Zone, tcp bool, sig *Signer, send func([]byte) error) {
	s := l.s
	q := req.Question[0]
	what := dns.TypeToString[q.Qtype]
	st := &stream{req: req, send: func(m *dns.Msg) error {
		b, err := sig.Pack(m)
		if err != nil {
			return err
		}
		return send(b)
	}}
	rrs, signed, err := s.records(z)
	if err != nil {
		s.log.Error("zone transfer refused: signing the zone failed", zap.String("zone", z.Origin), zap.Error(err))
		s.metrics.transfers.WithLabelValues(what, "servfail").Inc()
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		_ = st.send(m)
		return
	}
	result := "axfr"
	switch {
	case q.Qtype == dns.TypeAXFR && !tcp:
		result = "refused"
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused) // RFC 5936 §4.2: AXFR is TCP only
		err = st.send(m)
	case q.Qtype == dns.TypeIXFR:
		have, ok := ixfrSerial(req)
		if !ok {
			result = "formerr"
			m := new(dns.Msg)
			m.SetRcode(req, dns.RcodeFormatError) // RFC 1995 §3: the client's SOA is in authority
			err = st.send(m)
			break
		}
		kind, es := ixfrPlan(z, s.journal(z.Origin), have)
		if signed && kind == ixfrDiffs {
			kind = ixfrFull // the journal has no signatures nor chain: the whole zone (RFC 1995 §4 allows it)
		}
		switch {
		case kind == ixfrUpToDate || !tcp:
			result = "uptodate"
			if kind != ixfrUpToDate {
				result = "udp_soa"
			}
			if err = st.add(z.SOA); err == nil {
				err = st.flush()
			}
		case kind == ixfrDiffs:
			result = "ixfr"
			err = ixfr(st, z, es)
		default:
			err = axfr(st, z, rrs)
		}
	default:
		err = axfr(st, z, rrs)
	}
	s.metrics.transfers.WithLabelValues(what, result).Inc()
	if err != nil {
		s.log.Warn("zone transfer cut short", zap.String("zone", z.Origin), zap.String("request", what), zap.Error(err))
		return
	}
	s.log.Debug("zone transferred", zap.String("zone", z.Origin), zap.String("request", what), zap.String("as", result),
		zap.Uint32("serial", z.SOA.Serial), zap.Int("messages", st.msgs), zap.Int("records", st.rrs))
}

func ixfrSerial(req *dns.Msg) (uint32, bool) {
	if len(req.Ns) != 1 {
		return 0, false
	}
	soa, ok := req.Ns[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

// SignReply signs the reply to a query signed with TSIG (an SOA query of
// nsupdate's, say); a query whose signature fails gets NOTAUTH with the
// TSIG error instead, and the failure is logged.
func (l *Listener) SignReply(pkt []byte, resp *dns.Msg) ([]byte, error) {
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return nil, err
	}
	sig, key, terr := l.s.keys.Verify(pkt, req)
	if terr != 0 {
		l.s.log.Warn("TSIG check failed: refused", zap.String("request", "QUERY"), zap.String("key", key),
			zap.String("tsig_error", dns.RcodeToString[int(terr)]))
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNotAuth)
		return sig.Pack(m)
	}
	return sig.Pack(resp)
}
