package server

import "github.com/miekg/dns"

// truncate fits a UDP reply into size bytes the way RFC 2181 §9 asks:
// additional records are dropped first, from the end, without TC; if the
// answer and authority sections still do not fit, no partial RRset is
// sent — they are emptied and TC tells the client to ask again over TCP.
func truncate(m *dns.Msg, size int) {
	if m.Len() <= size {
		return
	}
	var opt dns.RR
	extra := m.Extra[:0:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opt = rr
		} else {
			extra = append(extra, rr)
		}
	}
	withOPT := func(rrs []dns.RR) []dns.RR {
		if opt != nil {
			return append(rrs[:len(rrs):len(rrs)], opt)
		}
		return rrs
	}
	for len(extra) > 0 {
		extra = extra[:len(extra)-1]
		m.Extra = withOPT(extra)
		if m.Len() <= size {
			return
		}
	}
	m.Truncated = true
	m.Answer, m.Ns = nil, nil
	m.Extra = withOPT(nil)
	if m.Len() > size && opt != nil {
		// the options alone are too big: the reply keeps the OPT header
		// (size, DO, extended rcode) and sheds them, so that it never
		// exceeds what the client can take (RFC 6891 §7)
		bare := *opt.(*dns.OPT)
		bare.Option = nil
		m.Extra = []dns.RR{&bare}
	}
}
