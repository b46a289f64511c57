package server

import (
	"context"
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
	"netsim/dns/ede"
	"netsim/dns/rrset"
)

// serve decodes and validates the query, then has it answered; size is
// the UDP payload limit for the reply. With block false, a query that
// needs a resolution comes back pending. Everything an answer source may
// rely on is checked here, once: the header, one question, the EDNS
// record and its options.
func (h *Handler) serve(ctx context.Context, pkt []byte, client netip.Addr, proto Protocol, block bool, qi *queryInfo) (resp *dns.Msg, size int, pending bool) {
	if len(pkt) < headerLen {
		return nil, 0, false
	}
	id := binary.BigEndian.Uint16(pkt)
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&(1<<15) != 0 { // QR: a response, never answer it
		return nil, 0, false
	}
	opcode := int(flags>>11) & 0xF
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return errorReply(id, opcode, dns.RcodeFormatError), dns.MinMsgSize, false
	}
	if opcode != dns.OpcodeQuery {
		r := errorReply(id, opcode, dns.RcodeNotImplemented)
		if len(req.Question) == 1 {
			r.Question = req.Question
		}
		return r, dns.MinMsgSize, false
	}
	// an IXFR request carries the client's SOA in authority (RFC 1995 §3):
	// well-formed, refused below like every transfer
	ixfr := len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeIXFR && len(req.Ns) == 1
	if len(req.Question) != 1 || len(req.Answer) > 0 || (len(req.Ns) > 0 && !ixfr) {
		return errorReply(id, opcode, dns.RcodeFormatError), dns.MinMsgSize, false
	}
	resp = new(dns.Msg)
	resp.SetReply(req) // copies RD and CD

	size = dns.MinMsgSize
	var ropt *dns.OPT
	if opt := req.IsEdns0(); opt != nil {
		if len(req.Extra) > 1 && rrset.Count(req.Extra, dns.TypeOPT) > 1 || opt.Hdr.Name != "." {
			// two OPTs, or one not owned by the root (RFC 6891 §6.1.1-2)
			return formerrWithQuestion(resp), dns.MinMsgSize, false
		}
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		ropt = new(dns.OPT)
		ropt.Hdr.Name = "."
		ropt.Hdr.Rrtype = dns.TypeOPT
		ropt.SetUDPSize(advertisedUDPSize)
		ropt.SetDo(opt.Do()) // RFC 3225 §3: copy DO
		if rcode := h.checkOptions(opt, ropt, client, qi); rcode != dns.RcodeSuccess {
			resp.Rcode = rcode
			resp.Extra = []dns.RR{ropt}
			return resp, size, false
		}
	}
	by := h.answer(ctx, req, resp, client, ropt, block, qi)
	if by == notYet {
		return nil, 0, true
	}
	// Extended DNS Errors the answer source attached (dns/ede) go into our
	// OPT, or nowhere when the query had none
	if errs := ede.Take(resp); ropt != nil {
		ropt.Option = append(ropt.Option, errs...)
	}
	if ropt != nil {
		if by == bySelf {
			echoSubnet(req, ropt)
		}
		resp.Extra = append(resp.Extra, ropt)
	}
	return resp, size, false
}

// checkOptions validates the query's EDNS version and options and puts
// the options that the reply carries whatever the answer (the COOKIE)
// into ropt. It returns the rcode of a reply that goes no further, or
// RcodeSuccess.
func (h *Handler) checkOptions(opt, ropt *dns.OPT, client netip.Addr, qi *queryInfo) int {
	if opt.Version() != 0 {
		return dns.RcodeBadVers // RFC 6891 §6.1.3
	}
	var cookie *dns.EDNS0_COOKIE
	for _, o := range opt.Option {
		switch o := o.(type) {
		case *dns.EDNS0_COOKIE:
			if cookie != nil {
				// RFC 7873 §5.2: more than one COOKIE option is FORMERR
				// (and one server cookie per reply, however many were sent)
				return dns.RcodeFormatError
			}
			cookie = o
		case *dns.EDNS0_SUBNET:
			if _, err := ecs.Parse(o); err != nil {
				return dns.RcodeFormatError // RFC 7871 §7.1.2
			}
		}
	}
	if cookie != nil {
		v, cc := h.cookies.check(cookie, client)
		if v == cookieMalformed {
			return dns.RcodeFormatError // RFC 7873 §5.2.2
		}
		qi.cookie = v == cookieValid
		ropt.Option = append(ropt.Option, h.cookies.make(cc, client))
	}
	return dns.RcodeSuccess
}

func errorReply(id uint16, opcode, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id, m.Response, m.Opcode, m.Rcode = id, true, opcode, rcode
	return m
}

func formerrWithQuestion(resp *dns.Msg) *dns.Msg {
	resp.Rcode = dns.RcodeFormatError
	resp.Answer, resp.Ns, resp.Extra = nil, nil, nil
	return resp
}

// overloaded is the reply to a query that needs a resolution when the
// listener has max_resolutions in flight already: SERVFAIL with the
// question, and an Extended DNS Error saying why when the query had EDNS.
func (h *Handler) overloaded(pkt, out []byte) []byte {
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil || len(req.Question) != 1 {
		return nil
	}
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	resp.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(advertisedUDPSize, opt.Do())
		resp.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther,
			ExtraText: h.Name + " has its maximum of resolutions in flight (max_resolutions)"}}
	}
	b, err := resp.PackBuffer(out[:cap(out)])
	if err != nil {
		return nil
	}
	return b
}
