package resolver

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	"github.com/miekg/dns"
)

// DNS cookies upstream (RFC 7873 §5.1), as BIND and Unbound send them:
// every query with EDNS carries a client cookie of our own for that
// server and the server cookie it last gave us. A server that knows its
// cookie knows the query is not spoofed; dnsd's rate limiting (dns/rrl)
// never limits such a client, so netsim's resolver is not throttled by its
// own authoritative servers.

// newClientCookie is the client cookie for one server: random, kept as
// long as the server's entry (RFC 7873 §4.1 asks for one per server that
// an observer cannot guess).
func newClientCookie() (c [8]byte) {
	binary.LittleEndian.PutUint64(c[:], rand.Uint64())
	return c
}

// cookieOption is the COOKIE option for a query to st.
func (st *serverStat) cookieOption() *dns.EDNS0_COOKIE {
	b := st.cookie[:]
	if sc := st.serverCookie.Load(); sc != nil {
		b = append(append(make([]byte, 0, 8+len(*sc)), b...), *sc...)
	}
	return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(b)}
}

// learnCookie keeps the server cookie of a reply that echoes our client
// cookie; it reports whether the reply carried one.
func (st *serverStat) learnCookie(m *dns.Msg) bool {
	opt := m.IsEdns0()
	if opt == nil {
		return false
	}
	for _, o := range opt.Option {
		c, ok := o.(*dns.EDNS0_COOKIE)
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(c.Cookie)
		// RFC 7873 §5.3: a server cookie is 8 to 32 bytes, after ours
		if err != nil || len(raw) < 16 || len(raw) > 40 || !bytes.Equal(raw[:8], st.cookie[:]) {
			return false
		}
		sc := raw[8:]
		st.serverCookie.Store(&sc)
		return true
	}
	return false
}

// withoutSubnet drops the Client Subnet option from opt, keeping the others
// (the cookie).
func withoutSubnet(opt *dns.OPT) {
	keep := opt.Option[:0]
	for _, o := range opt.Option {
		if _, ok := o.(*dns.EDNS0_SUBNET); !ok {
			keep = append(keep, o)
		}
	}
	opt.Option = keep
}
