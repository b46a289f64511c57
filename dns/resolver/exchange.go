package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"netsim/dns/ecs"
)

// serverStat is what the resolver remembers about one upstream address:
// smoothed RTT for choosing among servers, consecutive failures for backing
// off from dead ones (Unbound's infra cache does the same), and whether it
// mishandles EDNS.
type serverStat struct {
	addr         netip.AddrPort
	srtt         atomic.Int64 // nanoseconds; 0 = unknown
	fails        atomic.Int32 // consecutive timeouts/errors
	downUntil    atomic.Int64 // unix ns; skip (try last) until then
	noEDNS       atomic.Bool
	noECS        atomic.Bool
	cookie       [8]byte                // our client cookie for this server (cookie.go)
	serverCookie atomic.Pointer[[]byte] // the server cookie it last sent; nil: none yet
	queries      atomic.Uint64
	errors       atomic.Uint64
	lastErr      atomic.Pointer[string]
}

type serverSet struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[netip.AddrPort]*serverStat
}

func newServerSet(now func() time.Time) *serverSet {
	return &serverSet{now: now, m: make(map[netip.AddrPort]*serverStat)}
}

// maxServers bounds the table: addresses learnt from referrals on the
// internet are unbounded; the oldest half is dropped past this.
const maxServers = 10000

func (s *serverSet) get(a netip.AddrPort) *serverStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[a]
	if !ok {
		if len(s.m) >= maxServers {
			i := 0
			for k := range s.m {
				if i%2 == 0 {
					delete(s.m, k)
				}
				i++
			}
		}
		st = &serverStat{addr: a, cookie: newClientCookie()}
		s.m[a] = st
	}
	return st
}

func (s *serverSet) all() []*serverStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*serverStat, 0, len(s.m))
	for _, st := range s.m {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr.String() < out[j].addr.String() })
	return out
}

func (st *serverStat) success(rtt time.Duration) {
	st.fails.Store(0)
	st.downUntil.Store(0)
	old := st.srtt.Load()
	if old == 0 {
		st.srtt.Store(int64(rtt))
		return
	}
	st.srtt.Store(old + (int64(rtt)-old)/8) // RFC 6298 α = 1/8
}

func (st *serverStat) failure(now time.Time, err error) {
	st.errors.Add(1)
	msg := err.Error()
	st.lastErr.Store(&msg)
	n := st.fails.Add(1)
	if n >= 3 {
		// back off exponentially from 1 s up to 60 s
		back := time.Second << min(n-3, 6)
		if back > time.Minute {
			back = time.Minute
		}
		st.downUntil.Store(now.Add(back).UnixNano())
	}
}

func (st *serverStat) down(now time.Time) bool {
	return now.UnixNano() < st.downUntil.Load()
}

// rttBand is Unbound's: servers whose smoothed RTT is within this of the
// fastest are equals, chosen at random, so every server of a zone keeps
// being tried (and a server never asked is not starved by a known one).
const rttBand = 400 * time.Millisecond

// order sorts candidates for trying: the servers not backed off whose RTT
// is within rttBand of the fastest, shuffled; then the slower ones by RTT;
// then the backed-off ones. Unknown servers count as a middling 50 ms.
func (s *serverSet) order(addrs []netip.AddrPort) []netip.AddrPort {
	out := append([]netip.AddrPort(nil), addrs...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	now := s.now()
	type scored struct {
		down  bool
		score int64
	}
	sc := make(map[netip.AddrPort]scored, len(out))
	best := int64(-1)
	for _, a := range out {
		st := s.get(a)
		v := st.srtt.Load()
		if v == 0 {
			v = int64(50 * time.Millisecond)
		}
		d := st.down(now)
		sc[a] = scored{down: d, score: v}
		if !d && (best < 0 || v < best) {
			best = v
		}
	}
	rank := func(a scored) int64 {
		switch {
		case a.down:
			return 1 << 62
		case a.score <= best+int64(rttBand):
			return 0 // in the band: the shuffle decides
		default:
			return a.score
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(sc[out[i]]) < rank(sc[out[j]]) })
	return out
}

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
// DNS when the server rejects EDNS.
func (r *Resolver) exchange(ctx context.Context, st *state, server netip.AddrPort, qname string, qtype uint16, rd bool) (exchangeResult, error) {
	stat := r.servers.get(server)
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
	msg, err := r.exchangeUDP(ctx, server, q)
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
		msg, err = r.exchangeUDP(ctx, server, q)
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
		msg, err = r.exchangeUDP(ctx, server, q)
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
		msg, err = r.exchangeUDP(ctx, server, q)
	}
	if err == nil && msg.Truncated {
		r.m.upstream.WithLabelValues("udp", "truncated").Inc()
		res.transport = "tcp"
		q.Id = uint16(rand.Uint32())
		if err = st.spend(); err != nil {
			return res, err
		}
		msg, err = r.exchangeTCP(ctx, server, q)
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

func (r *Resolver) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(r.cfg.UpstreamTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

var udpBufs = sync.Pool{New: func() any { b := make([]byte, 65535); return &b }}

func (r *Resolver) exchangeUDP(ctx context.Context, server netip.AddrPort, q *dns.Msg) (*dns.Msg, error) {
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
	_ = conn.SetDeadline(r.deadline(ctx))
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

func (r *Resolver) exchangeTCP(ctx context.Context, server netip.AddrPort, q *dns.Msg) (*dns.Msg, error) {
	dctx, cancel := context.WithDeadline(ctx, r.deadline(ctx))
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
	_ = conn.SetDeadline(r.deadline(ctx))
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
