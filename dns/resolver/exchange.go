package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
)

var errTimeout = errors.New("timeout")

// ctxErr is the error of an exchange cut short by ctx: cancelled (Close,
// client gone) stays context.Canceled; a resolution whose time limit ran
// out is a timeout like an upstream's, however loaded the machine is and
// whichever deadline happened to fire first.
func (r *Resolver) ctxErr(ctx context.Context) error {
	return timeoutErr(ctx.Err(), r.cfg.Timeout)
}

// netErr classifies a failed read or write on an upstream connection: the
// resolution's context first (see ctxErr), then a deadline (errTimeout);
// anything else (e.g. ICMP port unreachable) passes through.
func (r *Resolver) netErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return r.ctxErr(ctx)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errTimeout
	}
	return err
}

// timeoutErr turns context.DeadlineExceeded into errTimeout, naming the
// resolution limit; other errors pass through.
func timeoutErr(err error, limit time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errTimeout) {
		return fmt.Errorf("%w: no answer within the resolution limit of %s", errTimeout, limit)
	}
	return err
}

// exchangeResult is one upstream query as the trace reports it.
type exchangeResult struct {
	msg       *dns.Msg
	transport string
	rtt       time.Duration
	edns      bool
	ecs       *dns.EDNS0_SUBNET // sent, if any
	scope     netip.Prefix      // the reply's ECS scope as a cache prefix
}

// exchange sends one question to server with a random ID from a fresh
// socket (random source port), drops replies whose ID or question differ,
// retries over TCP when the reply is truncated, and falls back to plain
// DNS when the server rejects EDNS. It waits for a UDP reply as long as
// the server's RTO (servers.go), or the whole upstream_timeout when
// patient (a last try, after every server failed).
func (r *Resolver) exchange(ctx context.Context, st *state, server netip.AddrPort, qname string, qtype uint16, rd, patient bool) (exchangeResult, error) {
	stat := r.servers.get(server)
	wait := r.cfg.UpstreamTimeout
	if !patient {
		wait = stat.timeout(wait)
	}
	q := new(dns.Msg)
	q.Id = uint16(rand.Uint32())
	q.RecursionDesired = rd
	sentName := qname
	if r.cfg.CaseRandomisation {
		sentName = randomCase(qname)
	}
	q.Question = []dns.Question{{Name: sentName, Qtype: qtype, Qclass: dns.ClassINET}}
	edns := !stat.noEDNS.Load()
	var sent *dns.EDNS0_SUBNET
	if edns {
		q.SetEdns0(uint16(r.cfg.EDNSBufferSize), r.val != nil) // DO: signatures and proofs, to validate
		q.IsEdns0().Option = append(q.IsEdns0().Option, stat.cookieOption())
		if st.ecs != nil && r.sendECS(server, qname) && !stat.noECS.Load() {
			sent = st.ecs
			opt := q.IsEdns0()
			opt.Option = append(opt.Option, sent)
		}
	}
	st.lastScope = netip.Prefix{}
	res := exchangeResult{transport: "udp", edns: edns, ecs: sent}
	start := time.Now()
	if err := st.spend(); err != nil {
		return res, err
	}
	msg, err := r.exchangeUDP(ctx, server, q, wait)
	if err == nil && sent != nil && msg.Rcode == dns.RcodeFormatError && msg.IsEdns0() != nil {
		// RFC 7871 §7.1.3: a server that rejects the option; ask again without
		r.m.upstream.WithLabelValues("udp", "ecs_fallback").Inc()
		stat.noECS.Store(true)
		withoutSubnet(q.IsEdns0())
		sent, res.ecs = nil, nil
		q.Id = uint16(rand.Uint32())
		if err = st.spend(); err != nil {
			return res, err
		}
		msg, err = r.exchangeUDP(ctx, server, q, wait)
	}
	if err == nil && edns && msg.Rcode == dns.RcodeBadCookie && stat.learnCookie(msg) {
		// RFC 7873 §5.3: ask once more with the server cookie just given
		q.Id = uint16(rand.Uint32())
		q.IsEdns0().Option = append(q.IsEdns0().Option[:0:0], stat.cookieOption())
		if sent != nil {
			q.IsEdns0().Option = append(q.IsEdns0().Option, sent)
		}
		if err = st.spend(); err != nil {
			return res, err
		}
		msg, err = r.exchangeUDP(ctx, server, q, wait)
	}
	if err == nil && edns && msg.IsEdns0() == nil &&
		(msg.Rcode == dns.RcodeFormatError || msg.Rcode == dns.RcodeNotImplemented || msg.Rcode == dns.RcodeServerFailure) {
		// RFC 6891 §7: a server that does not understand EDNS; retry plain.
		r.m.upstream.WithLabelValues("udp", "edns_fallback").Inc()
		stat.noEDNS.Store(true)
		q.Extra = nil
		res.edns = false
		sent, res.ecs = nil, nil
		q.Id = uint16(rand.Uint32())
		if err = st.spend(); err != nil {
			return res, err
		}
		msg, err = r.exchangeUDP(ctx, server, q, wait)
	}
	if err == nil && msg.Truncated {
		r.m.upstream.WithLabelValues("udp", "truncated").Inc()
		res.transport = "tcp"
		q.Id = uint16(rand.Uint32())
		if err = st.spend(); err != nil {
			return res, err
		}
		msg, err = r.exchangeTCP(ctx, server, q, r.cfg.UpstreamTimeout)
	}
	res.rtt = time.Since(start)
	stat.queries.Add(1)
	if err != nil {
		kind := "error"
		if errors.Is(err, errTimeout) {
			kind = "timeout"
		}
		r.m.upstream.WithLabelValues(res.transport, kind).Inc()
		if !errors.Is(err, context.Canceled) {
			stat.failure(r.now(), err)
		}
		return res, err
	}
	stat.learnCookie(msg)
	r.m.upstream.WithLabelValues(res.transport, "ok").Inc()
	r.m.upstreamDuration.WithLabelValues(res.transport).Observe(res.rtt.Seconds())
	stat.success(res.rtt)
	uncase(msg, sentName, qname)
	if sent != nil {
		// RFC 7871 §7.3: the reply must echo what was sent; its scope
		// says which network the answer holds for.
		p, err := ecs.CachePrefix(sent, ecs.Find(msg))
		if err != nil {
			r.drop("ecs")
			return res, err
		}
		res.scope = p
		st.lastScope = p
	}
	res.msg = msg
	return res, nil
}

