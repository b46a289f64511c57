package resolver

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/miekg/dns"

	"netsim/dns/dnssec"
	"netsim/dns/ede"
)

// Extended DNS Errors (RFC 8914) on the replies that report a failure or
// a stale answer: dns/ede attaches them and dns/server moves them into
// its OPT, where dig shows them ("; EDE: 22 (No Reachable Authority): …").

// failureEDE explains a resolution that ended in SERVFAIL: every server
// timed out or answered nothing usable (No Reachable Authority), a
// network error such as ICMP port unreachable (Network Error), anything
// else (limits, loops) as Other; the text is the error, which names the
// zone and the server.
func failureEDE(resp *dns.Msg, err error) {
	ede.Set(resp, failureCode(err), err.Error())
}

func failureCode(err error) uint16 {
	var op *net.OpError
	var errno syscall.Errno
	if b, ok := dnssec.IsBogus(err); ok {
		return b.Code // DNSSEC Bogus, Signature Expired, DNSKEY Missing...
	}
	switch {
	case errors.Is(err, ErrCNAMELoop), errors.Is(err, ErrReferralLoop):
		return dns.ExtendedErrorCodeOther // a loop is no server's fault, though every server of the zone was tried
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded):
		return ede.NoReachableAuthority
	case errors.As(err, &op), errors.As(err, &errno):
		return ede.NetworkError
	case errors.Is(err, ErrNoServers):
		return ede.NoReachableAuthority // lame, SERVFAIL or REFUSED from every server
	}
	return dns.ExtendedErrorCodeOther
}

// staleEDE marks a stale answer (RFC 8767 §6, RFC 8914 §4.4 and §4.20)
// with why it was served.
func staleEDE(resp *dns.Msg, why string) {
	code := ede.StaleAnswer
	if resp.Rcode == dns.RcodeNameError {
		code = ede.StaleNXDomainAnswer
	}
	ede.Set(resp, code, why)
}
