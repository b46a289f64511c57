package resolver

import (
	"math/rand/v2"
	"net"
	"net/netip"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// Replies that are not the answer to the query they arrive for: forged
// or misdirected (wrong ID, question, source address or 0x20 case). They
// are dropped and counted; past unwanted_reply_threshold of them the cache
// is flushed, as Unbound does, in case a forgery got through.

// unwantedReasons are the drop reasons that count as unwanted replies
// (a malformed packet or an ECS mismatch is a broken server, not a forger).
var unwantedReasons = map[string]bool{"id": true, "question": true, "source": true, "case": true}

// drop counts a reply dropped for reason and takes the defensive action
// when unwanted replies reach the threshold.
func (r *Resolver) drop(reason string) {
	r.m.dropped.WithLabelValues(reason).Inc()
	if !unwantedReasons[reason] {
		return
	}
	r.m.unwanted.Inc()
	limit := int64(r.cfg.UnwantedReplyThreshold)
	if limit <= 0 {
		return
	}
	if r.unwanted.Add(1) != limit {
		return
	}
	r.unwanted.Add(-limit)
	n := r.cache.Flush()
	r.forgetFailures("")
	r.m.unwantedFlushes.Inc()
	r.log.Warn("unwanted upstream replies reached the threshold: cache flushed (possible poisoning attempt)",
		zap.Int64("unwanted_reply_threshold", limit), zap.Int("entries_flushed", n))
}

// readReply reads one datagram and says where it came from, when the
// connection can tell (a net.PacketConn; a connected UDP socket reports
// its peer). from is invalid when it cannot.
func readReply(conn net.Conn, buf []byte) (n int, from netip.AddrPort, err error) {
	if uc, ok := conn.(*net.UDPConn); ok { // without allocating an address
		n, from, err = uc.ReadFromUDPAddrPort(buf)
		return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
	}
	pc, ok := conn.(net.PacketConn)
	if !ok {
		n, err = conn.Read(buf)
		return n, netip.AddrPort{}, err
	}
	n, addr, err := pc.ReadFrom(buf)
	if ua, ok := addr.(*net.UDPAddr); ok {
		from = ua.AddrPort()
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	return n, from, err
}

// sameAddr compares a datagram's source with the server asked, ignoring
// an IPv6 zone only one side may carry.
func sameAddr(from, server netip.AddrPort) bool {
	return from.Port() == server.Port() && from.Addr().WithZone("") == server.Addr().WithZone("")
}

// randomCase returns name with each ASCII letter's case chosen at random
// (dns0x20). Escapes such as \065 are digits and keep their meaning.
func randomCase(name string) string {
	b := []byte(name)
	bits := rand.Uint64()
	for i, c := range b {
		if i%64 == 0 && i > 0 {
			bits = rand.Uint64()
		}
		if ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') && bits&(1<<(i%64)) != 0 {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}

// uncase undoes the random case in a reply that passed the check: a
// server that compresses names points into the question, so every name
// sharing a suffix with it comes back in the random case. Such suffixes
// are put back as sent before randomisation (orig), in owner names and in
// the names inside the records that can be compressed.
func uncase(m *dns.Msg, sent, orig string) {
	if sent == orig {
		return
	}
	fix := func(n *string) { *n = restoreSuffix(*n, sent, orig) }
	for i := range m.Question {
		fix(&m.Question[i].Name)
	}
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			fix(&rr.Header().Name)
			switch v := rr.(type) {
			case *dns.CNAME:
				fix(&v.Target)
			case *dns.DNAME:
				fix(&v.Target)
			case *dns.NS:
				fix(&v.Ns)
			case *dns.PTR:
				fix(&v.Ptr)
			case *dns.MX:
				fix(&v.Mx)
			case *dns.SRV:
				fix(&v.Target)
			case *dns.SOA:
				fix(&v.Ns)
				fix(&v.Mbox)
			}
		}
	}
}

// restoreSuffix replaces the longest whole-label suffix of n that is
// byte-for-byte a suffix of sent with the same suffix of orig (sent and
// orig differ only in case, so they have the same length).
func restoreSuffix(n, sent, orig string) string {
	i, j := len(n), len(sent)
	for i > 0 && j > 0 && n[i-1] == sent[j-1] {
		i--
		j--
	}
	for j < len(sent) && !((j == 0 || sent[j-1] == '.') && (i == 0 || n[i-1] == '.')) {
		i++
		j++
	}
	if j >= len(sent) || n[i:] == orig[j:] {
		return n
	}
	return n[:i] + orig[j:]
}

// sameCase reports whether the reply's question echoes the case sent.
func sameCase(q, m *dns.Msg) bool {
	return len(m.Question) == 0 || m.Question[0].Name == q.Question[0].Name
}