// sendECS says whether a query for qname to server may carry the client's
// subnet: the server is in ecs.send_to and qname not under an excluded zone.
func (r *Resolver) sendECS(server netip.AddrPort, qname string) bool {
	a := server.Addr()
	ok := false
	for _, p := range r.comp.ecsSendTo {
		if p.Contains(a) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, z := range r.comp.ecsExclude {
		if isSub(strings.ToLower(qname), z) {
			return false
		}
	}
	return true
}

// deadline is wait from now, or ctx's deadline if sooner.
func (r *Resolver) deadline(ctx context.Context, wait time.Duration) time.Time {
	d := time.Now().Add(wait)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

var udpBufs = sync.Pool{New: func() any { b := make([]byte, 65535); return &b }}

func (r *Resolver) exchangeUDP(ctx context.Context, server netip.AddrPort, q *dns.Msg, wait time.Duration) (*dns.Msg, error) {
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	conn, err := r.dial(ctx, "udp", server.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(r.deadline(ctx, wait))
	if _, err := conn.Write(wire); err != nil {
		return nil, r.netErr(ctx, err)
	}
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf := *bp
	for {
		n, from, err := readReply(conn, buf)
		if err != nil {
			return nil, r.netErr(ctx, err) // e.g. ICMP port unreachable: connection refused
		}
		if from.IsValid() && !sameAddr(from, server) {
			r.drop("source")
			continue
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			r.drop("malformed")
			continue
		}
		if reason := mismatch(q, m, r.cfg.CaseRandomisation); reason != "" {
			r.drop(reason)
			continue
		}
		return m, nil
	}
}

// mismatch says why m is not the reply to q ("" when it is); with
// exactCase (0x20 on) the question's name must echo q's case too.
func mismatch(q, m *dns.Msg, exactCase bool) string {
	switch {
	case m.Id != q.Id:
		return "id"
	case !m.Response:
		return "not_response"
	case len(m.Question) != 1:
		// a FORMERR/NOTIMP may legitimately carry no question
		if len(m.Question) == 0 && (m.Rcode == dns.RcodeFormatError || m.Rcode == dns.RcodeNotImplemented) {
			return ""
		}
		return "question"
	case m.Question[0].Qtype != q.Question[0].Qtype,
		m.Question[0].Qclass != q.Question[0].Qclass,
		!strings.EqualFold(m.Question[0].Name, q.Question[0].Name):
		return "question"
	case exactCase && !sameCase(q, m):
		return "case"
	}
	return ""
}

func (r *Resolver) exchangeTCP(ctx context.Context, server netip.AddrPort, q *dns.Msg, wait time.Duration) (*dns.Msg, error) {
	dctx, cancel := context.WithDeadline(ctx, r.deadline(ctx, wait))
	defer cancel()
	conn, err := r.dial(dctx, "tcp", server.String())
	if err != nil {
		if ctx.Err() != nil {
			return nil, r.ctxErr(ctx)
		}
		if dctx.Err() != nil {
			return nil, errTimeout
		}
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(r.deadline(ctx, wait))
	co := &dns.Conn{Conn: conn}
	if err := co.WriteMsg(q); err != nil {
		return nil, r.netErr(ctx, err)
	}
	m, err := co.ReadMsg()
	if err != nil {
		if err := r.netErr(ctx, err); errors.Is(err, errTimeout) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("tcp: %w", err)
	}
	if reason := mismatch(q, m, r.cfg.CaseRandomisation); reason != "" {
		r.drop(reason)
		return nil, fmt.Errorf("tcp reply does not match the query (%s)", reason)
	}
	return m, nil
}
