package server

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"

	"netsim/dns/rrl"
)

// Response Rate Limiting (dns/rrl) on a listener's UDP replies: both ways
// of answering — packed and full — count a reply once, by the same kind
// and name, just before it would be sent. TCP is never limited: its
// source address cannot be spoofed.

// SetRRL installs the listener's rate limiter (nil: none). Safe while serving.
func (h *Handler) SetRRL(l *rrl.Limiter) { h.rrl.Store(l) }

// RRL returns the limiter in force, or nil.
func (h *Handler) RRL() *rrl.Limiter { return h.rrl.Load() }

// classify says which account a reply is counted in (BIND's): answers and
// NODATA by the question's name, referrals by the delegation, NXDOMAIN by
// the zone whose SOA says so, every other rcode in the prefix's one
// account for errors.
func classify(m *dns.Msg) (rrl.Kind, string) {
	qname := ""
	if len(m.Question) > 0 {
		qname = m.Question[0].Name
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
		if len(m.Answer) == 0 && !m.Authoritative {
			for _, rr := range m.Ns {
				if rr.Header().Rrtype == dns.TypeNS {
					return rrl.Referral, rr.Header().Name
				}
			}
		}
		return rrl.Response, qname
	case dns.RcodeNameError:
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeSOA {
				return rrl.NXDomain, rr.Header().Name
			}
		}
		return rrl.NXDomain, qname
	}
	return rrl.Error, ""
}

// limitMsg counts a reply of the full way; it returns false when the
// reply is to be dropped, and makes it a slip (TC, no records) when the
// limiter says so.
func limitMsg(l *rrl.Limiter, resp *dns.Msg, client netip.Addr, cookie bool) bool {
	kind, name := classify(resp)
	var qtype uint16
	if len(resp.Question) > 0 {
		qtype = resp.Question[0].Qtype
	}
	switch act, _ := l.Check(client, kind, name, rrl.Hash(name), qtype, cookie); act {
	case rrl.Drop:
		return false
	case rrl.Slip:
		resp.Truncated = true
		resp.Answer, resp.Ns = nil, nil
		var opt []dns.RR
		for _, rr := range resp.Extra {
			if o, ok := rr.(*dns.OPT); ok {
				bare := *o // the cookie stays, so the client can come back with it
				bare.Option = nil
				for _, e := range o.Option {
					if e.Option() == dns.EDNS0COOKIE {
						bare.Option = append(bare.Option, e)
					}
				}
				opt = append(opt, &bare)
			}
		}
		resp.Extra = opt
	}
	return true
}

// slipWire is the packed way's slip: the header and question of the query
// with QR and TC set, no records, and the reply's OPT with the client's
// cookie when the query had EDNS.
func (h *Handler) slipWire(out, pkt []byte, q *wireQuery, ra bool, cc []byte, client netip.Addr) []byte {
	out = append(out[:0], pkt[:q.qnameEnd+4]...)
	out[2] = 0x80 | 0x02 | byte(q.flags>>8)&0x01 // QR, TC, RD as asked
	out[3] = byte(q.flags) & 0x10                // CD as asked
	if ra {
		out[3] |= 0x80
	}
	binary.BigEndian.PutUint32(out[4:], 1<<16) // QDCOUNT 1, ANCOUNT 0
	binary.BigEndian.PutUint32(out[8:], 0)     // NSCOUNT, ARCOUNT
	if !q.edns {
		return out
	}
	out[11] = 1
	out = append(out, 0, 0, byte(dns.TypeOPT), advertisedUDPSize>>8, advertisedUDPSize&0xFF, 0, 0, 0, 0, 0, 0)
	if q.do {
		out[len(out)-4] = 0x80
	}
	return h.appendCookieOption(out, cc, client)
}

// appendCookieOption adds the COOKIE option (the client cookie cc and a
// new server cookie) to the OPT record that ends out; nothing when cc is nil.
func (h *Handler) appendCookieOption(out, cc []byte, client netip.Addr) []byte {
	if cc == nil {
		return out
	}
	n := len(out)
	out = append(out, 0, dns.EDNS0COOKIE, 0, clientCookieLen+serverCookieLen)
	out = h.cookies.appendCookie(out, cc, client)
	binary.BigEndian.PutUint16(out[n-2:], binary.BigEndian.Uint16(out[n-2:])+uint16(len(out)-n))
	return out
}
