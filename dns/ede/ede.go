// Package ede carries Extended DNS Errors (RFC 8914) from an answer
// source to the server that sends the reply. A source (the zones, the
// recursor) has no OPT record of its own to write to — the server owns
// the reply's OPT — so it attaches the error to the reply with Set, as an
// OPT holding nothing else, and the server moves it into its own OPT with
// Take (or drops it when the query had no EDNS: RFC 6891 §7 allows no OPT
// in a reply to a query without one).
package ede

import "github.com/miekg/dns"

// Codes dnsd sends (RFC 8914 §4).
const (
	StaleAnswer          = dns.ExtendedErrorCodeStaleAnswer          // 3
	CachedError          = dns.ExtendedErrorCodeCachedError          // 13
	Prohibited           = dns.ExtendedErrorCodeProhibited           // 18
	StaleNXDomainAnswer  = dns.ExtendedErrorCodeStaleNXDOMAINAnswer  // 19
	NotAuthoritative     = dns.ExtendedErrorCodeNotAuthoritative     // 20
	NotSupported         = dns.ExtendedErrorCodeNotSupported         // 21
	NoReachableAuthority = dns.ExtendedErrorCodeNoReachableAuthority // 22
	NetworkError         = dns.ExtendedErrorCodeNetworkError         // 23
	InvalidData          = dns.ExtendedErrorCodeInvalidData          // 24: a secondary's zone expired or not yet transferred
)

// maxText bounds EXTRA-TEXT, so that an error naming servers cannot push
// a reply past a client's UDP size by itself.
const maxText = 200

// Shorten bounds text to maxText bytes. A longer one keeps its start (the
// zone and server asked first) and its end (a wrapped error's root cause,
// such as "referral loop: ..."), joined by "...".
func Shorten(text string) string {
	if len(text) <= maxText {
		return text
	}
	const head = (maxText - 3) / 2
	return text[:head] + "..." + text[len(text)-(maxText-3-head):]
}

// Set attaches an Extended DNS Error to m (in an OPT record at the end of
// its additional section, created when m has none); text is Shorten'ed.
func Set(m *dns.Msg, code uint16, text string) {
	text = Shorten(text)
	e := &dns.EDNS0_EDE{InfoCode: code, ExtraText: text}
	if opt := m.IsEdns0(); opt != nil {
		opt.Option = append(opt.Option, e)
		return
	}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.Option = []dns.EDNS0{e}
	m.Extra = append(m.Extra, opt)
}

// Take removes every OPT record from m's additional section and returns
// the Extended DNS Errors they held.
func Take(m *dns.Msg) []dns.EDNS0 {
	var out []dns.EDNS0
	keep := m.Extra[:0]
	found := false
	for _, rr := range m.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			keep = append(keep, rr)
			continue
		}
		found = true
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e)
			}
		}
	}
	if found {
		clear(m.Extra[len(keep):])
		m.Extra = keep
	}
	return out
}

// Find returns the first Extended DNS Error of m, or nil.
func Find(m *dns.Msg) *dns.EDNS0_EDE {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}
